// profile: lightning
// map 3.x accepts an array directly (§4.3 map)
map(['x', 'y'], (v, i) => v + i);
