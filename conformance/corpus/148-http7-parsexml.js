// profile: both
// language-http 7.2.10 parseXML hands cheerio.load {body: data}: the script sees a document without elements, and without a script data is {body: {body: data}} (§5.2, issue 15)
// adaptor: @openfn/language-http@7.2.10
parseXML(state => state.xml, $ => JSON.stringify({ count: $('Patient').length, text: $('Patient').text(), root: $.root().children().length }));
fn(state => ({ ...state, seen: state.data, data: null }));
parseXML(state => state.xml);
fn(state => ({ seen: state.seen, data: state.data }));
