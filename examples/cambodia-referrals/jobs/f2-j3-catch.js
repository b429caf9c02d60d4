// Flow 2, catch — on failure of f2-j2 (@openfn/language-http@5.0.4).
// Primero could not be updated: post the window's starting point to the
// inbox. The two top-level console.log calls run when the job loads.
console.log('f2-j2 (upsert to Primero) failed; re-posting the initial state to the inbox.');
console.log(`Inbox: ${state.configuration.inboxId}`);

post(`inbox/${state.configuration.inboxId}?failure=f2-j2-upsert-to-Primero`, {
  body: state => ({ initialState: state.initialState }),
}, state => {
  const { response, ...rest } = state;
  return rest;
});
