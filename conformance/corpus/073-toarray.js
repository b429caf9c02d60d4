// profile: both
// toArray wraps non-arrays, keeps arrays (§4.3 toArray)
fn(state => ({ ...state, a: toArray('x'), b: toArray(['y', 'z']), c: toArray({ k: 1 }), d: toArray(undefined) }));
