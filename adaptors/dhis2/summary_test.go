package dhis2

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const shared = "../../testdata/shared/dhis2"

func TestParseImportSummaryShared(t *testing.T) {
	cases := []struct {
		file, kind, envelope, status string
		count                        ImportCount
		conflicts                    int
		describe                     string
	}{
		{"docs-tracker-import-report.json", "tracker", "bare", "OK", ImportCount{Imported: 3}, 0, "imported 3"},
		{"docs-datavalue-import-tasksummary.json", "aggregate", "bare", "", ImportCount{}, 0, "aggregate import"},
		{"adapter-legacy-tei-create-importsummaries.json", "legacy", "webmessage", "", ImportCount{}, 0, "legacy import"},
		{"adapter-legacy-events-create-importsummaries.json", "legacy", "webmessage", "", ImportCount{}, 0, "legacy import"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(shared, c.file))
			if err != nil {
				t.Fatalf("shared testdata: %v", err)
			}
			s, ok := ParseImportSummary(b)
			if !ok {
				t.Fatalf("not recognised as an import")
			}
			if s.Kind != c.kind || s.Envelope != c.envelope || (c.status != "" && s.Status != c.status) || len(s.Conflicts) != c.conflicts || (c.count != ImportCount{} && s.ImportCount != c.count) {
				t.Errorf("got %+v", s)
			}
			if !strings.Contains(s.Describe(), c.describe) {
				t.Errorf("describe %q lacks %q", s.Describe(), c.describe)
			}
		})
	}
	for _, f := range []string{"docs-datavalueset-async-response.json", "docs-webmessage-error-403.json", "adapter-organisationUnits-page.json", "docs-tracker-async-response.json"} {
		b, err := os.ReadFile(filepath.Join(shared, f))
		if err != nil {
			continue
		}
		if s, ok := ParseImportSummary(b); ok {
			t.Errorf("%s is not an import response, parsed as %+v", f, s)
		}
	}
}

func TestParseImportSummaryShapes(t *testing.T) {
	cases := []struct {
		name, body string
		ok         bool
		want       string // Describe() substring
	}{
		{"bare 2.36", `{"responseType":"ImportSummary","status":"WARNING","importCount":{"imported":2,"updated":0,"ignored":1,"deleted":0},"conflicts":[{"object":"XyZ","value":"Data element not found"}]}`, true, "imported 2, updated 0, ignored 1, deleted 0; 1 conflict(s): XyZ: Data element not found"},
		{"webmessage 409 ERROR", `{"httpStatus":"Conflict","httpStatusCode":409,"status":"ERROR","message":"An error occurred","response":{"responseType":"ImportSummary","status":"ERROR","importCount":{"imported":0,"updated":0,"ignored":3,"deleted":0},"conflicts":[{"objects":{"dataSet":"nope"},"value":"Data set not found","errorCode":"E7600","property":"dataSet"}]}}`, true, "E7600 dataSet nope: Data set not found"},
		{"tracker with BOM", "\ufeff" + `{"status":"OK","validationReport":{"errorReports":[]},"stats":{"created":1,"updated":2,"deleted":0,"ignored":0,"total":3},"bundleReport":{"typeReportMap":{"TRACKED_ENTITY":{"objectReports":[{"uid":"abcdefghijk"}]}}}}`, true, "DHIS2 tracker import OK: imported 1, updated 2"},
		{"metadata", `{"httpStatusCode":409,"status":"ERROR","response":{"responseType":"ImportReport","status":"ERROR","stats":{"created":0,"updated":0,"deleted":0,"ignored":1,"total":1},"typeReports":[{"klass":"x","objectReports":[{"uid":"u1","errorReports":[{"message":"Missing name","errorCode":"E4000","errorProperty":"name"}]}]}]}}`, true, "E4000 name u1: Missing name"},
		{"many conflicts capped", `{"status":"WARNING","importCount":{"imported":0,"updated":0,"ignored":12,"deleted":0},"conflicts":[` + strings.Repeat(`{"object":"o","value":"v"},`, 11) + `{"object":"o","value":"v"}]}`, true, "… 2 more"},
		{"plain webmessage", `{"httpStatus":"Unauthorized","httpStatusCode":401,"status":"ERROR","message":"Unauthorized"}`, false, ""},
		{"html", `<html>502</html>`, false, ""},
		{"array", `[1,2]`, false, ""},
		{"empty", ``, false, ""},
		{"broken json", `{"importCount":`, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, ok := ParseImportSummary([]byte(c.body))
			if ok != c.ok {
				t.Fatalf("ok = %v, want %v", ok, c.ok)
			}
			if ok && !strings.Contains(s.Describe(), c.want) {
				t.Errorf("Describe() = %q, want it to contain %q", s.Describe(), c.want)
			}
		})
	}
}

func TestWebMessageText(t *testing.T) {
	if got := webMessageText([]byte(`{"httpStatusCode":409,"status":"ERROR","message":"Limit too big","errorCode":"E1","devMessage":"detail"}`)); got != "E1: Limit too big (detail)" {
		t.Errorf("got %q", got)
	}
	if got := webMessageText([]byte(`<html/>`)); got != "" {
		t.Errorf("got %q", got)
	}
}

func BenchmarkParseImportSummary(b *testing.B) {
	body := []byte(`{"httpStatus":"Conflict","httpStatusCode":409,"status":"WARNING","message":"One more conflicts encountered","response":{"responseType":"ImportSummary","status":"WARNING","importCount":{"imported":1,"updated":0,"ignored":1,"deleted":0},"conflicts":[{"object":"INVALID_1","objects":{"dataElement":"INVALID_1"},"value":"Data element not found","errorCode":"E7610","property":"dataElement","indexes":[1]}],"rejectedIndexes":[1]}}`)
	for i := 0; i < b.N; i++ {
		if _, ok := ParseImportSummary(body); !ok {
			b.Fatal("not parsed")
		}
	}
}
