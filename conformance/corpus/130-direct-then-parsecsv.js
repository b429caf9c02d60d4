// profile: both
// an async operation called directly is a thenable: parseCsv(…)(state).then(…) inside fn (issue 15, §2.2 nested operations)
fn(state =>
  parseCsv(state.data.csv)(state).then(next => ({ ...state, rows: next.data, via: 'then' }))
);
