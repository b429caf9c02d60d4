// profile: both
// each accepts an array directly (§4.3 each, asData)
each([{ n: 1 }, { n: 2 }], fn(state => ({ ...state, total: (state.total || 0) + state.data.n })));
