// profile: both
// iterations chain: keys and references added inside each carry over (§4.3 each)
each('$.data.ids[*]', fn(state => composeNextState(state, { fetched: state.data })));
