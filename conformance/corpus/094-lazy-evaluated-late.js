// profile: lightning
// $ is evaluated when the operation runs, after earlier operations changed state (§1.4, §2.2)
fn(state => ({ ...state, data: { items: [5, 6] } }));
each($.data.items, fn(state => ({ ...state, seen: [...(state.seen || []), state.data] })));
