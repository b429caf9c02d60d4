alterState(state => { state.count = 1; return state; });
fn(state => { state.count += 1; return state; });
