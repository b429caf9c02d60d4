// profile: both
// field builds a pair, fields builds an object from pairs (§4.3 field/fields)
fn(state => ({ ...state, data: { pair: field('a', 1), obj: fields(field('a', 1), field('b', 'two'), field('a', 3)) } }));
