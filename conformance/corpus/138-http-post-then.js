// profile: both
// an http operation called directly is a promise: post(path, body)(state).then(next => …) (issue 15, §2.2, §5.2)
// adaptor: @openfn/language-http@7.2.10
fn(state =>
  post('/items', { name: state.data.name })(state).then(next => ({
    ...state,
    created: next.data.body,
    method: next.data.method,
    status: next.response.statusCode,
    references: next.references.length,
  }))
);
