fn(s => { s.mutated = true; return s; });
fn(s => s.data.missing.field);
