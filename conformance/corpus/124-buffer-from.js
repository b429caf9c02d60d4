// profile: both
// Buffer.from is available (the Buffer constructor is not, on lightning) (§1.6)
fn(state => ({ ...state, b64: Buffer.from('abc').toString('base64') }));
