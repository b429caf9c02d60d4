fn(s => ({ ...s, mapped: mapping[s.data.code] }));
const mapping = { A: 'Alpha', B: 'Beta' };
function helper(x) { return x.toUpperCase(); }
fn(s => ({ ...s, upper: helper(s.mapped) }));
