// profile: both
// fnIf runs the operation when the condition is truthy (§4.3 fnIf)
fnIf(true, fn(state => ({ ...state, ran: true })));
