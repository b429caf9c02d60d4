// Flow 2, job 2 — on success of f2-j1 (@openfn/language-primero@2.12.4).
// OSCaR clients → Primero:
//   decisions  clients that came from Primero (resource 'primero'): the NGO's
//              decision goes on the Primero referral, the OSCaR ids on the case
//   cases      clients an NGO referred to MoSVY: upserted by oscar_number
fn(state => {
  // OSCaR service name → Primero service type/subtype.
  state.serviceMap = {
    'Long term foster care': { type: 'family_based_care', subtype: 'family_based_care_long_term_foster_care' },
    'Emergency foster care': { type: 'family_based_care', subtype: 'family_based_care_emergency_foster_care' },
    'Kinship care': { type: 'family_based_care', subtype: 'family_based_care_kinship_care' },
    'Family preservation': { type: 'family_based_care', subtype: 'family_based_care_family_preservation' },
    'Family reunification': { type: 'family_based_care', subtype: 'family_based_care_family_reunification' },
    'Family support': { type: 'family_based_care', subtype: 'family_based_care_family_support' },
    'Generalist social work / case work': { type: 'social_work_case_work', subtype: 'social_work_case_work_generalist' },
    'Community social work': { type: 'social_work_case_work', subtype: 'social_work_case_work_community' },
    'Trauma counselling': { type: 'mental_health_support', subtype: 'mental_health_support_trauma_counselling' },
    'Generalist counselling': { type: 'mental_health_support', subtype: 'mental_health_support_generalist_counselling' },
    'Family counselling / mediation': { type: 'mental_health_support', subtype: 'mental_health_support_family_counselling' },
    'Counselling for abuse survivors': { type: 'mental_health_support', subtype: 'mental_health_support_counselling_for_abuse_survivors' },
    'Therapeutic interventions': { type: 'mental_health_support', subtype: 'mental_health_support_therapeutic_interventions' },
    'Legal representation': { type: 'legal_support', subtype: 'legal_support_legal_representation' },
    'Legal advocacy services': { type: 'legal_support', subtype: 'legal_support_legal_advocacy' },
    'Direct medical support': { type: 'medical_support', subtype: 'medical_support_direct_medical_support' },
    'Provision of medical care': { type: 'medical_support', subtype: 'medical_support_provision_of_medical_care' },
    'Vocational education and training': { type: 'training_education', subtype: 'training_education_vocational_training' },
    'School support': { type: 'training_education', subtype: 'training_education_school_support' },
    'Life skills': { type: 'training_education', subtype: 'training_education_life_skills' },
  };
  // OSCaR referral/client status → Primero referral_status_edf41f2 (the
  // 'Accetped' typo is in OSCaR data).
  state.serviceStatusMap = {
    Accepted: 'accepted_340953', Accetped: 'accepted_340953', Active: 'accepted_340953',
    Rejected: 'rejected_936484', Exited: 'rejected_936484', Referred: 'pending_310366',
  };
  // referral_status_edf41f2 → status of the Primero referral.
  state.referralStatusMap = { accepted_340953: 'accepted', rejected_936484: 'rejected', pending_310366: 'in_progress' };
  // Province (first two digits of the village code) → Primero user who owns
  // the case; integer-like keys are looked up as strings.
  state.provinceUserMap = {
    '01': 'banteay_meanchey_user', '02': 'battambang_user', '03': 'kampong_cham_user', '04': 'kampong_chhnang_user',
    '05': 'kampong_speu_user', '06': 'kampong_thom_user', '07': 'kampot_user', '08': 'kandal_user',
    '12': 'mgrpnh', '17': 'siem_reap_user', '18': 'preah_sihanouk_user', '22': 'oddar_meanchey_user',
  };
  // NGO agency → Primero user, when the province is unknown.
  state.agencyUserMap = { 'agency-cif': 'cif_user', 'agency-fcf': 'fcf_user' };

  state.rejected = state.rejected || [];
  state.now = new Date();

  state.ownerOf = c => {
    const code = String(c.location_current_village_code || c.address_current_village_code || '');
    const province = code.indexOf('00') === 0 ? code.substring(2, 4) : code.substring(0, 2);
    const user = state.provinceUserMap[province] || state.agencyUserMap[`agency-${c.organization_name}`];
    if (!user) throw `Province user not found for province "${province}" (village code "${code}") or agency "agency-${c.organization_name}"`;
    return user;
  };
  state.ageOf = dob => {
    if (!dob) return 0;
    const age = Math.floor((state.now - new Date(dob.substring(0, 10))) / (365.25 * 24 * 3600 * 1000));
    return age >= 1 && age <= 30 ? age : 0;
  };

  // A new Primero case for a client an NGO referred to MoSVY.
  state.buildCaseRecord = c => {
    const services = (c.services || []).filter(s => s.referral_id).map(s => {
      const mapped = state.serviceMap[s.name];
      if (!mapped) console.warn(`OSCaR service "${s.name}" is not in the service map; sent as type Other`);
      return {
        unique_id: s.uuid,
        service_type: mapped ? mapped.type : 'Other',
        service_subtype: mapped ? [mapped.subtype] : [],
        service_response_type: 'referral_from_oscar',
        service_implementing_agency: `agency-${c.organization_name}`,
        oscar_referral_id_a4ac8a5: String(s.referral_id),
        referral_status_edf41f2: state.serviceStatusMap[s.referral_status] || 'pending_310366',
      };
    });
    const record = {
      oscar_number: c.global_id,
      oscar_short_id: c.slug,
      mosvy_number: c.mosvy_number || null,
      name_first: c.local_given_name ? `${c.local_given_name} (${c.given_name})` : c.given_name,
      name_last: c.local_family_name ? `${c.local_family_name} (${c.family_name})` : c.family_name,
      sex: c.gender === 'male' || c.gender === 'female' ? c.gender : 'other',
      age: state.ageOf(c.date_of_birth),
      date_of_birth: c.date_of_birth ? c.date_of_birth.substring(0, 10) : null,
      location_current: c.location_current_village_code,
      oscar_status: c.status,
      protection_status: 'oscar_referral',
      owned_by: state.ownerOf(c),
      consent_for_services: true,
      disclosure_other_orgs: true,
      risk_level: c.level_of_risk === 'no action' ? 'no_action' : c.level_of_risk || null,
      interview_subject: 'other',
      module_id: 'primeromodule-cp',
      services_section: services,
    };
    // Primero validates dates and types: leave out what OSCaR did not give.
    Object.keys(record).forEach(k => (record[k] === null || record[k] === undefined) && delete record[k]);
    return record;
  };
  return state;
});

fn(state => {
  const originalCases = state.data.data || [];
  state.decisions = originalCases.filter(c => c.resource === 'primero');
  state.cases = originalCases.filter(c => c.resource !== 'primero');
  console.log(`${state.decisions.length} decisions on Primero referrals, ${state.cases.length} clients referred to Primero`);
  return state;
});

// Build the new cases; a client that cannot be mapped is rejected with the
// reason, the others go on.
fn(state => {
  const cases = [];
  state.cases.forEach(c => {
    if (!c.global_id) {
      state.rejected.push({ record: `OSCaR client ${c.slug || '?'}`, reason: 'the client has no global_id, the unique id Primero cases are matched on' });
      console.error(`Rejected OSCaR client ${c.slug}: no global_id`);
      return;
    }
    try {
      cases.push(state.buildCaseRecord(c));
    } catch (e) {
      state.rejected.push({ record: `OSCaR client ${c.global_id}`, reason: String(e) });
      console.error(`Rejected OSCaR client ${c.global_id}: ${e}`);
    }
  });
  state.cases = cases;
  state.referrals = [];
  state.caseUpdates = [];
  return state;
});

// Decisions: find the Primero case (by case_id = OSCaR external_id) with
// its referrals, and work out which referral each OSCaR service answers.
each(
  '$.decisions[*]',
  getCases({ remote: true, case_id: dataValue('external_id') }, { withReferrals: true }, next => {
    decision = next.references[next.references.length - 1];
    const hits = next.data;
    if (hits.length > 1) throw new Error('Duplicate case_id on Primero');
    if (hits.length === 0) {
      next.rejected.push({ record: `OSCaR client ${decision.global_id}`, reason: `no Primero case has case_id ${decision.external_id}` });
      console.error(`Rejected OSCaR client ${decision.global_id}: no Primero case ${decision.external_id}`);
      return next;
    }
    primeroCase = hits[0];
    serviceUpdates = [];
    (decision.services || []).forEach(svc => {
      decisionServiceType = next.serviceMap[svc.name];
      matchingService = (primeroCase.services_section || []).find(
        s => s.oscar_referral_id_a4ac8a5 === String(svc.referral_id) || s.unique_id === svc.uuid
      );
      if (!matchingService) return;
      matchingServiceId = matchingService.unique_id;
      decisionStatus = next.serviceStatusMap[svc.referral_status];
      referral = (primeroCase.referrals || []).find(r => r.service_record_id === matchingServiceId && r.status === 'in_progress');
      referralId = referral && referral.id;
      if (referralId && decisionStatus && decisionStatus !== 'pending_310366') {
        next.referrals.push({ record_id: primeroCase.id, id: referralId, status: next.referralStatusMap[decisionStatus], case: 'case' });
      }
      const update = { unique_id: matchingServiceId };
      if (svc.referral_id) update.oscar_referral_id_a4ac8a5 = String(svc.referral_id);
      if (decisionStatus && decisionStatus !== 'pending_310366') update.referral_status_edf41f2 = decisionStatus;
      serviceUpdates.push(update);
    });
    next.caseUpdates.push({
      case_id: primeroCase.case_id,
      oscar_number: decision.global_id,
      oscar_short_id: decision.slug,
      oscar_status: decision.status,
      module_id: 'primeromodule-cp',
      services_section: serviceUpdates,
    });
    return next;
  })
);

// The NGO's decisions on the Primero referrals.
each(
  '$.referrals[*]',
  updateReferral({
    caseExternalId: 'record_id',
    caseId: dataValue('record_id'),
    id: dataValue('id'),
    data: { status: dataValue('status'), id: dataValue('id'), type: 'Referral', record_id: dataValue('record_id'), record_type: dataValue('case') },
  })
);

// OSCaR ids and statuses onto the Primero cases the decisions are about.
each('$.caseUpdates[*]', upsertCase({ externalIds: ['case_id'], data: state => state.data }));

// New cases from NGO referrals, keyed by the OSCaR global id.
each('$.cases[*]', upsertCase({ externalIds: ['oscar_number'], data: state => state.data }));

fn(state => ({
  cursor: state.cursor,
  lastRunDateTime: state.lastRunDateTime,
  synced: { decisions: state.caseUpdates.length, referralUpdates: state.referrals.length, cases: state.cases.length },
  rejected: state.rejected,
}));
