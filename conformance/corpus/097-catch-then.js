// profile: lightning
// op().catch(c).then(t): catch is cut out and applied to the op, then runs after (§1.5)
fn(state => { throw 'string failure'; })
  .catch((e, state) => ({ ...state, caught: e }))
  .then(state => ({ ...state, thenAfterCatch: true }));
