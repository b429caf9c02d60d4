// profile: lightning
// eval in job code is refused (codeGeneration off) → SecurityError (kill) (§1.6)
fn(state => ({ ...state, v: eval('1 + 1') }));
