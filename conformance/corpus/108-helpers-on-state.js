// profile: both
// functions stored on state survive within the step and vanish in the final state (§2.4, §6.5.6)
fn(state => ({ ...state, build: x => ({ built: x }) }));
fn(state => ({ ...state, data: state.build(state.data.v) }));
