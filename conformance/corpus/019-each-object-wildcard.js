// profile: both
// each with [*] over an object iterates its values (§4.2)
each('$.data.byId[*]', fn(state => ({ ...state, names: [...(state.names || []), state.data.name] })));
