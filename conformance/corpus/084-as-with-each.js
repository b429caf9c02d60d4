// profile: lightning
// as around map: results land in state[key], data kept (§4.3 as, map)
as('squares', map('$.data.nums[*]', n => n * n));
