// profile: both
// top-level console.log: lightning crashes (invalid operation), legacy runs it at load and skips it (§1.2, §1.3, §6.5.1)
console.log('job loaded');
fn(state => ({ ...state, ran: true }));
