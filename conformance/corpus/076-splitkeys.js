// profile: both
// splitKeys → [without keys, only keys] (§4.3 splitKeys)
fn(state => ({ ...state, data: splitKeys({ a: 1, b: 2, c: 3 }, ['b', 'z']) }));
