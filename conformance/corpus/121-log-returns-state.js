// profile: lightning
// log() expands its arguments, logs them and returns state unchanged (§4.3 log)
log('value is', $.data.v);
fn(state => ({ ...state, logged: true }));
