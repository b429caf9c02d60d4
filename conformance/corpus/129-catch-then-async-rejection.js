// profile: lightning
// defer: with an ASYNC failure the adjacent catch recovers and the .then chain still runs; compare 097 where a sync throw skips the chain (§1.5)
fn(async state => { throw 'async failure'; })
  .catch((e, state) => ({ ...state, caught: e }))
  .then(state => ({ ...state, thenAfterCatch: true }));
