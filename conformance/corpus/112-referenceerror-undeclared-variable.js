// profile: both
// reading an undeclared variable → ReferenceError → RuntimeCrash (crash): no final state (§2.3)
fn(state => ({ ...state, value: notDeclaredAnywhere + 1 }));
