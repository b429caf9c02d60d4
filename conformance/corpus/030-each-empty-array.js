// profile: both
// each over an empty array leaves data and index untouched (§4.3 each)
each('$.data.items[*]', fn(state => ({ ...state, ran: true })));
