// profile: lightning
// new Date() inside job code uses the frozen clock (§6.5.7)
// clock: 2024-03-15T10:30:00.000Z
fn(state => ({ ...state, now: new Date().toISOString(), ms: Date.now() }));
