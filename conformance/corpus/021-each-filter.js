// profile: both
// each with a JSONPath filter expression (§4.2 filters)
each('$.data.people[?(@.active == true)]', fn(state => ({ ...state, active: [...(state.active || []), state.data.id] })));
