// 3 — Primero 1.x (@openfn/language-primero@1.2.0): mark each sent
// service on its case. upsertCase looks the case up by case_id
// (scope[or][case_id]=or_op||…) and, for an existing case, adds only
// services whose unique_id Primero does not have yet, so the sent marker
// goes in a new service entry.
each(
  '$.sent[*]',
  upsertCase(
    {
      externalIds: ['case_id'],
      data: state => ({
        case_id: state.data.case_id,
        child: {
          case_id: state.data.case_id,
          services_section: [{ unique_id: `${state.data.service}-oscar`, service_type: 'oscar_referral_sent', oscar_referral_of: state.data.service }],
        },
      }),
    },
    state => {
      // an update leaves {body: <case>} in data (1.x's tryJson), a create the case
      console.log(`Marked case ${(state.data.body || state.data).case_id} as sent to OSCaR`);
      return state;
    }
  )
);

alterState(state => ({ lastRunDateTime: state.lastRunDateTime, marked: state.sent.length, refused: state.refused }));
