// Flow 2, job 1 — on success of f1-j2 (@openfn/language-http@5.0.4).
// OSCaR clients changed since the cursor Flow 1 started from. An inbox
// message carrying data.initialState (from a catch job) overrides it.
alterState(state => {
  const initial = (state.data && state.data.initialState) || {};
  if (initial.lastRunDateTime) state.cursor = initial.lastRunDateTime;
  return { ...state, data: {}, references: [] };
});

// The sign-in body and the query are built when the job loads, from the
// input state (top-level `state`), exactly as OpenFn v1 does.
post(
  '/api/v1/admin_auth/sign_in',
  { keepCookie: true, body: { email: state.configuration.username, password: state.configuration.password } },
  state => {
    delete state.configuration.password;
    return state;
  }
);

get('/api/v1/organizations/clients', {
  keepCookie: true,
  headers: state => ({
    'access-token': state.data.__headers['access-token'],
    client: state.data.__headers.client,
    uid: state.configuration.username,
    'Content-Type': 'application/json',
  }),
  query: { since_date: state.lastQueryDate || state.cursor || (state.data && state.data.initialState && state.data.initialState.lastRunDateTime) || '2025-08-02 00:00:00' },
});

// Keep the clients, drop the session (headers, cookie, axios response).
fn(state => {
  const clients = state.data.data || [];
  console.log(`${clients.length} OSCaR clients changed since ${state.cursor}`);
  const { response, ...rest } = state;
  return { ...rest, data: { data: clients }, references: [] };
});
