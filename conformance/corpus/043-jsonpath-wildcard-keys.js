// profile: both
// wildcards inside keys: $.data[*].meta (§4.2)
fn(state => ({ ...state, metas: source('$.data.forms[*].meta.instanceID')(state) }));
