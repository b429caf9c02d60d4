// profile: both
// each(null) throws a TypeError while the operations are built (load time) (§4.3 each, §2.3)
fn(state => ({ ...state, first: true }));
each(null, fn(state => state));
