// profile: both
// a missing dataValue is undefined, so the key disappears from final state (§4.2, §2.4)
fn(state => ({ ...state, missing: dataValue('no.such.path')(state), present: 'yes' }));
