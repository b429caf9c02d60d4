// profile: both
// top-level state.x inside a factory argument reads the input state, not earlier results (§2.2, §6.5.3)
fn(state => ({ ...state, lastQueryDate: '2030-01-01' }));
each([state.lastQueryDate || state.cursor || 'fallback'], fn(s => ({ ...s, query: s.data })));
