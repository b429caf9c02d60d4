// profile: both
// language-http 6 parseXML with cheerio-tableparser: parsetable over rowspan/colspan, with and without duplication, text and HTML cells; a script result that is not JSON lands in data.body (§5.2, issue 15)
// adaptor: @openfn/language-http@6.4.3
parseXML(state => state.html, $ => JSON.stringify({
  dup: $('table#stock').parsetable(true, true, true),
  nodup: $('table#stock').parsetable(false, false, true),
  html: $('table#small').parsetable(),
}));
fn(state => ({ ...state, tables: state.data, data: null }));
parseXML(state => state.html, $ => $('caption').text());
fn(state => ({ tables: state.tables, caption: state.data }));
