package fhir

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jobmediator/jobmediator/fhir"
)

var update = flag.Bool("update", false, "rewrite golden files")

func entries(t testing.TB, doc map[string]any) []map[string]any {
	t.Helper()
	es, _ := doc["entry"].([]any)
	out := make([]map[string]any, len(es))
	for i, e := range es {
		out[i] = e.(map[string]any)
	}
	return out
}

func statuses(t testing.TB, doc map[string]any) []string {
	var out []string
	for _, e := range entries(t, doc) {
		out = append(out, str(e, "response", "status"))
	}
	return out
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	norm, err := fhir.Normalize(got)
	if err != nil {
		t.Fatal(err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, norm, "", "  "); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(pretty.Bytes(), '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(bytes.TrimSpace(want), bytes.TrimSpace(pretty.Bytes())) {
		t.Fatalf("%s differs from golden:\n%s", name, pretty.Bytes())
	}
}

// A server-independent base so golden files do not depend on the port.
func portless(s *Server, b []byte) []byte {
	return bytes.ReplaceAll(b, []byte(s.URL()), []byte("http://fhir.test/fhir"))
}

func TestBatchSharedFile(t *testing.T) {
	s := start(t, Options{})
	r := do(t, "POST", s.URL(), readShared(t, "bundle-batch.json"))
	if r.status != 200 || str(r.doc, "type") != "batch-response" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	want := []string{
		"201 Created",             // POST Patient
		"201 Created",             // POST Patient, ifNoneExist: no match
		"201 Created",             // PUT Patient/123: update as create
		"201 Created",             // PUT Patient?identifier=…456456: no match, create
		"412 Precondition Failed", // PUT Patient/123 with If-Match W/"3a": it is at 1
		"204 No Content",          // DELETE Patient/234: nothing there
		"204 No Content",          // DELETE Patient?identifier=123456: no match
		"400 Bad Request",         // POST ValueSet/$lookup: operation not supported
		"200 OK",                  // GET Patient?name=peter&_total=none
		"404 Not Found",           // GET Patient/12334
	}
	if got := statuses(t, r.doc); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("statuses\n%v\nwant\n%v", got, want)
	}
	es := entries(t, r.doc)
	if str(es[4], "response", "outcome", "resourceType") != "OperationOutcome" {
		t.Errorf("failed entry without outcome: %v", es[4])
	}
	search := es[8]["resource"].(map[string]any)
	if search["type"] != "searchset" || len(search["entry"].([]any)) != 4 || search["total"] != nil {
		t.Errorf("GET entry: %v", search)
	}
	if loc := str(es[2], "response", "location"); loc != "Patient/123/_history/1" {
		t.Errorf("location %q", loc)
	}
	if s.Count("Patient") != 4 {
		t.Errorf("Count = %d, want 4", s.Count("Patient"))
	}
	if oo := fhir.Validate(r.body); oo.HasErrors() {
		t.Errorf("batch-response invalid:\n%s", issuesText(oo.Issue))
	}
	golden(t, "bundle-batch.response.json", portless(s, r.body))
}

// The DHIS2 FHIR adapter's batch PUTs to "Patient" (no id, no criteria) and
// references other entries by urn:uuid: both are errors in a batch, so
// every entry fails on its own and the batch still answers 200.
func TestBatchDHIS2Adapter(t *testing.T) {
	s := start(t, Options{})
	r := do(t, "POST", s.URL(), readShared(t, "dhis2adapter-create-batch-bundle.json"))
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	for i, e := range entries(t, r.doc) {
		if st := str(e, "response", "status"); st != "400 Bad Request" {
			t.Errorf("entry %d: %s", i, st)
		}
		oo, _ := json.Marshal(e["response"].(map[string]any)["outcome"])
		if !strings.Contains(string(oo), "PUT needs") {
			t.Errorf("entry %d outcome: %s", i, oo)
		}
	}
	if n := s.Count("Patient") + s.Count("Observation") + s.Count("Immunization"); n != 0 {
		t.Errorf("stored %d", n)
	}
	golden(t, "dhis2adapter-create-batch-bundle.response.json", portless(s, r.body))
}

// The same payload as a transaction with usable URLs: conditional updates
// for the patients, urn:uuid references rewritten to the assigned ids.
func TestTransactionDHIS2AdapterFixed(t *testing.T) {
	s := start(t, Options{})
	doc, err := parseJSON(readShared(t, "dhis2adapter-create-batch-bundle.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc["type"] = "transaction"
	es := doc["entry"].([]any)
	const sys = "http://www.dhis2.org/dhis2fhiradapter/systems/patient-identifier"
	es[0].(map[string]any)["request"] = map[string]any{"method": "PUT", "url": "Patient?identifier=" + sys + "|PT_88589"}
	es[1].(map[string]any)["request"] = map[string]any{"method": "PUT", "url": "Patient?identifier=" + sys + "|PT_88588"}
	es[2].(map[string]any)["request"] = map[string]any{"method": "PUT", "url": "Observation/70"}
	es[3].(map[string]any)["request"] = map[string]any{"method": "PUT", "url": "Observation/73"}
	es[4].(map[string]any)["request"] = map[string]any{"method": "POST", "url": "Immunization"}
	body := encodeJSON(doc)
	r := do(t, "POST", s.URL(), body, "Prefer", "return=representation")
	if r.status != 200 || str(r.doc, "type") != "transaction-response" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	want := "201 Created|201 Created|201 Created|201 Created|201 Created"
	if got := strings.Join(statuses(t, r.doc), "|"); got != want {
		t.Fatalf("statuses %s", got)
	}
	pats := s.Resources("Patient")
	if len(pats) != 2 {
		t.Fatalf("patients: %d", len(pats))
	}
	idOf := map[string]string{}
	for _, p := range pats {
		idOf[str(p["identifier"].([]any)[0], "value")] = p["id"].(string)
	}
	obs, _ := s.Resource("Observation", "70")
	if got := str(obs, "subject", "reference"); got != "Patient/"+idOf["PT_88589"] {
		t.Errorf("Observation/70 subject %q, want Patient/%s", got, idOf["PT_88589"])
	}
	if str(obs, "meta", "versionId") != "1" {
		t.Errorf("client meta.versionId must be replaced: %v", obs["meta"])
	}
	obs73, _ := s.Resource("Observation", "73")
	if got := str(obs73, "subject", "reference"); got != "Patient/"+idOf["PT_88588"] {
		t.Errorf("Observation/73 subject %q", got)
	}
	imm := s.Resources("Immunization")
	if len(imm) != 1 || str(imm[0], "patient", "reference") != "Patient/"+idOf["PT_88589"] {
		t.Errorf("Immunization: %v", imm)
	}
	// With Prefer: return=representation the entries carry the resources.
	if e := entries(t, r.doc)[2]; str(e, "resource", "id") != "70" || !strings.HasSuffix(str(e, "fullUrl"), "/Observation/70") {
		t.Errorf("entry 2: %v", e)
	}
	// Rerunning the same transaction is idempotent for the patients
	// (conditional updates match) and changes nothing.
	r2 := do(t, "POST", s.URL(), body)
	if got := strings.Join(statuses(t, r2.doc), "|"); got != "200 OK|200 OK|200 OK|200 OK|201 Created" {
		t.Fatalf("rerun statuses %s\n%s", got, r2.body)
	}
	if s.Count("Patient") != 2 {
		t.Errorf("rerun created patients: %d", s.Count("Patient"))
	}
	if p, _ := s.Resource("Patient", idOf["PT_88589"]); str(p, "meta", "versionId") != "1" {
		t.Errorf("unchanged patient got a new version: %v", p["meta"])
	}
}

// bundle-transaction.json as published is rejected: it calls an operation
// (ValueSet/$lookup) the simulator does not implement, and the whole
// transaction fails. Without that entry, against a server holding the
// resources it expects, it succeeds; the response is golden.
func TestTransactionSharedFile(t *testing.T) {
	raw := readShared(t, "bundle-transaction.json")
	t.Run("as published", func(t *testing.T) {
		s := start(t, Options{})
		r := do(t, "POST", s.URL(), raw)
		if r.status != 400 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		is := outcome(t, r)
		if !strings.Contains(is[0].Diagnostics, "Bundle.entry[7] (POST ValueSet/$lookup)") {
			t.Errorf("%s", issuesText(is))
		}
		if s.Count("Patient") != 0 {
			t.Fatalf("a failed transaction stored %d patients", s.Count("Patient"))
		}
	})
	t.Run("without the operation", func(t *testing.T) {
		s := start(t, Options{})
		ident := func(sys, v string) map[string]any {
			return map[string]any{"identifier": []any{map[string]any{"system": sys, "value": v}}}
		}
		seed := [][]byte{
			patient("123a", "v1", nil), patient("123a", "v2", nil), // If-Match W/"2"
			patient("234", "ToDelete", nil),
			patient("del", "ToDeleteConditionally", ident("urn:other", "123456")),
			patient("12334", "v1", nil), patient("12334", "v2", nil), patient("12334", "v3", nil), patient("12334", "v4", nil),
		}
		if err := s.Seed(seed...); err != nil {
			t.Fatal(err)
		}
		doc, _ := parseJSON(raw)
		es := doc["entry"].([]any)
		doc["entry"] = append(es[:7:7], es[8:]...)
		r := do(t, "POST", s.URL(), encodeJSON(doc))
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		want := []string{
			"201 Created",      // POST Patient
			"201 Created",      // conditional create, no match
			"201 Created",      // PUT Patient/123, update as create
			"201 Created",      // conditional update, no match
			"200 OK",           // PUT Patient/123a If-Match W/"2"
			"204 No Content",   // DELETE Patient/234
			"204 No Content",   // DELETE Patient?identifier=123456
			"200 OK",           // GET Patient?name=peter (after the writes)
			"304 Not Modified", // GET Patient/12334 If-None-Match W/"4"
		}
		if got := statuses(t, r.doc); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("statuses\n%v\nwant\n%v", got, want)
		}
		search := entries(t, r.doc)[7]["resource"].(map[string]any)
		if search["total"].(json.Number) != "5" {
			t.Errorf("GET runs after the writes and sees 5 Peters: %v", search["total"])
		}
		if g := do(t, "GET", s.URL()+"/Patient/234", nil); g.status != 410 {
			t.Errorf("Patient/234: %d", g.status)
		}
		if g := do(t, "GET", s.URL()+"/Patient/del", nil); g.status != 410 {
			t.Errorf("Patient/del: %d", g.status)
		}
		if p, _ := s.Resource("Patient", "123a"); str(p, "meta", "versionId") != "3" {
			t.Errorf("Patient/123a: %v", p["meta"])
		}
		if oo := fhir.Validate(r.body); oo.HasErrors() {
			t.Errorf("transaction-response invalid:\n%s", issuesText(oo.Issue))
		}
		golden(t, "bundle-transaction.response.json", portless(s, r.body))
	})
}

func txBundle(entries ...string) []byte {
	return []byte(`{"resourceType":"Bundle","type":"transaction","entry":[` + strings.Join(entries, ",") + `]}`)
}

func TestTransactionReferences(t *testing.T) {
	s := start(t, Options{})
	if err := s.Seed(patient("old", "Existing", map[string]any{"identifier": []any{map[string]any{"system": "urn:s", "value": "1"}}})); err != nil {
		t.Fatal(err)
	}
	b := txBundle(
		// The Observation comes first but is created after (or, being a
		// POST, alongside) the patients; references resolve either way.
		`{"fullUrl":"urn:uuid:obs-1","resource":{"resourceType":"Observation","status":"final","code":{"text":"w"},"subject":{"reference":"urn:uuid:new-patient"},"performer":[{"reference":"urn:uuid:matched-patient"}]},"request":{"method":"POST","url":"Observation"}}`,
		`{"fullUrl":"urn:uuid:new-patient","resource":{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><a href=\"urn:uuid:obs-1\">obs</a></div>"}},"request":{"method":"POST","url":"Patient"}}`,
		`{"fullUrl":"urn:uuid:matched-patient","resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=urn:s|1"}}`,
	)
	r := do(t, "POST", s.URL(), b)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if got := strings.Join(statuses(t, r.doc), "|"); got != "201 Created|201 Created|200 OK" {
		t.Fatalf("statuses %s", got)
	}
	es := entries(t, r.doc)
	newLoc := strings.Split(str(es[1], "response", "location"), "/_history/")[0]
	obsLoc := strings.Split(str(es[0], "response", "location"), "/_history/")[0]
	if str(es[2], "response", "location") != "Patient/old/_history/1" {
		t.Errorf("conditional create matched: %v", es[2])
	}
	obs := s.Resources("Observation")[0]
	if got := str(obs, "subject", "reference"); got != newLoc {
		t.Errorf("subject %q, want %q", got, newLoc)
	}
	if got := str(obs["performer"].([]any)[0], "reference"); got != "Patient/old" {
		t.Errorf("performer %q, want Patient/old (the conditional create's match)", got)
	}
	p, _ := s.Resource("Patient", strings.TrimPrefix(newLoc, "Patient/"))
	if div := str(p, "text", "div"); !strings.Contains(div, `href="`+obsLoc+`"`) {
		t.Errorf("narrative link not rewritten: %s", div)
	}
}

func TestTransactionRollback(t *testing.T) {
	good := `{"fullUrl":"urn:uuid:p","resource":{"resourceType":"Patient","name":[{"family":"Good"}]},"request":{"method":"POST","url":"Patient"}}`
	tests := []struct {
		name   string
		entry  string
		status int
		code   string
		expr   string
		diag   string
	}{
		{"invalid resource", `{"resource":{"resourceType":"Observation","status":"FINAL","code":{"text":"x"},"subject":{"reference":"urn:uuid:p"}},"request":{"method":"POST","url":"Observation"}}`,
			400, "value", "Bundle.entry[1].resource.status", "FINAL"},
		{"unknown element", `{"resource":{"resourceType":"Patient","gender1":"male"},"request":{"method":"POST","url":"Patient"}}`,
			400, "structure", "Bundle.entry[1].resource.gender1", "unknown element"},
		{"type mismatch", `{"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Observation"}}`,
			400, "invalid", "Bundle.entry[1].resource.resourceType", "does not match"},
		{"unresolved urn", `{"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:nowhere"}},"request":{"method":"POST","url":"Observation"}}`,
			400, "processing", "Bundle.entry[1].resource", "urn:uuid:nowhere"},
		{"same resource twice", `{"resource":{"resourceType":"Patient","id":"seeded"},"request":{"method":"PUT","url":"Patient/seeded"}},{"request":{"method":"DELETE","url":"Patient/seeded"}}`,
			400, "duplicate", "Bundle.entry[2]", "touched by"},
		{"stale If-Match", `{"resource":{"resourceType":"Patient","id":"seeded","active":true},"request":{"method":"PUT","url":"Patient/seeded","ifMatch":"W/\"7\""}}`,
			412, "conflict", "Bundle.entry[1]", "If-Match"},
		{"conditional create, two matches", `{"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=urn:s|dup"}}`,
			412, "multiple-matches", "Bundle.entry[1]", "2 Patient resources"},
		{"read of a missing resource", `{"request":{"method":"GET","url":"Patient/missing"}}`,
			404, "not-found", "Bundle.entry[1]", "not known"},
		{"bad method", `{"request":{"method":"FETCH","url":"Patient"}}`,
			400, "value", "Bundle.entry[1].request.method", ""},
		{"missing url", `{"request":{"method":"GET"}}`,
			400, "required", "Bundle.entry[1].request.url", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, Options{})
			dup := map[string]any{"identifier": []any{map[string]any{"system": "urn:s", "value": "dup"}}}
			if err := s.Seed(patient("seeded", "Seeded", nil), patient("d1", "D", dup), patient("d2", "D", dup)); err != nil {
				t.Fatal(err)
			}
			r := do(t, "POST", s.URL(), txBundle(good, tc.entry))
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			is := outcome(t, r)
			ok := false
			for _, i := range is {
				if i.Code == tc.code && strings.Join(i.Expression, ",") == tc.expr && strings.Contains(i.Diagnostics, tc.diag) {
					ok = true
				}
			}
			if !ok {
				t.Fatalf("want %s %s %q in\n%s", tc.code, tc.expr, tc.diag, issuesText(is))
			}
			if n := s.Count("Patient"); n != 3 {
				t.Errorf("rollback: %d patients, want the 3 seeded", n)
			}
			if p, _ := s.Resource("Patient", "seeded"); str(p, "meta", "versionId") != "1" {
				t.Errorf("rollback: seeded patient changed: %v", p["meta"])
			}
			if s.Count("Observation") != 0 {
				t.Errorf("rollback: observation stored")
			}
		})
	}
}

func TestPostToBase(t *testing.T) {
	s := start(t, Options{})
	tests := []struct {
		name, body string
		status     int
		diag       string
	}{
		{"not a bundle", string(patient("", "A", nil)), 400, "needs a Bundle"},
		{"collection", `{"resourceType":"Bundle","type":"collection"}`, 400, `got "collection"`},
		{"invalid resource", `{"resourceType":"Bundel"}`, 400, "unknown resourceType"},
		{"not JSON", `nope`, 400, "not a JSON object"},
		{"empty", ``, 400, "empty"},
		{"empty transaction", `{"resourceType":"Bundle","type":"transaction"}`, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, "POST", s.URL(), []byte(tc.body))
			if r.status != tc.status {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if tc.status == 200 {
				if str(r.doc, "type") != "transaction-response" || r.doc["entry"] != nil {
					t.Fatalf("%s", r.body)
				}
				return
			}
			if is := outcome(t, r); !strings.Contains(is[0].Diagnostics, tc.diag) {
				t.Fatalf("%s", issuesText(is))
			}
		})
	}
}

func TestBatchIndependentEntries(t *testing.T) {
	s := start(t, Options{})
	b := []byte(`{"resourceType":"Bundle","type":"batch","entry":[
		{"resource":{"resourceType":"Patient","name":[{"family":"A"}]},"request":{"method":"POST","url":"Patient"}},
		{"resource":{"resourceType":"Patient","birthDate":"2020-13-01"},"request":{"method":"POST","url":"Patient"}},
		{"resource":{"resourceType":"Patient","name":[{"family":"C"}]},"request":{"method":"POST","url":"Patient"}},
		{"request":{"method":"GET","url":"Patient/1"}}]}`)
	r := do(t, "POST", s.URL(), b, "Prefer", "return=OperationOutcome")
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if got := strings.Join(statuses(t, r.doc), "|"); got != "201 Created|400 Bad Request|201 Created|200 OK" {
		t.Fatalf("statuses %s", got)
	}
	es := entries(t, r.doc)
	out, _ := json.Marshal(es[1]["response"])
	if !strings.Contains(string(out), `"expression":["Bundle.entry[1].resource.birthDate"]`) {
		t.Errorf("failed entry outcome: %s", out)
	}
	if str(es[0], "response", "outcome", "resourceType") != "OperationOutcome" || es[0]["resource"] != nil {
		t.Errorf("Prefer OperationOutcome: %v", es[0])
	}
	if str(es[3], "resource", "id") != "1" {
		t.Errorf("GET entry: %v", es[3])
	}
	if s.Count("Patient") != 2 {
		t.Errorf("Count = %d", s.Count("Patient"))
	}
}

// Entries are reported in request order even though they run in R4 order.
func TestTransactionOrder(t *testing.T) {
	s := start(t, Options{})
	if err := s.Seed(patient("gone", "Gone", nil)); err != nil {
		t.Fatal(err)
	}
	b := txBundle(
		`{"request":{"method":"GET","url":"Patient?name=zed"}}`,
		`{"resource":{"resourceType":"Patient","id":"z","name":[{"family":"Zed"}]},"request":{"method":"PUT","url":"Patient/z"}}`,
		`{"resource":{"resourceType":"Patient","name":[{"family":"Zed"}]},"request":{"method":"POST","url":"Patient"}}`,
		`{"request":{"method":"DELETE","url":"Patient/gone"}}`,
	)
	r := do(t, "POST", s.URL(), b)
	if got := strings.Join(statuses(t, r.doc), "|"); got != "200 OK|201 Created|201 Created|204 No Content" {
		t.Fatalf("statuses %s\n%s", got, r.body)
	}
	search := entries(t, r.doc)[0]["resource"].(map[string]any)
	if fmt.Sprint(search["total"]) != "2" {
		t.Errorf("the GET ran before the writes: %s", mustJSON(t, search))
	}
	// The POST (rank 1) was written before the PUT (rank 2).
	ps := s.Resources("Patient")
	if len(ps) != 2 || ps[1]["id"] != "z" {
		t.Errorf("creation order: %v", ps)
	}
}
