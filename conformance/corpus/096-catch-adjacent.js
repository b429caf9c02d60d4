// profile: lightning
// op().catch((e, state) => …): the catch gets the error AND the input state (§1.5 defer)
fn(state => ({ ...state, before: true }));
fn(state => { throw new Error('bad thing'); }).catch((e, state) => ({ ...state, recovered: e.message }));
