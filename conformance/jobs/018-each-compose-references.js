each('$.data.items[*]', fn(s => composeNextState(s, { posted: s.data.id })));
