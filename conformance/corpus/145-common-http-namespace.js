// profile: both
// language-common's http namespace: http.get/post with baseUrl, query, the options() helpers, a 404 caught from a direct call (§4.4, issue 15)
http.get('/items', { baseUrl: $.configuration.baseUrl, query: { a: 1 } });
fn(state => ({ ...state, got: { path: state.data.path, query: state.data.query }, status: state.response.statusCode }));
fn(state =>
  http.post('/p', { x: 1 }, http.options({ baseUrl: state.configuration.baseUrl }).json().bearer('t'))(state)
    .then(next => ({ ...state, posted: { ct: next.data.contentType, body: next.data.body, method: next.data.method } }))
);
fn(state =>
  http.request('GET', '/nothing/missing', { baseUrl: state.configuration.baseUrl })(state)
    .catch(e => ({ ...state, missing: { code: e.statusCode, message: e.message, body: e.body } }))
);
fn(state => { const { response, data, ...rest } = state; return rest; });
