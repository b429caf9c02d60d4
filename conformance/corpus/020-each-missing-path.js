// profile: both
// each over a missing path sees [] and returns the state unchanged (§4.2, §4.3 each)
each('$.data.nothing[*]', fn(state => ({ ...state, ran: true })));
fn(state => ({ ...state, after: true }));
