// profile: both
// referencePath('[0].id') → '$.references[0].id' (§4.3 referencePath)
fn(state => ({ ...state, path: referencePath('[0].id'), value: sourceValue(referencePath('[1].id'))(state) }));
