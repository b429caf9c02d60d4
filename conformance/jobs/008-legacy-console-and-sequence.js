// compat: legacy
console.log('starting');
fn(s => ({ ...s, one: 1 })), fn(s => ({ ...s, two: 2 }));
fn(s => ({ ...s, three: state.data.x }));
