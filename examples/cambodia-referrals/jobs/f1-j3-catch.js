// Flow 1, catch — on failure of f1-j2 (@openfn/language-http@5.0.4).
// OSCaR could not be updated: post the window's starting point to the
// inbox, so an operator (or an automatic retry) can re-run it. The two
// top-level console.log calls run when the job loads, as on OpenFn v1.
console.log('f1-j2 (upsert to OSCaR) failed; re-posting the initial state to the inbox.');
console.log(`Inbox: ${state.configuration.inboxId}`);

post(`inbox/${state.configuration.inboxId}?failure=f1-j2-upsert-to-OSCaR`, {
  body: state => ({ initialState: state.initialState }),
}, state => {
  const { response, ...rest } = state;
  return rest;
});
