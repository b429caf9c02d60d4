// compat: both
fn(state => ({ ...state, greeting: 'hello ' + state.data.name }));
