// Flow 1, job 2 — on success of f1-j1 (@openfn/language-http@5.0.4).
// Sends new referrals (one upsert per service), referral decisions and
// Primero case ids of OSCaR-referred cases to OSCaR.
fn(state => {
  const { oscarRefs, oscarDecisions, oscarCases } = state;
  state.cases = { referrals: oscarRefs, decisions: oscarDecisions, nonReferrals: oscarCases };
  state.rejected = state.rejected || [];

  // Primero service subtype → OSCaR service name.
  state.serviceMap = {
    family_based_care_long_term_foster_care: 'Long term foster care',
    family_based_care_emergency_foster_care: 'Emergency foster care',
    family_based_care_kinship_care: 'Kinship care',
    family_based_care_domestic_adoption_support: 'Domestic adoption support',
    family_based_care_family_preservation: 'Family preservation',
    family_based_care_family_reunification: 'Family reunification',
    family_based_care_family_support: 'Family support',
    social_work_case_work_generalist: 'Generalist social work / case work',
    social_work_case_work_community: 'Community social work',
    mental_health_support_trauma_counselling: 'Trauma counselling',
    mental_health_support_generalist_counselling: 'Generalist counselling',
    mental_health_support_family_counselling: 'Family counselling / mediation',
    mental_health_support_counselling_for_abuse_survivors: 'Counselling for abuse survivors',
    mental_health_support_therapeutic_interventions: 'Therapeutic interventions',
    legal_support_legal_representation: 'Legal representation',
    legal_support_legal_advocacy: 'Legal advocacy services',
    medical_support_direct_medical_support: 'Direct medical support',
    medical_support_provision_of_medical_care: 'Provision of medical care',
    training_education_vocational_training: 'Vocational education and training',
    training_education_school_support: 'School support',
    training_education_life_skills: 'Life skills',
  };
  // Primero referral_status_edf41f2 → OSCaR referral_status.
  state.statusMap = { accepted_340953: 'Accepted', rejected_936484: 'Exited', pending_310366: 'Referred' };

  // OSCaR requires empty strings, not nulls.
  state.oscarStrings = value => (value === null || value === undefined || value === 'NaN' ? '' : value);
  // NGO short name from the implementing agency: 'agency-cif' → 'cif'.
  state.setOrganization = (c, service) => {
    const agency = service.service_implementing_agency || c.owned_by_agency_id || '';
    return agency.indexOf('agency-') === 0 ? agency.substring(7) : agency;
  };
  // Village codes are 8 digits; Primero drops the leading zero.
  state.checkValue = code => {
    if (code === null || code === undefined || code === 'NaN') return '';
    const s = String(code);
    return [1, 3, 5, 7].indexOf(s.length) >= 0 ? '0' + s : s;
  };
  // 4xx from OSCaR is about that record: keep it and go on. Anything else
  // (5xx, transport, not JSON) fails the job so the window is retried.
  state.rejectOrThrow = (s, error, record) => {
    const status = error && error.response && error.response.status;
    if (status >= 400 && status < 500) {
      const reason = `OSCaR refused the record (${status}): ${JSON.stringify(error.response.data)}`;
      console.error(`Rejected ${record}: ${reason}`);
      s.rejected.push({ record, reason });
      return s;
    }
    throw error;
  };
  return state;
});

fn(state => {
  const { referrals, decisions, nonReferrals } = state.cases;
  console.log(`To OSCaR: ${referrals.length} referrals, ${decisions.length} decision cases, ${nonReferrals.length} cases to link`);
  return state;
});

post(
  '/api/v1/admin_auth/sign_in',
  { keepCookie: true, body: { email: state.configuration.username, password: state.configuration.password } },
  state => {
    const h = state.data.__headers;
    state.oscarHeaders = { 'Content-Type': 'application/json', uid: state.configuration.username, client: h.client, 'access-token': h['access-token'] };
    return { ...state, data: {}, references: [] };
  }
);

// One upsert per referred service; records OSCaR cannot take are listed in
// state.rejected with the reason, and the rest of the batch goes on.
fn(state => {
  const { serviceMap, oscarStrings, setOrganization, checkValue } = state;
  const referrals = [];
  state.cases.referrals.forEach(c => {
    const label = c.case_id_display || c.id;
    if (!c.case_id) {
      state.rejected.push({ record: `Primero case ${label}`, reason: 'the case has no case_id, the unique id OSCaR keys referrals by' });
      console.error(`Rejected Primero case ${label}: no case_id`);
      return;
    }
    const open = (c.referrals || []).filter(r => r.status === 'in_progress' && r.created_at >= state.cursor);
    const transitions = c.transitions || [];
    c.services_section
      .filter(s => s.service_response_type === 'referral_to_oscar' && open.some(r => r.service_record_id === s.unique_id))
      .forEach(s => {
        const subtype = [].concat(s.service_subtype || [])[0];
        const name = serviceMap[subtype];
        if (!name) {
          const reason = `service subtype "${subtype}" is not in the service map (OSCaR refuses "Not Specified")`;
          state.rejected.push({ record: `Primero case ${c.case_id} service ${s.unique_id}`, reason });
          console.error(`Rejected Primero case ${c.case_id} service ${s.unique_id}: ${reason}`);
          return;
        }
        const referral = open.find(r => r.service_record_id === s.unique_id);
        referrals.push({
          organization: {
            external_id: c.case_id,
            external_id_display: oscarStrings(c.case_id_display),
            global_id: oscarStrings(c.oscar_number),
            level_of_risk: c.risk_level === 'no_action' ? 'no action' : oscarStrings(c.risk_level),
            mosvy_number: oscarStrings(c.mosvy_number),
            given_name: oscarStrings(c.name_first),
            family_name: oscarStrings(c.name_last),
            gender: oscarStrings(c.sex),
            date_of_birth: c.date_of_birth ? c.date_of_birth.replace(/\//g, '-') : '',
            location_current_village_code: checkValue(c.location_current),
            address_current_village_code: checkValue(c.location_current),
            reason_for_referral: oscarStrings(referral.notes || (transitions[0] && transitions[0].notes)),
            external_case_worker_name: oscarStrings(c.owned_by),
            external_case_worker_id: oscarStrings(c.owned_by_id),
            external_case_worker_mobile: c.owned_by_phone || '000000000',
            resource: 'Primero',
            is_referred: true,
            organization_name: setOrganization(c, s),
            organization_id: oscarStrings(c.owned_by_agency_id),
            services: [{ uuid: s.unique_id, name }],
            transaction_id: oscarStrings(referral.id),
            date_of_referral: (c.last_updated_at || '').substring(0, 10),
          },
        });
      });
  });
  state.cases.referrals = referrals;
  return state;
});

// Decisions a MoSVY worker took on referrals OSCaR made; no decision yet
// (Referred) or no OSCaR referral id means nothing to send.
fn(state => {
  const { statusMap } = state;
  const decisions = [];
  state.oscarDecisions.forEach(c => {
    (c.services_section || []).forEach(s => {
      const referral_status = statusMap[s.referral_status_edf41f2];
      const referral_id = parseInt(s.oscar_referral_id_a4ac8a5, 10);
      if (!referral_status || referral_status === 'Referred' || isNaN(referral_id)) return;
      decisions.push({
        external_id: c.case_id,
        external_id_display: c.case_id_display,
        client_global_id: c.oscar_number,
        referral_status,
        referral_id,
      });
    });
  });
  state.cases.decisions = decisions;
  return state;
});

each(
  '$.cases.referrals[*]',
  state =>
    Promise.resolve()
      .then(() =>
        post('/api/v1/organizations/clients/upsert/', {
          headers: s => s.oscarHeaders,
          body: s => s.data,
          transformResponse: [
            data => {
              try {
                JSON.parse(data);
              } catch (e) {
                throw 'the response from OSCAR was not valid JSON: ' + String(data).substring(0, 200);
              }
              return data;
            },
          ],
        })(state)
      )
      .catch(error => state.rejectOrThrow(state, error, `referral of Primero case ${state.data.organization.external_id}`))
);

fn(state => {
  if (state.cases.decisions.length === 0) return state;
  console.log(`Sending ${state.cases.decisions.length} referral decisions to OSCaR`);
  return put('/api/v1/organizations/referrals/update_statuses/', {
    headers: state.oscarHeaders,
    body: { data: state.cases.decisions },
    transformResponse: [data => (JSON.parse(data), data)],
  })(state);
});

// Link cases OSCaR referred to Primero: sign in again, then update_links.
fn(state => {
  const links = state.cases.nonReferrals.map(c => ({
    external_id: c.case_id,
    external_id_display: c.case_id_display,
    global_id: c.oscar_number,
    is_referred: false,
  }));
  if (links.length === 0) return state;
  return post(
    '/api/v1/admin_auth/sign_in',
    { keepCookie: true, body: { email: state.configuration.username, password: state.configuration.password } },
    next =>
      put('/api/v1/organizations/clients/update_links/', {
        headers: s => ({
          'Content-Type': 'application/json',
          uid: s.configuration.username,
          client: s.data.__headers.client,
          'access-token': s.data.__headers['access-token'],
        }),
        body: { data: links },
        transformResponse: [data => (JSON.parse(data), data)],
      })(next)
  )(state);
});

// Nothing of the OSCaR session travels on: the next jobs sign in themselves.
fn(state => {
  delete state.oscarHeaders;
  const { response, ...rest } = state;
  console.log(`Sent ${state.cases.referrals.length} referrals; ${state.rejected.length} records rejected`);
  return { ...rest, data: {}, references: [] };
});
