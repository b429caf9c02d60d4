fn(state => state);
fn(state => { return { ...state, ; });
