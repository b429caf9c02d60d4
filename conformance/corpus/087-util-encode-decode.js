// profile: lightning
// util.encode/decode base64; objects are JSON-stringified, decode parses JSON (§4.3 util)
fn(state => ({
  ...state,
  data: {
    s: util.encode('hello'),
    o: util.encode({ a: 1 }),
    back: util.decode(util.encode('hello')),
    obj: util.decode(util.encode({ a: [1, 2] })),
    raw: util.decode(util.encode({ a: 1 }), { parseJson: false }),
  },
}));
