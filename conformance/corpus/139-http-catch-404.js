// profile: both
// a 404 from a directly called http operation is a rejection .catch receives, with statusCode and the adaptor's message (issue 15, §4.4)
// adaptor: @openfn/language-http@7.2.10
fn(state =>
  get('/records/missing')(state)
    .then(() => ({ ...state, how: 'resolved' }))
    .catch(e => ({ ...state, how: 'caught', statusCode: e.statusCode, message: e.message, body: e.body }))
);
