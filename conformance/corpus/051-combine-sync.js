// profile: both
// combine runs operations in sequence on shallow copies (§4.3 combine)
combine(
  fn(state => ({ ...state, a: 1 })),
  fn(state => ({ ...state, b: state.a + 1 }))
);
