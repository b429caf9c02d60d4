// profile: lightning
// parseCsv with a custom delimiter and columns:false gives arrays (§4.3 parseCsv)
parseCsv('a;b\n1;2', { delimiter: ';', columns: false });
