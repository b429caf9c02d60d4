// profile: lightning
// the last operation returns nothing: the step has no final state (null state → undefined) (§2.2 wrapOperation)
fn(state => ({ ...state, data: { kept: false } }));
fn(state => {
  state.data.kept = true;
});
