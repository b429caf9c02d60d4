package http_test

import (
	"strings"
	"testing"

	"github.com/jobmediator/jobmediator/config"
)

// parseXML per major, beyond the corpus goldens (conformance 146–148, from
// Node): 3–5 take the body as given (a function is not expanded, so the
// script sees an empty document), 6 expands it and calls a callback, a bad
// selector is a named error, and the cheerio subset chains.
func TestParseXMLByMajor(t *testing.T) {
	doc := `<feed><item n="1"><t>a</t></item><item n="2"><t>b</t></item></feed>`
	for _, tc := range []struct {
		name, adaptor, job, want string
	}{
		{"4.x string body", "http@4.0.0", `parseXML('` + doc + `', $ => JSON.stringify($('item').map((i, e) => $(e).attr('n') + $(e).find('t').text()).get()));`,
			`{"data":["1a","2b"]}`},
		{"4.x function body is not expanded", "http@4.0.0", `parseXML(s => '` + doc + `', $ => String($('item').length));`, `{"data":0}`},
		{"4.x no script", "http@5", `parseXML('<a>1</a>');`, `{"data":{"body":"<a>1</a>"}}`},
		{"6.x expanded with callback", "http@6", `parseXML(s => '` + doc + `', $ => $('item').last().text(), s => ({ data: s.data, called: true }));`,
			`{"data":{"body":"b"},"called":true}`},
		{"root, filter, is, parent, eq(-1)", "http@6", `parseXML('` + doc + `', $ => JSON.stringify([$.root().find('t').length, $('item').filter('[n=2]').text(), $('t').parent().eq(-1).attr('n'), $('item').is('[n=1]'), $('t').first().parent('item').length]));`,
			`{"data":[2,"b","2",true,1]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := runHTTP(t, tc.adaptor, tc.job+`fn(s => { const o = { data: s.data }; if (s.called) o.called = true; return o; });`, config.CompatLightning, map[string]any{})
			if out.res.Error != nil {
				t.Fatalf("%+v", out.res.Error)
			}
			if got := string(out.res.State); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
	out := runHTTP(t, "http@6", `parseXML('<a/>', $ => $('a[').length);`, config.CompatLightning, map[string]any{})
	if out.res.Error == nil || !strings.Contains(out.res.Error.Message, "parseXML: selector a[") {
		t.Errorf("bad selector: %+v", out.res.Error)
	}
}
