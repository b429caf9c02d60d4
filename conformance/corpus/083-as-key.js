// profile: lightning
// as(key, op) stores the op result data under key and restores data (§4.3 as)
as('lookup', fn(state => ({ ...state, data: { found: true }, extra: 'merged' })));
