// profile: both
// dataPath strips leading $ and . characters (§4.3 dataPath)
fn(state => ({ ...state, paths: [dataPath('a.b'), dataPath('$.a'), dataPath('..a'), dataPath('$..x[0]')] }));
