fn(s => ({ ...s, a: 1 })).then(s => ({ ...s, b: s.a + 1 }));
fn(s => { throw new Error('oops'); }).catch((e, s) => ({ ...s, caught: e.message }));
fn(s => ({ ...s, c: 3 })).then(s => ({ ...s, d: 4 })).catch((e, s) => s);
