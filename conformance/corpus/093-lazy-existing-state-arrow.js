// profile: lightning
// an argument that already is state => ... is not re-wrapped; $ inside becomes state (§1.4)
fnIf(state => $.data.flag, fn(state => ({ ...state, flagged: true })));
