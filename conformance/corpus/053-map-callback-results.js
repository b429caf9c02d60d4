// profile: lightning
// map 3.x: data becomes the array of callback results (callback gets item, index, state) (§4.3 map)
map('$.data.items[*]', (item, i, state) => ({ id: item.id, i, total: state.data.items.length }));
