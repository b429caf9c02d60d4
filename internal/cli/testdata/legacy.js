fn(state => { total = state.data.values.length; return state; });
fn(state => ({ ...state, data: { total: total } }));
