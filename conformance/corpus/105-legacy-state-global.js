// profile: both
// the global state is the INPUT state while factory arguments are evaluated (§2.2, §6.5.3)
fn(state => ({ ...state, cursor: 'changed-by-op' }));
fnIf(true, fn(s => ({ ...s, sinceAtLoad: SINCE, cursorNow: s.cursor })));
var SINCE = state.cursor || 'default-since';
