// profile: both
// lastReferenceValue reads references[0] — the OLDEST entry (§4.3 lastReferenceValue)
fn(state => ({ ...state, last: lastReferenceValue('id')(state) }));
