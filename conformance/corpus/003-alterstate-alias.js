// profile: both
// alterState is the older alias of fn (§4.3 fn/alterState)
alterState(state => ({ ...state, data: { via: 'alterState' } }));
fn(state => ({ ...state, data: { ...state.data, then: 'fn' } }));
