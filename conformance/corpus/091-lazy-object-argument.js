// profile: lightning
// $ inside an object literal wraps the WHOLE argument as state => ({...}), expanded by the adaptor (§1.4, §4.1)
fn(state => ({ ...state, data: { patient: { id: 'pt-1' }, org: 'o-9' } }));
cursor({ patientId: $.data.patient.id, org: $.data.org, fixed: 'x' }, { key: 'ref' });
