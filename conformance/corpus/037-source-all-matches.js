// profile: both
// source returns all matches as an array, [] when missing (§4.2)
fn(state => ({ ...state, ids: source('$.data.items[*].id')(state), none: source('$.data.missing')(state) }));
