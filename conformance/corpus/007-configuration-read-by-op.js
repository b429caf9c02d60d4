// profile: both
// operations see configuration; cleanup removes it only at the end (§2.1, §2.4)
fn(state => ({ ...state, data: { user: state.configuration.username, hasPassword: !!state.configuration.password } }));
