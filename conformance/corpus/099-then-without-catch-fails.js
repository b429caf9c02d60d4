// profile: lightning
// an error thrown in .then without a catch fails the step (§1.5, §2.3)
fn(state => ({ ...state, a: 1 })).then(state => { throw new Error('then failed'); });
