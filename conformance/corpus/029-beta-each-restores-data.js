// profile: lightning
// beta.each restores data to its value before the loop (§4.3 beta.each)
beta.each('$.data.items[*]', fn(state => ({ ...state, count: (state.count || 0) + 1 })));
