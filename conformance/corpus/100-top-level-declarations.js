// profile: lightning
// top-level declarations run before any factory call, even when written after it (§1.3)
fn(state => ({ ...state, data: state.data.codes.map(c => LOOKUP[c] || 'unknown') }));
const LOOKUP = { a: 'Alpha', b: 'Bravo' };
