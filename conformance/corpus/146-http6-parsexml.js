// profile: both
// language-http 6 parseXML: an XML reply loaded by cheerio 1.0.0-rc.12 (parse5, HTML mode), tag/attribute/descendant/child selectors, text, attr, find, children, each, map, toArray, first/eq (§5.2, issue 15)
// adaptor: @openfn/language-http@6.4.3
post('/xml', { body: state => state.xml, headers: { 'content-type': 'application/xml' } });
parseXML(state => state.data.body, $ => JSON.stringify({
  count: $('Patient').length,
  lower: $('patient').length,
  ids: $('Patient').map((i, el) => $(el).attr('id')).get(),
  names: $('Bundle > entry > Patient > name').toArray().map(el => $(el).text()),
  official: $('name[use=official]').text(),
  byAttr: $('[status="final"] code').attr('value'),
  firstKids: $('Patient').first().children().map((i, el) => el.name).get(),
  second: $('Patient').eq(1).find('birthDate').attr('value'),
  missingAttr: $('Patient').first().attr('nope') === undefined,
  nested: $('entry').find('Observation valueQuantity').map(function () { return $(this).attr('value') + ' ' + $(this).attr('unit'); }).get(),
  each: (() => { const out = []; $('entry').each(function (i, el) { out.push(i + ':' + $(el).children().first().attr('id')); }); return out; })(),
  eachBreak: (() => { let n = 0; $('entry').each(() => { n++; return n < 2; }); return n; })(),
  text: $('Observation').first().text().replace(/\s+/g, ' ').trim(),
  none: $('Encounter').length,
  noneText: $('Encounter').text(),
  selfClosing: $('Patient').first().children().length,
}));
fn(state => ({ data: state.data, refs: state.references.length }));
