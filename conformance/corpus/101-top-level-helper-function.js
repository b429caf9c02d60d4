// profile: lightning
// a top-level helper function can be used inside operations (§1.3)
function shout(s) {
  return s.toUpperCase() + '!';
}
let counter = 0;
fn(state => ({ ...state, data: shout(state.data), calls: ++counter }));
fn(state => ({ ...state, calls: ++counter }));
