// profile: lightning
// map 3.x awaits async callbacks in order (§4.3 map)
map('$.data.nums[*]', async n => n * n);
