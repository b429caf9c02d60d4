// profile: lightning
// function values inside fields are references, expanded against state by util.expandReferences (§4.1)
fn(state => {
  const [expanded] = util.expandReferences(state, fields(field('id', dataValue('id')), field('tag', s => s.data.tag.toUpperCase()), field('when', new Date(0))));
  return { ...state, data: expanded };
});
