// profile: lightning
// composeNextState initialises a missing references array (≥1.15) (§4.3 composeNextState)
fn(state => composeNextState(state, ['new']));
