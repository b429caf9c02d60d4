fnIf($.data.go, fn(s => ({ ...s, went: true })));
fn(state => ({ ...state, copy: state.data.value }));
each($.data.items, fn(s => ({ ...s, total: (s.total || 0) + s.data })));
