// 4 — catch job of 2 (@openfn/language-http@5.0.4): OSCaR could not be
// updated, so post the window's start to the inbox to have it re-run. The
// top-level console.log runs when the job loads, as on OpenFn v1.
console.log('2-send-to-oscar failed; handing the window back to the inbox');

fn(state =>
  post(`inbox/${state.configuration.inboxId}`, { body: { initialState: { lastRunDateTime: state.cursor } } })(state)
    .then(next => ({ ...state, handedBack: next.response.status }))
    .catch(error => {
      console.error(`The inbox did not take the window either: ${error.message}`);
      throw error;
    })
);
