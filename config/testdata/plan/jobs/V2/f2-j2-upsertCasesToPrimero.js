fn(state => state); // f2-j2-upsertCasesToPrimero
