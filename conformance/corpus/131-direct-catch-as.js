// profile: both
// a throw inside an async operation called directly is a rejection that .catch(e => …) receives (issue 15, §2.3)
fn(state =>
  as('lookup', fn(() => { throw new Error('lookup failed'); }))(state)
    .then(() => ({ ...state, via: 'then' }))
    .catch(e => ({ ...state, via: 'catch', caught: e.message }))
);
