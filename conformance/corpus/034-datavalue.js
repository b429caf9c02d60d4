// profile: both
// dataValue(path) reads the first match under $.data (§4.3 dataValue)
fn(state => ({ ...state, name: dataValue('person.name')(state), first: dataValue('person.tags[0]')(state) }));
