// profile: legacy
// legacy sloppy mode: for (elt of list) with an undeclared loop variable works (§1.2, §6.5.2)
fn(state => {
  const out = [];
  for (elt of state.data.errors) out.push(elt.code);
  return { ...state, codes: out };
});
