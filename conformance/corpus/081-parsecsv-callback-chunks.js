// profile: lightning
// parseCsv flushes rows every chunkSize to the callback (§4.3 parseCsv)
parseCsv('a\n1\n2\n3\n4\n5', { chunkSize: 2, unknownOption: true }, (state, rows) => ({ ...state, chunks: [...(state.chunks || []), rows.map(r => r.a)] }));
