// profile: legacy
// legacy: console.log between operations runs at load time; its undefined operation is skipped (§1.2, §6.5.1)
fn(state => ({ ...state, one: 1 }));
console.log('loaded');
fn(state => ({ ...state, two: 2 }));
