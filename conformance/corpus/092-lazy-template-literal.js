// profile: lightning
// $ inside a template literal argument (§1.4)
fnIf(`${$.data.first}-${$.data.last}` === 'a-b', fn(state => ({ ...state, matched: true })));
