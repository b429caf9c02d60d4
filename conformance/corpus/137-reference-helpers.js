// profile: both
// lastReferenceValue reads references[0] (the oldest), referencePath strips a leading $ or . and glues the rest on, each with JSONPath forms (§4.2, language-common 3.3.4)
fn(state => {
  const paths = ['x', 'deep.y[1]', 'deep.y[*]', 'deep..y', '*', "['x']", 'deep.y.length', 'missing'];
  const last = {};
  for (const p of paths) last[p] = lastReferenceValue(p)(state);
  const refPaths = {};
  for (const p of ['[0].x', '$[1].x', '.[0]', '[*].x', '$..x']) refPaths[p] = referencePath(p);
  const viaRefPath = {};
  for (const p of ['[0].x', '[1].x', '[*].x', '..y']) viaRefPath[p] = source(referencePath(p))(state);
  return { ...state, last, refPaths, viaRefPath };
});
