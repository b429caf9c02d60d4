// compat: both
fn(s => ({ ...s, before: true }));
fn(s => { throw 'Province user not found'; });
