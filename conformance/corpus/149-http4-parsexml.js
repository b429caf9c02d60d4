// profile: both
// language-http 4 parseXML (cheerio 1.0.0-rc.10): the body is used as given, so a string works and a function is not expanded (an element-less document); a script returning an array lands in data.body (§5.2, issue 15)
// adaptor: @openfn/language-http@4.0.0
fn(state => parseXML(state.html, $ => JSON.stringify({
  rows: $('table tr').map((i, tr) => $(tr).children('td').map((j, td) => $(td).text().trim()).get().join('|')).get(),
  table: $('table').parsetable(false, false, true),
  links: $('a[href]').map((i, a) => $(a).attr('href')).get(),
}))(state));
fn(state => ({ ...state, first: state.data, data: null }));
parseXML(state => state.html, $ => String($('tr').length));
fn(state => ({ ...state, fromFunction: state.data, data: null }));
fn(state => parseXML(state.html, $ => $('a').toArray().map(a => a.attribs.href))(state));
fn(state => ({ first: state.first, fromFunction: state.fromFunction, array: state.data }));
