// profile: both
// merge with a plain fields object (§4.3 merge)
fn(state => ({ ...state, data: merge('$.data.rows[*]', { batch: 7, source: 'csv' })(state) }));
