// profile: both
// inside each, an item's operation awaits a directly called operation; items run in order (issue 15, §4.3 each)
each(
  '$.data.batches[*]',
  fn(async state => {
    const parsed = await parseCsv(state.data)(state);
    return { ...state, counts: [...(state.counts || []), parsed.data.length] };
  })
);
fn(state => ({ data: { counts: state.counts }, references: state.references.length }));
