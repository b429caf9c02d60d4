// compat: both
fn(s => { s.data.touched = true; });
fn(s => ({ ...s, after: true }));
