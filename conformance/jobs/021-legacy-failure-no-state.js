// compat: legacy
fn(s => ({ ...s, started: true }));
fn(s => s.data.nope.x);
