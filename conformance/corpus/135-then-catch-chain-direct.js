// profile: both
// a directly called operation's rejection skips later .then callbacks until a .catch, which may return state to carry on (§2.3, issue 15)
fn(state =>
  validate('$.data.schema', 'data')(state)
    .then(s => ({ ...s, afterValidate: true }))
    .then(s => { throw new Error('second step broke'); })
    .then(s => ({ ...s, neverHere: true }))
    .catch(e => ({ ...state, recovered: e.message }))
);
fn(state => ({ ...state, last: true }));
