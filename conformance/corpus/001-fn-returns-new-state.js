// profile: both
// fn: the return value becomes the next state; configuration dropped (lightning) or kept (legacy) (§4.3 fn, §2.2, §2.4)
fn(state => ({ ...state, data: { greeting: 'hello ' + state.data.name } }));
