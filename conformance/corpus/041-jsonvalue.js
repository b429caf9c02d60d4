// profile: lightning
// jsonValue(obj, path) reads the first match inside an object (§4.3 jsonValue)
fn(state => ({ ...state, v: jsonValue({ a: { b: [5, 6] } }, '$.a.b[1]') }));
