// profile: both
// an array in data is kept as an array by state assembly (§2.1 assemble-state)
fn(state => ({ ...state, count: state.data.length }));
