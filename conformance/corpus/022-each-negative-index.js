// profile: both
// JSONPath negative slice [-2:] takes the last items (§4.2)
each('$.data.items[-2:]', fn(state => ({ ...state, tail: [...(state.tail || []), state.data] })));
