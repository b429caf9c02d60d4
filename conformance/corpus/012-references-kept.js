// profile: both
// references, index and other keys are not removed by cleanup (§2.4)
fn(state => ({ ...state, references: [...state.references, { id: 'r2' }], index: 7, metadata: { page: 1 } }));
