// profile: lightning
// each($.data.items, ...) — $ becomes a state => reference (§1.4)
each($.data.items, fn(state => ({ ...state, doubled: [...(state.doubled || []), state.data * 2] })));
