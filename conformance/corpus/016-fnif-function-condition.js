// profile: both
// fnIf expands a function condition against the current state (§4.3 fnIf, §4.1)
fn(state => ({ ...state, data: { ok: true, skip: false } }));
fnIf(state => state.data.ok, fn(state => ({ ...state, okBranch: true })));
fnIf(state => state.data.skip, fn(state => ({ ...state, skipBranch: true })));
