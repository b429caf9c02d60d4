// profile: both
// state.response is removed by the lightning worker cleanup, kept by legacy (§2.4)
fn(state => ({ ...state, response: { statusCode: 200, headers: { 'content-type': 'application/json' } }, data: { ok: true } }));
