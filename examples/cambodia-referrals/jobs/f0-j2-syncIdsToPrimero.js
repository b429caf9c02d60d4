// Flow 0, job 2 — on success of f0-j1 (@openfn/language-primero@2.12.4).
// For each OSCaR client that carries a Primero case id, make sure the case
// has the client's OSCaR ids. Only existing cases are touched, and only
// when an id differs, so this never creates a case nor bumps a case that
// is already in sync.
fn(state => {
  const originalCases = state.data.data || [];
  state.idLinks = originalCases
    .filter(c => c.external_id && c.global_id)
    .map(c => ({ case_id: c.external_id, oscar_number: c.global_id, oscar_short_id: c.slug }));
  console.log(`${state.idLinks.length} OSCaR clients carry a Primero case id`);
  return state;
});

each(
  '$.idLinks[*]',
  getCases({ remote: true, case_id: dataValue('case_id') }, {}, next => {
    const link = next.references[next.references.length - 1];
    const hit = next.data[0];
    if (next.data.length !== 1) {
      console.warn(`Primero has ${next.data.length} cases with case_id ${link.case_id}; not linking OSCaR client ${link.oscar_number}`);
      return next;
    }
    if (hit.oscar_number === link.oscar_number && hit.oscar_short_id === link.oscar_short_id) return next;
    return updateCase(hit.id, { data: { oscar_number: link.oscar_number, oscar_short_id: link.oscar_short_id } })(next);
  })
);

fn(state => ({ lastQueryDate: state.lastQueryDate, linked: state.idLinks.length }));
