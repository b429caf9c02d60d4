package fhir

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/fhir"
)

const sharedFHIR = "../../testdata/shared/fhir"

// clock ticks one second per call, so lastUpdated values are distinct and
// reproducible.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func start(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Now == nil {
		o.Now = newClock().Now
	}
	s := New(o)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

type resp struct {
	status int
	header http.Header
	body   []byte
	doc    map[string]any
}

// do sends a request; hdr is name, value pairs. A body gets
// Content-Type: application/fhir+json unless hdr sets one.
func do(t testing.TB, method, u string, body []byte, hdr ...string) resp {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := resp{status: res.StatusCode, header: res.Header, body: b}
	if len(b) > 0 && strings.Contains(res.Header.Get("Content-Type"), "json") {
		r.doc, err = parseJSON(b)
		if err != nil {
			t.Fatalf("%s %s: response is not JSON: %v\n%s", method, u, err, b)
		}
	}
	return r
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readShared(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sharedFHIR, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// outcome checks that r is an OperationOutcome and returns its issues.
func outcome(t testing.TB, r resp) []fhir.Issue {
	t.Helper()
	var oo fhir.OperationOutcome
	if err := json.Unmarshal(r.body, &oo); err != nil {
		t.Fatalf("status %d: body is not an OperationOutcome: %v\n%s", r.status, err, r.body)
	}
	if len(oo.Issue) == 0 {
		t.Fatalf("OperationOutcome without issues: %s", r.body)
	}
	return oo.Issue
}

func issuesText(is []fhir.Issue) string {
	var sb strings.Builder
	for _, i := range is {
		sb.WriteString(i.Severity + " " + i.Code + " " + strings.Join(i.Expression, ",") + " " + i.Diagnostics + "\n")
	}
	return sb.String()
}

func str(v any, path ...string) string {
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

func patient(id, family string, extra map[string]any) []byte {
	m := map[string]any{"resourceType": "Patient", "name": []any{map[string]any{"family": family}}}
	if id != "" {
		m["id"] = id
	}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return b
}

// Every shared FHIR file is posted where it belongs and accepted or
// rejected for its documented reason.
func TestSharedFiles(t *testing.T) {
	type want struct {
		status int
		expr   string // an issue expression that must be present (errors)
		diag   string // substring of the diagnostics
	}
	special := map[string]want{
		"patient-missing-resourcetype.json":               {400, "resourceType", "missing resourceType"},
		"observation-invalid-decimal.json":                {400, "Observation.valueQuantity.value", "significant digits"},
		"observation-bloodpressure.json":                  {400, "Observation.interpretation", "expected array"},
		"dhis2adapter-get-questionnaire-response-91.json": {400, "QuestionnaireResponse.basedOn", "expected array"},
		"dhis2adapter-get-patient-15.json":                {400, "Patient.contained[0].relationship", "expected array"},
		// Bundles: transaction and batch are processed (see the bundle
		// tests); other types cannot be posted to the base.
		"bundle-transaction.json":               {400, "Bundle.entry[7]", "ValueSet/$lookup is not supported"},
		"bundle-batch.json":                     {200, "", ""},
		"dhis2adapter-create-batch-bundle.json": {200, "", ""},
		"patient-bundle-searchset.json":         {400, "Bundle.type", "got \"searchset\""},
		"spec-bundle-example.json":              {400, "Bundle.type", "got \"searchset\""},
		"dhis2adapter-search-patient-15.json":   {400, "Bundle.type", "got \"searchset\""},
	}
	files, _ := filepath.Glob(filepath.Join(sharedFHIR, "*.json"))
	if len(files) < 25 {
		t.Fatalf("expected the shared FHIR files, found %d", len(files))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			s := start(t, Options{})
			b := readShared(t, name)
			var head struct{ ResourceType, Type string }
			_ = json.Unmarshal(fhir.StripBOM(b), &head)
			w, ok := special[name]
			if !ok {
				w = want{status: 201}
			}
			u := s.URL() + "/" + head.ResourceType
			if head.ResourceType == "Bundle" {
				u = s.URL()
			} else if head.ResourceType == "" {
				u = s.URL() + "/Patient"
			}
			r := do(t, http.MethodPost, u, b)
			if r.status != w.status {
				t.Fatalf("status %d, want %d\n%s", r.status, w.status, r.body)
			}
			switch {
			case w.status == 201:
				if str(r.doc, "resourceType") != head.ResourceType || str(r.doc, "meta", "versionId") != "1" {
					t.Fatalf("created resource: %s", r.body)
				}
				if s.Count(head.ResourceType) != 1 {
					t.Fatalf("Count(%s) = %d", head.ResourceType, s.Count(head.ResourceType))
				}
				// What was stored reads back identical (decimals verbatim).
				g := do(t, http.MethodGet, r.header.Get("Location"), nil)
				if g.status != 200 || !bytes.Equal(g.body, r.body) {
					t.Fatalf("read back %d:\n%s\nwant\n%s", g.status, g.body, r.body)
				}
			case w.status >= 400:
				is := outcome(t, r)
				found := false
				for _, i := range is {
					if (w.expr == "" || (len(i.Expression) > 0 && i.Expression[0] == w.expr)) && strings.Contains(i.Diagnostics, w.diag) {
						found = true
					}
					if i.Severity == "" || i.Code == "" || i.Diagnostics == "" {
						t.Errorf("incomplete issue %+v", i)
					}
				}
				if !found {
					t.Fatalf("no issue with expression %q and %q in:\n%s", w.expr, w.diag, issuesText(is))
				}
				if n := s.Count(head.ResourceType) + s.Count("Patient"); n != 0 {
					t.Fatalf("a rejected request stored %d resources", n)
				}
			case w.status == 200:
				if str(r.doc, "type") != "batch-response" {
					t.Fatalf("not a batch-response: %s", r.body)
				}
			}
		})
	}
}

func TestCRUD(t *testing.T) {
	s := start(t, Options{})
	base := s.URL()

	// Create: the server ignores a client id, assigns its own, version 1.
	r := do(t, http.MethodPost, base+"/Patient", patient("client-id", "Chalmers", nil))
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	id := str(r.doc, "id")
	if id == "" || id == "client-id" {
		t.Fatalf("server must assign the id, got %q", id)
	}
	if got, want := r.header.Get("Location"), base+"/Patient/"+id+"/_history/1"; got != want {
		t.Errorf("Location %q, want %q", got, want)
	}
	if r.header.Get("ETag") != `W/"1"` || r.header.Get("Last-Modified") == "" {
		t.Errorf("headers: %v", r.header)
	}
	if ct := r.header.Get("Content-Type"); ct != fhirCT {
		t.Errorf("Content-Type %q", ct)
	}
	if lu := str(r.doc, "meta", "lastUpdated"); !strings.HasPrefix(lu, "2024-03-01T08:00:0") || !strings.HasSuffix(lu, ".000Z") {
		t.Errorf("lastUpdated %q", str(r.doc, "meta", "lastUpdated"))
	}
	if !bytes.HasPrefix(r.body, []byte(`{"resourceType":"Patient","id":`)) {
		t.Errorf("resourceType and id should lead: %s", r.body)
	}

	// Read.
	g := do(t, http.MethodGet, base+"/Patient/"+id, nil)
	if g.status != 200 {
		t.Fatalf("read: %d", g.status)
	}
	if g.header.Get("ETag") != `W/"1"` {
		t.Errorf("read ETag %q", g.header.Get("ETag"))
	}
	if c := do(t, http.MethodGet, base+"/Patient/"+id, nil, "If-None-Match", `W/"1"`); c.status != 304 {
		t.Errorf("If-None-Match current version: %d, want 304", c.status)
	}

	// Update: 200, version 2; an identical update is a no-op (HAPI).
	u := do(t, http.MethodPut, base+"/Patient/"+id, patient(id, "Chalmers-Smith", nil))
	if u.status != 200 || str(u.doc, "meta", "versionId") != "2" || u.header.Get("ETag") != `W/"2"` {
		t.Fatalf("update: %d %s", u.status, u.body)
	}
	u2 := do(t, http.MethodPut, base+"/Patient/"+id, patient(id, "Chalmers-Smith", nil))
	if u2.status != 200 || str(u2.doc, "meta", "versionId") != "2" {
		t.Fatalf("no-op update: %d %s", u2.status, u2.body)
	}

	// vread and history.
	if v := do(t, http.MethodGet, base+"/Patient/"+id+"/_history/1", nil); v.status != 200 || !strings.Contains(string(v.body), `"Chalmers"`) {
		t.Errorf("vread 1: %d %s", v.status, v.body)
	}
	if v := do(t, http.MethodGet, base+"/Patient/"+id+"/_history/9", nil); v.status != 404 {
		t.Errorf("vread 9: %d", v.status)
	}

	// Update-as-create with a client id.
	c := do(t, http.MethodPut, base+"/Patient/abc-1", patient("abc-1", "New", nil))
	if c.status != 201 || c.header.Get("Location") != base+"/Patient/abc-1/_history/1" {
		t.Fatalf("update-as-create: %d %v %s", c.status, c.header, c.body)
	}

	// Delete: 204, then 410 on read, delete again still 204.
	d := do(t, http.MethodDelete, base+"/Patient/"+id, nil)
	if d.status != 204 || len(d.body) != 0 {
		t.Fatalf("delete: %d %s", d.status, d.body)
	}
	gone := do(t, http.MethodGet, base+"/Patient/"+id, nil)
	if gone.status != 410 || outcome(t, gone)[0].Code != "deleted" {
		t.Fatalf("read deleted: %d %s", gone.status, gone.body)
	}
	if d := do(t, http.MethodDelete, base+"/Patient/"+id, nil); d.status != 204 {
		t.Errorf("second delete: %d", d.status)
	}
	if d := do(t, http.MethodDelete, base+"/Patient/never", nil, "Prefer", "return=OperationOutcome"); d.status != 200 || outcome(t, d)[0].Severity != "information" {
		t.Errorf("delete missing with Prefer OO: %d %s", d.status, d.body)
	}
	h := do(t, http.MethodGet, base+"/Patient/"+id+"/_history", nil)
	if h.status != 200 || str(h.doc, "type") != "history" || h.doc["total"].(json.Number) != "3" {
		t.Errorf("history: %d %s", h.status, h.body)
	}
	if oo := fhir.Validate(h.body); oo.HasErrors() {
		t.Errorf("history bundle invalid: %s", issuesText(oo.Issue))
	}
	// An update brings a deleted resource back (HAPI), as version 4.
	if r := do(t, http.MethodPut, base+"/Patient/"+id, patient(id, "Back", nil)); r.status != 201 || str(r.doc, "meta", "versionId") != "4" {
		t.Errorf("resurrect: %d %s", r.status, r.body)
	}
	if s.Count("Patient") != 2 {
		t.Errorf("Count = %d, want 2", s.Count("Patient"))
	}
	if got := s.Resources("Patient"); len(got) != 2 || got[0]["id"] != id || got[1]["id"] != "abc-1" {
		t.Errorf("Resources: %v", got)
	}
}

func TestPrefer(t *testing.T) {
	s := start(t, Options{})
	min := do(t, http.MethodPost, s.URL()+"/Patient", patient("", "A", nil), "Prefer", "return=minimal")
	if min.status != 201 || len(min.body) != 0 || min.header.Get("Location") == "" {
		t.Errorf("minimal: %d %q %v", min.status, min.body, min.header)
	}
	oo := do(t, http.MethodPost, s.URL()+"/Patient", patient("", "B", nil), "Prefer", "return=OperationOutcome")
	if oo.status != 201 || str(oo.doc, "resourceType") != "OperationOutcome" || !strings.Contains(outcome(t, oo)[0].Diagnostics, "Successfully created") {
		t.Errorf("OperationOutcome: %d %s", oo.status, oo.body)
	}
	rep := do(t, http.MethodPost, s.URL()+"/Patient", patient("", "C", nil), "Prefer", "return=representation")
	if rep.status != 201 || str(rep.doc, "resourceType") != "Patient" {
		t.Errorf("representation: %d %s", rep.status, rep.body)
	}
}

func TestWriteErrors(t *testing.T) {
	s := start(t, Options{})
	if err := s.Seed(patient("p1", "Seeded", nil)); err != nil {
		t.Fatal(err)
	}
	obs := `{"resourceType":"Observation","status":"final","code":{"text":"x"}}`
	tests := []struct {
		name, method, path, body string
		status                   int
		code, expr, diag         string
	}{
		{"type mismatch", "POST", "/Patient", obs, 400, "invalid", "resourceType", "does not match"},
		{"unknown type", "POST", "/Patient2", obs, 404, "not-supported", "", "unknown resource type"},
		{"not JSON", "POST", "/Patient", `{"resourceType":`, 400, "structure", "", "not a JSON object"},
		{"JSON array", "POST", "/Patient", `[]`, 400, "structure", "", "not a JSON object"},
		{"empty body", "POST", "/Patient", ` `, 400, "required", "", "empty"},
		{"unknown element", "POST", "/Patient", `{"resourceType":"Patient","gender1":"male"}`, 400, "structure", "Patient.gender1", "unknown element"},
		{"bad code", "POST", "/Observation", `{"resourceType":"Observation","status":"FINAL","code":{"text":"x"}}`, 400, "value", "Observation.status", ""},
		{"missing required", "POST", "/Observation", `{"resourceType":"Observation","status":"final"}`, 400, "required", "Observation.code", ""},
		{"PUT id mismatch", "PUT", "/Patient/p1", string(patient("p2", "X", nil)), 400, "invalid", "Patient.id", "does not match"},
		{"PUT without id", "PUT", "/Patient/p1", string(patient("", "X", nil)), 400, "required", "Patient.id", "must have an id"},
		{"PUT type only", "PUT", "/Patient", string(patient("p1", "X", nil)), 400, "invalid", "", "PUT needs"},
		{"bad id in URL", "GET", "/Patient/a_b", "", 400, "invalid", "", "invalid id"},
		{"bad id in body", "POST", "/Patient", `{"resourceType":"Patient","id":"a b"}`, 400, "invalid", "id", "invalid id"},
		{"read missing", "GET", "/Patient/nope", "", 404, "not-found", "", "not known"},
		{"operation", "POST", "/Patient/$everything", "{}", 400, "not-supported", "", "not supported"},
		{"method", "PATCH", "/Patient", "{}", 405, "not-supported", "", "not supported"},
		{"outside base", "GET", "/../other", "", 404, "not-found", "", "outside the FHIR base"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.body != "" {
				body = []byte(tc.body)
			}
			u := s.URL() + tc.path
			if tc.name == "outside base" {
				u = strings.TrimSuffix(s.URL(), "/fhir") + "/other"
			}
			r := do(t, tc.method, u, body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			is := outcome(t, r)
			ok := false
			for _, i := range is {
				if i.Code == tc.code && (tc.expr == "" || strings.Join(i.Expression, ",") == tc.expr) && strings.Contains(i.Diagnostics, tc.diag) {
					ok = true
				}
			}
			if !ok {
				t.Fatalf("want code %s expr %q diag %q in\n%s", tc.code, tc.expr, tc.diag, issuesText(is))
			}
		})
	}
	if s.Count("Patient") != 1 || s.Count("Observation") != 0 {
		t.Errorf("failed writes stored something: %d patients, %d observations", s.Count("Patient"), s.Count("Observation"))
	}
	if p, _ := s.Resource("Patient", "p1"); str(p, "meta", "versionId") != "1" {
		t.Errorf("p1 changed: %v", p)
	}
}

func TestIfMatch(t *testing.T) {
	s := start(t, Options{})
	if err := s.Seed(patient("p1", "A", nil)); err != nil {
		t.Fatal(err)
	}
	u := s.URL() + "/Patient/p1"
	if r := do(t, "PUT", u, patient("p1", "B", nil), "If-Match", `W/"1"`); r.status != 200 || r.header.Get("ETag") != `W/"2"` {
		t.Fatalf("matching If-Match: %d %s", r.status, r.body)
	}
	r := do(t, "PUT", u, patient("p1", "C", nil), "If-Match", `W/"1"`)
	if r.status != 412 || outcome(t, r)[0].Code != "conflict" {
		t.Fatalf("stale If-Match: %d %s", r.status, r.body)
	}
	if p, _ := s.Resource("Patient", "p1"); str(p, "meta", "versionId") != "2" {
		t.Errorf("412 must not write: %v", p)
	}
	if r := do(t, "DELETE", u, nil, "If-Match", `W/"1"`); r.status != 412 {
		t.Errorf("stale If-Match delete: %d", r.status)
	}
	if r := do(t, "PUT", s.URL()+"/Patient/p9", patient("p9", "C", nil), "If-Match", `W/"1"`); r.status != 412 {
		t.Errorf("If-Match on a missing resource: %d", r.status)
	}
}

func TestConditionalCreate(t *testing.T) {
	s := start(t, Options{})
	ident := map[string]any{"identifier": []any{map[string]any{"system": "http://ex.org/ids", "value": "42"}}}
	hdr := []string{"If-None-Exist", "identifier=http://ex.org/ids|42"}
	first := do(t, "POST", s.URL()+"/Patient", patient("", "A", ident), hdr...)
	if first.status != 201 {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	// The rerun of an idempotent job: nothing created, the existing one back.
	second := do(t, "POST", s.URL()+"/Patient", patient("", "A", ident), hdr...)
	if second.status != 200 || str(second.doc, "id") != str(first.doc, "id") {
		t.Fatalf("second: %d %s", second.status, second.body)
	}
	if second.header.Get("Location") != first.header.Get("Location") {
		t.Errorf("Location %q vs %q", second.header.Get("Location"), first.header.Get("Location"))
	}
	if s.Count("Patient") != 1 {
		t.Fatalf("Count = %d, want 1", s.Count("Patient"))
	}
	// Two matches: 412.
	if err := s.Seed(patient("dup", "A", ident)); err != nil {
		t.Fatal(err)
	}
	third := do(t, "POST", s.URL()+"/Patient", patient("", "A", ident), hdr...)
	if third.status != 412 || outcome(t, third)[0].Code != "multiple-matches" {
		t.Fatalf("two matches: %d %s", third.status, third.body)
	}
	// Unknown parameters in a condition are an error, not ignored (which
	// would match everything).
	bad := do(t, "POST", s.URL()+"/Patient", patient("", "A", nil), "If-None-Exist", "foo=bar")
	if bad.status != 400 || !strings.Contains(outcome(t, bad)[0].Diagnostics, `unknown search parameter "foo"`) {
		t.Fatalf("unknown param: %d %s", bad.status, bad.body)
	}
	if s.Count("Patient") != 2 {
		t.Errorf("Count = %d, want 2", s.Count("Patient"))
	}
}

func TestConditionalUpdateAndDelete(t *testing.T) {
	s := start(t, Options{})
	ident := func(v string) map[string]any {
		return map[string]any{"identifier": []any{map[string]any{"system": "urn:sys", "value": v}}}
	}
	u := s.URL() + "/Patient?identifier=urn:sys|7"
	r := do(t, "PUT", u, patient("", "A", ident("7")))
	if r.status != 201 {
		t.Fatalf("0 matches: %d %s", r.status, r.body)
	}
	id := str(r.doc, "id")
	r = do(t, "PUT", u, patient("", "B", ident("7")))
	if r.status != 200 || str(r.doc, "id") != id || str(r.doc, "meta", "versionId") != "2" {
		t.Fatalf("1 match: %d %s", r.status, r.body)
	}
	if r := do(t, "PUT", u, patient("other", "B", ident("7"))); r.status != 400 {
		t.Fatalf("body id differs from the match: %d %s", r.status, r.body)
	}
	// 0 matches with a client id: created under that id.
	if r := do(t, "PUT", s.URL()+"/Patient?identifier=urn:sys|8", patient("mine", "C", ident("8"))); r.status != 201 || str(r.doc, "id") != "mine" {
		t.Fatalf("create with client id: %d %s", r.status, r.body)
	}
	if err := s.Seed(patient("p2", "D", ident("7"))); err != nil {
		t.Fatal(err)
	}
	if r := do(t, "PUT", u, patient("", "E", ident("7"))); r.status != 412 {
		t.Fatalf("2 matches: %d %s", r.status, r.body)
	}
	if r := do(t, "DELETE", u, nil); r.status != 412 {
		t.Fatalf("conditional delete, 2 matches: %d %s", r.status, r.body)
	}
	if r := do(t, "DELETE", s.URL()+"/Patient?identifier=urn:sys|8", nil); r.status != 204 {
		t.Fatalf("conditional delete, 1 match: %d %s", r.status, r.body)
	}
	if r := do(t, "DELETE", s.URL()+"/Patient?identifier=urn:sys|none", nil); r.status != 204 {
		t.Fatalf("conditional delete, 0 matches: %d %s", r.status, r.body)
	}
	if s.Count("Patient") != 2 {
		t.Errorf("Count = %d, want 2", s.Count("Patient"))
	}
}

func TestCheckReferences(t *testing.T) {
	s := start(t, Options{CheckReferences: true})
	obs := func(ref string) []byte {
		return []byte(`{"resourceType":"Observation","status":"final","code":{"text":"w"},"subject":{"reference":"` + ref + `"}}`)
	}
	r := do(t, "POST", s.URL()+"/Observation", obs("Patient/does-not-exist"))
	if r.status != 422 {
		t.Fatalf("missing reference: %d %s", r.status, r.body)
	}
	is := outcome(t, r)
	if is[0].Code != "processing" || strings.Join(is[0].Expression, "") != "Observation.subject" {
		t.Fatalf("issue: %s", issuesText(is))
	}
	if err := s.Seed(patient("p1", "A", nil)); err != nil {
		t.Fatal(err)
	}
	if r := do(t, "POST", s.URL()+"/Observation", obs("Patient/p1")); r.status != 201 {
		t.Fatalf("existing reference: %d %s", r.status, r.body)
	}
	// Without the option a dangling reference is stored (lenient servers).
	s2 := start(t, Options{})
	if r := do(t, "POST", s2.URL()+"/Observation", obs("Patient/does-not-exist")); r.status != 201 {
		t.Fatalf("unchecked: %d %s", r.status, r.body)
	}
}

func TestContentNegotiation(t *testing.T) {
	s := start(t, Options{})
	p := patient("", "A", nil)
	tests := []struct {
		name   string
		method string
		query  string
		body   []byte
		hdr    []string
		status int
		ct     string
	}{
		{"fhir+json", "POST", "", p, nil, 201, fhirCT},
		{"fhir+json charset fhirVersion", "POST", "", p, []string{"Content-Type", "application/fhir+json; charset=utf-8; fhirVersion=4.0"}, 201, fhirCT},
		{"application/json", "POST", "", p, []string{"Content-Type", "application/json"}, 201, fhirCT},
		{"xml body", "POST", "", []byte(`<Patient xmlns="http://hl7.org/fhir"/>`), []string{"Content-Type", "application/fhir+xml"}, 415, ""},
		{"text body", "POST", "", p, []string{"Content-Type", "text/plain"}, 415, ""},
		{"no content type", "POST", "", p, []string{"Content-Type", ""}, 415, ""},
		{"accept xml only", "GET", "", nil, []string{"Accept", "application/fhir+xml"}, 406, ""},
		{"accept xml or json", "GET", "", nil, []string{"Accept", "application/fhir+xml;q=0.9, application/fhir+json"}, 200, fhirCT},
		{"accept json", "GET", "", nil, []string{"Accept", "application/json"}, 200, jsonCT},
		{"accept any", "GET", "", nil, []string{"Accept", "*/*"}, 200, fhirCT},
		{"_format xml", "GET", "?_format=xml", nil, nil, 406, ""},
		{"_format json overrides Accept", "GET", "?_format=json", nil, []string{"Accept", "application/xml"}, 200, fhirCT},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, tc.method, s.URL()+"/Patient"+tc.query, tc.body, tc.hdr...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status >= 400 {
				if is := outcome(t, r); is[0].Code != "not-supported" {
					t.Errorf("code %s", is[0].Code)
				}
				return
			}
			if got := r.header.Get("Content-Type"); got != tc.ct {
				t.Errorf("Content-Type %q, want %q", got, tc.ct)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	s := start(t, Options{BearerTokens: []string{"tok-s3cret-123"}, Users: []User{{Username: "mediator", Password: "pa55word-xyz"}}})
	basic := "Basic " + base64Std("mediator:pa55word-xyz")
	tests := []struct {
		name   string
		auth   string
		status int
	}{
		{"none", "", 401},
		{"bearer ok", "Bearer tok-s3cret-123", 200},
		{"bearer wrong", "Bearer nope", 401},
		{"basic ok", basic, 200},
		{"basic wrong password", "Basic " + base64Std("mediator:wrong"), 401},
		{"basic garbage", "Basic !!!", 401},
		{"other scheme", "Digest abc", 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, "GET", s.URL()+"/Patient?_summary=count", nil, "Authorization", tc.auth)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status == 401 {
				if is := outcome(t, r); is[0].Code != "login" {
					t.Errorf("code %q", is[0].Code)
				}
				ch := strings.Join(r.header.Values("WWW-Authenticate"), " | ")
				if !strings.Contains(ch, "Bearer") || !strings.Contains(ch, "Basic") {
					t.Errorf("WWW-Authenticate %q", ch)
				}
				if strings.Contains(string(r.body), "s3cret") || strings.Contains(string(r.body), "pa55word") {
					t.Errorf("secret in error: %s", r.body)
				}
			}
		})
	}
	// The CapabilityStatement is public (SMART clients read it first).
	if r := do(t, "GET", s.URL()+"/metadata", nil); r.status != 200 {
		t.Fatalf("metadata: %d", r.status)
	}
	// Recorded requests never hold a credential.
	do(t, "POST", s.URL()+"/Patient?note=pa55word-xyz", []byte(`{"resourceType":"Patient","id":"x","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">tok-s3cret-123</div>"}}`),
		"Authorization", basic)
	reqs := s.Requests()
	if len(reqs) != len(tests)+2 {
		t.Fatalf("recorded %d requests", len(reqs))
	}
	for _, rec := range reqs {
		all, _ := json.Marshal(rec)
		for _, secret := range []string{"tok-s3cret-123", "pa55word-xyz", base64Std("mediator:pa55word-xyz")} {
			if strings.Contains(string(all), secret) {
				t.Errorf("recorded request holds a secret: %s", all)
			}
		}
	}
	last := reqs[len(reqs)-1]
	if last.Method != "POST" || last.Path != "/fhir/Patient" || last.Header.Get("Authorization") != "Basic ***" || !strings.Contains(string(last.Body), `"resourceType":"Patient"`) {
		t.Errorf("last recorded: %+v", last)
	}
}

func base64Std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestFaults(t *testing.T) {
	s := start(t, Options{})
	s.FailNext(2, 503)
	for i := 0; i < 2; i++ {
		r := do(t, "GET", s.URL()+"/Patient", nil)
		if r.status != 503 || r.header.Get("Retry-After") != "1" || outcome(t, r)[0].Code != "transient" {
			t.Fatalf("fault %d: %d %v %s", i, r.status, r.header, r.body)
		}
	}
	if r := do(t, "GET", s.URL()+"/Patient", nil); r.status != 200 {
		t.Fatalf("after faults: %d", r.status)
	}
	s.FailNext(1, 429)
	if r := do(t, "POST", s.URL()+"/Patient", patient("", "A", nil)); r.status != 429 || r.header.Get("Retry-After") != "1" {
		t.Fatalf("429: %d", r.status)
	}
	if s.Count("Patient") != 0 {
		t.Fatalf("a failed request was processed")
	}
	s.FailNext(1, 502)
	if r := do(t, "GET", s.URL()+"/Patient", nil); r.status != 502 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !strings.Contains(string(r.body), "<html>") {
		t.Fatalf("502: %d %v", r.status, r.header)
	}
	s.FailNext(1, 500)
	if r := do(t, "GET", s.URL()+"/Patient", nil); r.status != 500 || outcome(t, r)[0].Code != "exception" {
		t.Fatalf("500: %d", r.status)
	}

	// Dropped connection: the client sees a truncated body.
	s.DropNext(1)
	res, err := http.Get(s.URL() + "/Patient")
	if err == nil {
		_, err = io.ReadAll(res.Body)
		res.Body.Close()
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("drop: want unexpected EOF, got %v", err)
	}

	// Latency: a client with a shorter timeout gives up.
	s.SetLatency(2 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL()+"/Patient", nil)
	if _, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("latency: want deadline exceeded, got %v", err)
	}
	s.SetLatency(0)
	if r := do(t, "GET", s.URL()+"/Patient", nil); r.status != 200 {
		t.Fatalf("after latency: %d", r.status)
	}
	if n := len(s.Requests()); n != 9 {
		t.Errorf("recorded %d requests, want 9 (faults are recorded too)", n)
	}
}

func TestCapabilityStatement(t *testing.T) {
	s := start(t, Options{BearerTokens: []string{"tok-abcdef"}})
	r := do(t, "GET", s.URL()+"/metadata", nil)
	if r.status != 200 || str(r.doc, "fhirVersion") != "4.0.1" || str(r.doc, "resourceType") != "CapabilityStatement" {
		t.Fatalf("%d %s", r.status, r.body[:200])
	}
	if oo := fhir.Validate(r.body); oo.HasErrors() {
		t.Fatalf("CapabilityStatement is not valid R4:\n%s", issuesText(oo.Issue))
	}
	rest := r.doc["rest"].([]any)[0].(map[string]any)
	var pat map[string]any
	for _, x := range rest["resource"].([]any) {
		if m := x.(map[string]any); m["type"] == "Patient" {
			pat = m
		}
	}
	if pat == nil || len(rest["resource"].([]any)) < 140 {
		t.Fatalf("resources: %d", len(rest["resource"].([]any)))
	}
	got := string(mustJSON(t, pat))
	for _, want := range []string{`"code":"create"`, `"code":"search-type"`, `"name":"identifier","type":"token"`, `"name":"birthdate","type":"date"`} {
		if !strings.Contains(got, want) {
			t.Errorf("Patient entry lacks %s: %s", want, got)
		}
	}
	if strings.Contains(got, `"name":"code"`) {
		t.Errorf("Patient has no code parameter: %s", got)
	}
}

func TestSeed(t *testing.T) {
	s := start(t, Options{})
	if err := s.Seed(readShared(t, "dhis2adapter-search-patient-15.json"), readShared(t, "spec-organization-example.json")); err != nil {
		t.Fatal(err)
	}
	if s.Count("Patient") != 1 || s.Count("Organization") != 1 {
		t.Fatalf("counts %d %d", s.Count("Patient"), s.Count("Organization"))
	}
	if p, ok := s.Resource("Patient", "15"); !ok || str(p, "meta", "versionId") != "1" {
		t.Fatalf("seeded patient: %v", p)
	}
	err := s.Seed(patient("ok", "A", nil), readShared(t, "observation-bloodpressure.json"))
	if err == nil || !strings.Contains(err.Error(), "interpretation") {
		t.Fatalf("bad seed: %v", err)
	}
	if _, ok := s.Resource("Patient", "ok"); ok {
		t.Fatal("a failed Seed stored something")
	}
	if err := s.Seed([]byte("nope")); err == nil {
		t.Fatal("non-JSON seed accepted")
	}
}
