// profile: both
// lastReferenceValue with no references is undefined (§4.3 lastReferenceValue)
fn(state => ({ ...state, last: lastReferenceValue('id')(state), marker: true }));
