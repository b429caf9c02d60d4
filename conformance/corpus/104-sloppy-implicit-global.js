// profile: both
// assigning an undeclared identifier: lightning (strict module) crashes with ReferenceError; legacy (sloppy) creates a global (§1.2, §1.3, §6.5.2)
fn(state => {
  modifiedCases = state.data.cases.map(c => ({ ...c, done: true }));
  return state;
});
fn(state => ({ ...state, data: modifiedCases }));
