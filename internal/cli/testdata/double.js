// Doubles every number in state.data.values (language-common).
fn(state => ({ ...state, data: { values: state.data.values.map(v => v * 2) } }));
