// 2 — OSCaR (@openfn/language-http@5.0.4): one referral per referred
// service. Operations are called directly and chained: the sign-in with
// .then, each upsert awaited with a .catch that keeps records OSCaR
// refuses (4xx) and lets anything else fail the job, so the catch job
// hands the window back.
fn(state =>
  post('/api/v1/admin_auth/sign_in', {
    keepCookie: true,
    body: { email: state.configuration.username, password: state.configuration.password },
  })(state).then(signedIn => {
    const h = signedIn.data.__headers;
    console.log('Signed in to OSCaR');
    return {
      ...state,
      oscarHeaders: { 'Content-Type': 'application/json', uid: state.configuration.username, client: h.client, 'access-token': h['access-token'] },
      sent: [],
      refused: [],
    };
  })
);

fn(async state => {
  // Inside the operation: OpenFn v1 drops top-level declarations.
  const serviceNames = {
    family_based_care_family_preservation: 'Family preservation',
    family_based_care_kinship_care: 'Kinship care',
    mental_health_support_trauma_counselling: 'Trauma counselling',
  };
  for (const c of state.referrals) {
    for (const s of c.services) {
      const organization = {
        external_id: c.case_id,
        given_name: c.name_first || '',
        family_name: c.name_last || '',
        gender: c.sex || '',
        level_of_risk: c.risk_level || '',
        external_case_worker_name: c.owned_by || '',
        external_case_worker_mobile: '000000000',
        organization_name: c.agency,
        is_referred: true,
        resource: 'Primero',
        services: [{ uuid: s.unique_id, name: serviceNames[s.service_subtype] || 'Generalist social work / case work' }],
      };
      await post('/api/v1/organizations/clients/upsert/', { headers: state.oscarHeaders, body: { organization } })(state)
        .then(() => state.sent.push({ case_id: c.case_id, service: s.unique_id }))
        .catch(error => {
          const status = error.response && error.response.status;
          if (status >= 400 && status < 500) {
            console.error(`OSCaR refused case ${c.case_id}: ${JSON.stringify(error.response.data)}`);
            state.refused.push({ case_id: c.case_id, service: s.unique_id, status });
            return;
          }
          throw error;
        });
    }
  }
  console.log(`Sent ${state.sent.length} referrals, ${state.refused.length} refused`);
  const { oscarHeaders, ...rest } = state;
  return { ...rest, data: {}, references: [] };
});
