// profile: both
// an operation may return a Promise of state; the chain awaits it (§2.2)
fn(state => Promise.resolve({ ...state, data: { step: 1 } }));
fn(async state => {
  const n = await Promise.resolve(41);
  return { ...state, data: { step: state.data.step + 1, n: n + 1 } };
});
