// profile: both
// await on directly called http operations inside an async fn, the second fed with the first's result (issue 15, §2.2)
// adaptor: @openfn/language-http@7.2.10
fn(async state => {
  const a = await get('/a', { query: { n: 1, tag: 'x y' } })(state);
  const b = await post('/b', a.data.query)(a);
  return { ...state, firstQuery: a.data.query, secondPath: b.data.path, sent: b.data.body, refs: b.references.length };
});
