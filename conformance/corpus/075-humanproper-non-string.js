// profile: both
// humanProper returns non-strings unchanged (§4.3 humanProper)
fn(state => ({ ...state, n: humanProper(42), o: humanProper({ a: 1 }), u: humanProper(null) }));
