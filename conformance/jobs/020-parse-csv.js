parseCsv(s => s.csv);
