// profile: both
// each over a JSONPath: one iteration per item with data=item, index=i (§4.3 each)
each('$.data.items[*]', fn(state => {
  state.seen = (state.seen || []).concat([state.data.name + '@' + state.index]);
  return state;
}));
