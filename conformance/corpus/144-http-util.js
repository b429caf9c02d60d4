// profile: both
// the util namespace: util.request is the operation behind get/post; encode/decode are base64 with JSON (§5.2, issue 15)
// adaptor: @openfn/language-http@7.2.10
util.request('GET', '/u', { query: { a: 1 } });
fn(state => ({
  data: { path: state.data.path, query: state.data.query },
  enc: util.encode({ x: 1 }),
  dec: util.decode(util.encode({ x: 1 })),
  types: util.CONTENT_TYPES,
  tls: util.getTLSOptions(state, {}) ?? null,
}));
