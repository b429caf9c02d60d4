// profile: both
// language-http 6 parseXML: .html() serialises as cheerio 1.0.0-rc.12 does (escapes in text and attributes, &nbsp;, void elements, comments, raw-text elements), and parsetable's default cells are that HTML (§5.2, issue 15)
// adaptor: @openfn/language-http@6.4.3
parseXML(state => state.html, $ => JSON.stringify({
  cell: $('td').first().html(),
  xml: $('item').html(),
  script: $('#s').parent().html(),
  missing: $('nothing').html(),
  table: $('table').parsetable(),
}));
