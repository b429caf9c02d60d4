fn(s => composeNextState(s, { id: 'r1' }));
fn(s => composeNextState(s, { id: 'r2' }));
fn(s => ({ ...s, oldest: lastReferenceValue('id')(s), newest: s.references[s.references.length - 1].id }));
