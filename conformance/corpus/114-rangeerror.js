// profile: lightning
// RangeError → RuntimeError (fail, subtype RangeError) (§2.3)
fn(state => ({ ...state, arr: new Array(-1) }));
