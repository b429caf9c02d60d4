// profile: both
// nested each: the inner loop sees the outer item as data (§4.3 each)
each('$.data.groups[*]', each('$.data.members[*]', fn(state => ({ ...state, all: [...(state.all || []), state.data] }))));
