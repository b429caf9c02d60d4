// Flow 0, job 1 — cron, hourly at half past (@openfn/language-http@5.0.4).
// OSCaR clients changed since the last query date, for the ids sync.
// Cursor: lastQueryDate, carried in this job's final state; an inbox
// message can also bring data.initialState.lastQueryDate.
alterState(state => {
  state.lastQueryDate = state.lastQueryDate || (state.data && state.data.initialState && state.data.initialState.lastQueryDate);
  return state;
});

alterState(state => {
  const now = new Date().toISOString();
  state.thisQueryDate = now.substring(0, 10) + ' 00:00:00';
  state.initialState = { lastQueryDate: state.lastQueryDate, thisQueryDate: state.thisQueryDate };
  return { ...state, data: {}, references: [] };
});

post(
  '/api/v1/admin_auth/sign_in',
  { keepCookie: true, body: { email: state.configuration.username, password: state.configuration.password } },
  get('/api/v1/organizations/clients', {
    keepCookie: true,
    headers: state => ({
      'access-token': state.data.__headers['access-token'],
      client: state.data.__headers.client,
      uid: state.configuration.username,
      'Content-Type': 'application/json',
    }),
    query: { since_date: state.lastQueryDate || '2022-12-19 00:00:00' },
  }, state => {
    // OSCaR compares dates for clients that are not referred, so the next
    // query starts at today's midnight (the same clients may come twice;
    // f0-j2 only writes what changed).
    state.lastQueryDate = state.thisQueryDate;
    return state;
  })
);

fn(state => {
  const { response, ...rest } = state;
  return { ...rest, data: { data: state.data.data || [] }, references: [] };
});
