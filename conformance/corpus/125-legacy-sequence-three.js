// profile: legacy
// legacy: a comma sequence of three calls gives three operations in order (§1.2 wrapRootExpressions)
fn(state => ({ ...state, order: ['a'] })), fn(state => ({ ...state, order: [...state.order, 'b'] })), fn(state => ({ ...state, order: [...state.order, 'c'] }));
