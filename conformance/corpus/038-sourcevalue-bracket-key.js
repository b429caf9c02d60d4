// profile: both
// bracket-quoted keys: $.data.__headers['access-token'] (§4.2)
fn(state => ({ ...state, token: sourceValue("$.data.__headers['access-token']")(state) }));
