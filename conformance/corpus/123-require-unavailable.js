// profile: lightning
// require is not defined in the job context → ReferenceError → RuntimeCrash (§1.6)
fn(state => ({ ...state, fs: typeof require('fs') }));
