// profile: lightning
// a top-level .catch right after an http operation gets (error, state) and its result goes on (§1.5 defer, issue 15)
// adaptor: @openfn/language-http@7.2.10
post('/fail', { a: 1 }).catch((e, state) => ({ ...state, failed: e.statusCode, failBody: e.body }));
fn(state => ({ ...state, after: true }));
