// profile: lightning
// op().then(t).catch(c): the catch stays in the promise chain, gets only the error (§1.5 promises.ts)
fn(state => ({ ...state, a: 1 }))
  .then(state => { throw new Error('from then'); })
  .catch((e, state) => ({ recoveredFrom: e.message, hadState: state !== undefined }));
