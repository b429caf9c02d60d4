// profile: both
// throw new Error → JobError (fail); errors[stepId] on the input state (§2.3)
fn(state => {
  throw new Error('explicit failure');
});
