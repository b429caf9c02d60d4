// profile: both
// chunk with size ≥ length gives one chunk; empty array gives none (§4.3 chunk)
fn(state => ({ ...state, one: chunk([1, 2], 5), none: chunk([], 3) }));
