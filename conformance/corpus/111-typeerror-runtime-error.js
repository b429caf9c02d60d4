// profile: both
// a TypeError in job code → RuntimeError (fail, subtype TypeError) (§2.3)
fn(state => ({ ...state, before: true }));
fn(state => {
  state.data.missing.deep = 1;
  return state;
});
