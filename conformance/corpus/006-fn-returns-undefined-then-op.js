// profile: both
// an operation returning undefined hands the next one an empty state (lightning: null state; legacy: undefined spread) (§2.2)
fn(state => {
  state.lost = true;
});
fn(state => ({ ...state, after: true }));
