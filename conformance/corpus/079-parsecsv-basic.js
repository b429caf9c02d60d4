// profile: lightning
// parseCsv with defaults: columns from header, composeNextState (§4.3 parseCsv)
parseCsv('name,age\nAda,36\nAlan,41\n');
