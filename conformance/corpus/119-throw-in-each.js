// profile: both
// a throw inside each stops the loop and fails the step (§4.3 each, §2.3)
each('$.data.items[*]', fn(state => {
  if (state.data === 2) throw new Error('item 2 is bad');
  return { ...state, ok: [...(state.ok || []), state.data] };
}));
