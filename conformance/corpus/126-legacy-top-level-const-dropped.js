// profile: legacy
// legacy: top-level non-call statements are dropped, so a top-level const is a ReferenceError at run time (§1.2)
const MAP = { a: 1 };
fn(state => ({ ...state, v: MAP.a }));
