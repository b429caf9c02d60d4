// profile: lightning
// parseCsv strips a BOM, handles quotes and "" escapes, trims, skips empty lines (§4.3 parseCsv)
parseCsv($.data.csv);
