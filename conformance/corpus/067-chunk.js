// profile: both
// chunk splits an array into arrays of size n (§4.3 chunk)
fn(state => ({ ...state, data: chunk(state.data, 2) }));
