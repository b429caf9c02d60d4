// profile: both
// dataPath/dataValue/sourceValue/source/jsonValue on every JSONPath form jobs use: with and without $, brackets, quotes, wildcards, slices, unions, filters, scripts, recursive descent, length (§4.2, language-common 3.3.4)
fn(state => {
  const paths = ['data.a', '$.data.a', 'a.b[0]', '$.a.b[2].c', '$..c', 'list[*].id', 'list[?(@.t=="a")].id',
    "list[?(@.t==='a' && @.id>1)]", 'list[-1:]', 'list[0,2].id', "['k-1']", "$['sp ace']", 'a.b.length',
    'list[(@.length-1)].id', '$.list[:2]', 'list..id', 'n', 'missing.x', '*', 'a.*', 'list[1:3].t', 'a["b"][1]',
    '$.list[?(@.id)]', 'list[?(!@.t)]', '$..b[1]', 'list[?(@.id >= 2)].t', 'list[?(@.t != "a")]'];
  const out = {};
  for (const p of paths) {
    const abs = '$.data.' + p.replace(/^\$\.?/, '');
    out[p] = {
      dataPath: dataPath(p),
      dataValue: dataValue(p)(state),
      sourceValue: sourceValue(abs)(state),
      source: source(abs)(state),
      jsonValue: jsonValue(state.data, '$.' + p.replace(/^\$\.?/, '')),
    };
  }
  return { ...state, out };
});
