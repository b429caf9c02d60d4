// profile: lightning
// combine in 3.3.4 awaits operations that return promises (≥3.3.2) (§4.3 combine)
combine(
  fn(state => Promise.resolve({ ...state, a: 'async' })),
  fn(state => ({ ...state, b: state.a + '!' }))
);
