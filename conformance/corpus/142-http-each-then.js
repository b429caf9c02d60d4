// profile: both
// inside each, each item's operation posts and chains .then on the post; items run in order (issue 15, §4.3 each)
// adaptor: @openfn/language-http@7.2.10
each(
  '$.data.items[*]',
  state => post('/each', state.data)(state).then(next => ({ ...next, seen: [...(state.seen || []), next.data.body.id] }))
);
fn(state => ({ data: { seen: state.seen }, references: state.references.length }));
