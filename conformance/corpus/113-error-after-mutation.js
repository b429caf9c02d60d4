// profile: both
// an op mutates the input state then a later op fails: errors are recorded on the mutated input (§2.3, §2.7)
fn(state => {
  state.mutated = 'yes';
  return state;
});
fn(state => ({ ...state, copyOnly: 'lost' }));
fn(state => {
  throw new Error('late failure');
});
