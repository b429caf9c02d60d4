// profile: both
// each accepts a function of state as data source (§4.3 each, asData)
each(state => state.data.rows.filter(r => r > 1), fn(state => ({ ...state, picked: [...(state.picked || []), state.data] })));
