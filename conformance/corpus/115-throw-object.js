// profile: lightning
// throw of a plain object → JobError with its message property (§2.3)
fn(state => {
  throw { message: 'object thrown', code: 'E_OBJ' };
});
