// compat: both
fn(s => ({ ...s, response: { statusCode: 200 }, data: { ok: true } }));
