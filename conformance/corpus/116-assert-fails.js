// profile: lightning
// assert() throws inside an adaptor frame → AdaptorError (fail) (§4.3 assert, §2.3)
fn(state => ({ ...state, data: { count: 0 } }));
assert($.data.count > 0, 'count must be positive');
