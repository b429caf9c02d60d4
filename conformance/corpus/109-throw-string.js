// profile: both
// throw of a plain string → JobError (fail) with that message (§2.3, §6.5.8)
fn(state => ({ ...state, before: true }));
fn(state => {
  throw `Province user not found for ${state.data.province}`;
});
