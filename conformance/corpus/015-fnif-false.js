// profile: both
// fnIf returns state unchanged when the condition is falsy (§4.3 fnIf)
fnIf(0, fn(state => ({ ...state, ran: true })));
fnIf('', fn(state => ({ ...state, ran2: true })));
