// profile: lightning
// group passes {...state, data: groups} to its callback (§4.3 group)
group([{ k: 'x' }, { k: 'y' }, { k: 'x' }], 'k', state => ({ ...state, counts: Object.fromEntries(Object.entries(state.data).map(([k, v]) => [k, v.length])) }));
