each('$.data.patients[*]', fn(state => ({ ...state, names: (state.names || []).concat(state.data.name) })));
