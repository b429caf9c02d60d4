// profile: both
// a, b; — lightning: not a call statement, operations built and discarded; legacy: two operations (§1.2, §1.3)
fn(state => ({ ...state, first: true })), fn(state => ({ ...state, second: true }));
fn(state => ({ ...state, third: true }));
