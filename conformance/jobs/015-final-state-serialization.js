fn(s => {
  const o = { a: 1, f() {}, u: undefined, d: new Date(Date.UTC(2024, 1, 29)), n: NaN, i: Infinity };
  o.self = o;
  return { ...s, o, helper: () => 1 };
});
