// profile: both
// sourceValue returns the first match only (§4.2)
fn(state => ({ ...state, firstId: sourceValue('$.data.items[*].id')(state) }));
