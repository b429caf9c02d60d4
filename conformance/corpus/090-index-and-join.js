// profile: both
// index() reads state.index; join adds a key from sourcePath to each item (§4.3 index, join)
fn(state => ({ ...state, idx: index()(state), joined: join('$.data.items[*]', '$.data.parent', 'parent')(state) }));
