// profile: both
// a rejected promise fails the step like a throw (§2.3)
fn(state => Promise.reject(new Error('async nope')));
