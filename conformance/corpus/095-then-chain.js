// profile: lightning
// op().then(a).then(b): each then receives the resolved state (§1.5)
fn(state => ({ ...state, data: { n: 1 } }))
  .then(state => ({ ...state, data: { n: state.data.n + 1 } }))
  .then(state => ({ ...state, data: { n: state.data.n * 10 } }));
