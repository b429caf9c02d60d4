// profile: both
// fn may mutate state in place and return the same object (§2.7)
fn(state => {
  state.data.count = state.data.count + 1;
  state.touched = true;
  return state;
});
fn(state => {
  state.data.count *= 10;
  return state;
});
