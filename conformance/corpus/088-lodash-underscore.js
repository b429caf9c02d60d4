// profile: lightning
// _ is lodash (≥3.0) (§4.3 _)
fn(state => ({ ...state, data: { picked: _.pick(state.data, ['a']), sorted: _.sortBy([3, 1, 2]) } }));
