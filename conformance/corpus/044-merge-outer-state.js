// profile: both
// merge expands fields against the OUTER state and spreads them into each item (§4.3 merge)
each(
  merge('$.data.children[*]', fields(field('parentId', dataValue('id')), field('family', state => state.data.surname))),
  fn(state => ({ ...state, merged: [...(state.merged || []), state.data] }))
);
