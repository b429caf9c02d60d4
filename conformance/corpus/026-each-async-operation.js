// profile: both
// each awaits operations that return promises, sequentially (§4.3 each)
each('$.data.items[*]', fn(state => new Promise(resolve => setTimeout(() => resolve({ ...state, order: [...(state.order || []), state.data] }), 5 - state.index))));
