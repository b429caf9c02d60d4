// profile: both
// multi-op chain: composeNextState appends the previous data to references (§4.3 composeNextState, §2.1)
fn(state => composeNextState(state, { step: 1 }));
fn(state => composeNextState(state, { step: 2 }));
fn(state => composeNextState(state, { step: 3 }));
fn(state => ({ ...state, firstRef: lastReferenceValue('step')(state) }));
