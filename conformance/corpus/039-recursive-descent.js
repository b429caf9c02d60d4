// profile: both
// recursive descent $..id collects ids at any depth (§4.2)
fn(state => ({ ...state, ids: source('$.data..id')(state) }));
