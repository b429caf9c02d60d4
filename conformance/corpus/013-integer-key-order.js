// profile: both
// key order follows JS property order (integer-like keys first, ascending) (§2.4)
fn(state => ({ ...state, data: { b: 1, 10: 'ten', a: 2, 2: 'two' } }));
