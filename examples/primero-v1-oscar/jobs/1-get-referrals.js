// 1 — Primero 1.x (@openfn/language-primero@1.2.0): the cases with a
// service referred to OSCaR that changed since the last successful run.
// getCases(query, callback) is the 1.x signature: the callback gets the
// next state and what it returns is the operation's result.
alterState(state => {
  state.cursor = state.lastRunDateTime || '2025-08-01T00:00:00.000Z';
  state.runStart = new Date().toISOString();
  return state;
});

getCases({ remote: true, per: 1000, scope: { service_response_types: 'list||referral_to_oscar' } }, state => {
  const changed = state.data.filter(c => c.last_updated_at > state.cursor);
  console.log(`${changed.length} of ${state.data.length} referred cases changed since ${state.cursor}`);
  state.referrals = changed.map(c => ({
    case_id: c.case_id,
    name_first: c.name_first,
    name_last: c.name_last,
    sex: c.sex,
    risk_level: c.risk_level,
    owned_by: c.owned_by,
    agency: (c.owned_by_agency_id || '').replace(/^agency-/, ''),
    services: (c.services_section || []).filter(s => s.service_response_type === 'referral_to_oscar'),
  }));
  return state;
});

// Only what the next jobs need moves on; lastRunDateTime is the cursor the
// next hourly run starts from.
alterState(state => ({ lastRunDateTime: state.runStart, cursor: state.cursor, referrals: state.referrals }));
