// profile: both
// setTimeout is a job global in both stacks (§1.6)
fn(state => new Promise(resolve => setTimeout(() => resolve({ ...state, waited: true }), 1)));
