// profile: both
// merge over a missing path yields [] (§4.3 merge, §4.2)
fn(state => ({ ...state, result: merge('$.data.none[*]', { x: 1 })(state) }));
