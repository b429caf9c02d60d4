// profile: both
// fn is synchronous in language-common: calling .then on what it returns is a TypeError, as in OpenFn (§4.3, issue 15)
fn(state => fn(s => ({ ...s, inner: true }))(state).then(s => s));
