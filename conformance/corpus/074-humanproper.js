// profile: both
// humanProper: _ and - become spaces, words capitalised, rest lowercased (§4.3 humanProper)
fn(state => ({ ...state, names: ['first_name', 'LAST-NAME', 'mixed_Case-words here', 'x'].map(humanProper) }));
