// profile: both
// arrayToString joins with a separator (§4.3 arrayToString)
fn(state => ({ ...state, s: arrayToString(['a', 'b', 'c'], ', '), t: arrayToString([1, 2], '') }));
