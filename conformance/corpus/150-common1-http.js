// profile: both
// language-common 1.x http (axios 1.1.3): operations resolve to the axios response; data as JSON, params, baseURL, a 404 rejection with response, validateStatus and transformResponse kept as functions (§4, issue 15)
// adaptor: @openfn/language-common@1.15.2
fn(state => http.post({ url: `${state.configuration.baseUrl}/items`, data: { a: 1 }, params: { q: 'x y', list: [1, 2] } })(state)
  .then(({ data, status, statusText }) => ({ ...state, posted: data, status, statusText })));
fn(state => http.get({ url: 'thing', baseURL: state.configuration.baseUrl, params: { n: 2 } })(state)
  .then(r => ({ ...state, got: r.data })));
fn(state => http.get({ url: state.configuration.baseUrl + '/missing' })(state)
  .catch(e => ({ ...state, err: { message: e.message, code: e.code, status: e.response.status, data: e.response.data } })));
fn(state => http.get({ url: state.configuration.baseUrl + '/missing', validateStatus: s => s < 500 })(state)
  .then(r => ({ ...state, tolerated: r.status })));
fn(state => http.put({ url: state.configuration.baseUrl + '/raw', data: 'plain', transformResponse: [d => typeof d + ':' + JSON.parse(d).contentType + ':' + JSON.parse(d).body] })(state)
  .then(r => ({ ...state, transformed: r.data })));
fn(state => ({ posted: state.posted, status: state.status, statusText: state.statusText, got: state.got, err: state.err, tolerated: state.tolerated, transformed: state.transformed }));
