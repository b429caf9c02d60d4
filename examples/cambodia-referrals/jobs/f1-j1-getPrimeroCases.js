// Flow 1, job 1 — hourly cron (@openfn/language-primero@2.12.4).
// Primero cases changed since the last successful run, with their referrals,
// sorted into what OSCaR must hear about:
//   oscarRefs       new referrals (in_progress) to an OSCaR NGO service
//   oscarDecisions  cases whose OSCaR referrals a MoSVY worker accepted/rejected
//   oscarCases      cases that came from OSCaR and need their Primero ids linked back
// The cursor is lastRunDateTime, carried in this job's final state: the
// scheduler feeds the last *successful* final state to the next run, so a
// failed hour is covered again by the next one.
fn(state => {
  state.cursor = state.lastRunDateTime || '2025-08-02T00:00:04.400Z';
  state.currentAttempt = new Date().toISOString();
  // What the catch jobs re-post to the inbox to retry this window.
  state.initialState = { lastRunDateTime: state.cursor };
  console.log('Cases changed since ' + state.cursor + ' (this attempt: ' + state.currentAttempt + ')');
  return state;
});

// Start clean: the carried state still holds the previous run's lists.
alterState(state => ({ ...state, data: {}, references: [], oscarRefs: [], oscarDecisions: [], oscarCases: [] }));

getCases(
  { remote: true, last_updated_at: state => `${state.cursor}..`, page: 1, per: 10000 },
  { withReferrals: true },
  state => {
    const cases = state.data || [];
    const services = c => c.services_section || [];

    // A referral made at/after the cursor, still in progress, for one of the
    // case's services (the service record carries the OSCaR service asked for).
    const oscarRefs = cases.filter(c =>
      (c.referrals || []).some(r =>
        r.status === 'in_progress' &&
        r.created_at >= state.cursor &&
        services(c).some(s => s.unique_id === r.service_record_id && s.service_response_type === 'referral_to_oscar')
      )
    );

    // Decisions: services linked to an OSCaR referral whose status a MoSVY
    // worker set (pending_310366 means no decision yet).
    const oscarDecisions = cases.filter(c =>
      c.oscar_number &&
      services(c).some(s => s.oscar_referral_id_a4ac8a5 && s.referral_status_edf41f2 && s.referral_status_edf41f2 !== 'pending_310366')
    );

    // Cases OSCaR referred to Primero (they have an oscar_number but were not
    // referred *to* OSCaR): OSCaR needs their Primero case ids.
    const oscarCases = cases.filter(c =>
      c.oscar_number && !services(c).some(s => s.service_response_type === 'referral_to_oscar')
    );

    console.log(`${cases.length} changed cases: ${oscarRefs.length} referrals, ${oscarDecisions.length} with decisions, ${oscarCases.length} to link`);
    return { ...state, data: {}, references: [], oscarRefs, oscarDecisions, oscarCases };
  }
);

// The cron cursor: moves to this run's start only if everything succeeded.
fn(state => {
  state.lastRunDateTime = state.currentAttempt;
  return state;
});
