fn(state => state);
fn(state => { throw new Error('bad record ' + state.configuration.password); });
