// profile: lightning
// assert() with a truthy expression returns state (§4.3 assert)
assert(state => state.data.ok, 'never shown');
fn(state => ({ ...state, passed: true }));
