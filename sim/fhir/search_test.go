package fhir

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/jobmediator/jobmediator/fhir"
)

func seedSearch(t testing.TB, s *Server) {
	t.Helper()
	res := []string{
		`{"resourceType":"Patient","id":"p1","identifier":[{"system":"urn:nid","value":"A1"}],"name":[{"family":"Chalmers","given":["Peter","James"]}],"gender":"male","birthDate":"1974-12-25"}`,
		`{"resourceType":"Patient","id":"p2","identifier":[{"value":"A1"}],"name":[{"family":"Windsor","given":["Peter"]}],"gender":"male","birthDate":"1980-01"}`,
		`{"resourceType":"Patient","id":"p3","identifier":[{"system":"urn:other","value":"B2"}],"name":[{"family":"Chalmerson","given":["Anne"]}],"gender":"female","birthDate":"2001-06-30"}`,
		`{"resourceType":"Observation","id":"o1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"29463-7"}]},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2024-01-15T10:00:00Z"}`,
		`{"resourceType":"Observation","id":"o2","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8302-2"}]},"subject":{"reference":"Patient/p2"},"effectivePeriod":{"start":"2024-02-01","end":"2024-02-03"}}`,
		`{"resourceType":"Observation","id":"o3","status":"amended","code":{"coding":[{"system":"http://snomed.info/sct","code":"29463-7"}]},"subject":{"reference":"http://elsewhere/fhir/Patient/p1"},"effectiveDateTime":"2023-12-31"}`,
		`{"resourceType":"Encounter","id":"e1","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/p1"},"period":{"start":"2024-01-10T09:00:00Z","end":"2024-01-10T10:00:00Z"}}`,
		`{"resourceType":"Immunization","id":"i1","status":"completed","vaccineCode":{"coding":[{"system":"http://hl7.org/fhir/sid/cvx","code":"02"}]},"patient":{"reference":"Patient/p3"},"occurrenceDateTime":"2018-11-11"}`,
		`{"resourceType":"Organization","id":"org1","name":"Sierra Leone MoH"}`,
	}
	for _, r := range res {
		if err := s.Seed([]byte(r)); err != nil {
			t.Fatalf("%v: %s", err, r)
		}
	}
}

func ids(t testing.TB, doc map[string]any, mode string) []string {
	var out []string
	for _, e := range entries(t, doc) {
		if str(e, "search", "mode") == mode {
			out = append(out, str(e, "resource", "id"))
		}
	}
	return out
}

func TestSearchParameters(t *testing.T) {
	s := start(t, Options{})
	seedSearch(t, s)
	tests := []struct {
		query string
		want  string // ids, comma-separated, in order
	}{
		{"Patient", "p1,p2,p3"},
		{"Patient?_id=p2", "p2"},
		{"Patient?_id=p2,p3", "p2,p3"},
		{"Patient?identifier=urn:nid|A1", "p1"},
		{"Patient?identifier=|A1", "p2"},
		{"Patient?identifier=A1", "p1,p2"},
		{"Patient?identifier=urn:other|", "p3"},
		{"Patient?identifier=urn:nid|B2", ""},
		{"Patient?name=chalm", "p1,p3"},
		{"Patient?name=PETER", "p1,p2"},
		{"Patient?name:exact=Chalmers", "p1"},
		{"Patient?name:contains=ind", "p2"},
		{"Patient?family=chalmers", "p1,p3"},
		{"Patient?given=james", "p1"},
		{"Patient?name=peter&family=windsor", "p2"},
		{"Patient?gender=female", "p3"},
		{"Patient?gender=http://hl7.org/fhir/administrative-gender|male", "p1,p2"},
		{"Patient?gender:not=male", "p3"},
		{"Patient?birthdate=1974-12-25", "p1"},
		{"Patient?birthdate=1974", "p1"},
		{"Patient?birthdate=ge1980-01-15", "p2,p3"},
		{"Patient?birthdate=le1980-01-15", "p1,p2"},
		{"Patient?birthdate=lt1980-01-01", "p1"},
		{"Patient?birthdate=gt2001-06-30", ""},
		{"Patient?birthdate=ge1975&birthdate=le2000", "p2"},
		{"Patient?birthdate:missing=false", "p1,p2,p3"},
		{"Observation?subject=Patient/p1", "o1,o3"},
		{"Observation?subject=p1", "o1,o3"},
		{"Observation?patient=p2", "o2"},
		{"Observation?subject:Patient=p1", "o1,o3"},
		{"Observation?code=http://loinc.org|29463-7", "o1"},
		{"Observation?code=29463-7", "o1,o3"},
		{"Observation?code=8302-2,29463-7", "o1,o2,o3"},
		{"Observation?status=final", "o1,o2"},
		{"Observation?date=2024-01-15", "o1"},
		{"Observation?date=ge2024-01-01", "o1,o2"},
		{"Observation?date=lt2024-01-01", "o3"},
		{"Observation?date=gt2024-02-02", "o2"},
		{"Observation?date=le2024-01-31", "o1,o3"},
		{"Observation?date=2024-02", "o2"},
		{"Encounter?date=2024-01-10", "e1"},
		{"Encounter?patient=Patient/p1", "e1"},
		{"Immunization?patient=p3", "i1"},
		{"Immunization?vaccine-code=02", "i1"},
		{"Immunization?date=2018", "i1"},
		{"Organization?name=sierra", "org1"},
		{"Patient?_sort=-_id", "p3,p2,p1"},
		{"Patient?_sort=-_lastUpdated", "p3,p2,p1"},
		{"Patient?_lastUpdated=gt2000-01-01", "p1,p2,p3"},
		{"Patient?_lastUpdated=lt2000-01-01", ""},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			r := do(t, "GET", s.URL()+"/"+tc.query, nil)
			if r.status != 200 || str(r.doc, "type") != "searchset" {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if got := strings.Join(ids(t, r.doc, "match"), ","); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			n := len(strings.Split(tc.want, ","))
			if tc.want == "" {
				n = 0
			}
			if fmt.Sprint(r.doc["total"]) != fmt.Sprint(n) {
				t.Errorf("total %v", r.doc["total"])
			}
			for _, e := range entries(t, r.doc) {
				if !strings.HasPrefix(str(e, "fullUrl"), s.URL()+"/") {
					t.Errorf("fullUrl %q", str(e, "fullUrl"))
				}
			}
		})
	}
	// POST [type]/_search with a form body is the same search.
	r := do(t, "POST", s.URL()+"/Patient/_search", []byte("family=chalmers&gender=male"), "Content-Type", "application/x-www-form-urlencoded")
	if got := strings.Join(ids(t, r.doc, "match"), ","); r.status != 200 || got != "p1" {
		t.Fatalf("_search: %d %q %s", r.status, got, r.body)
	}
}

func TestSearchErrorsAndWarnings(t *testing.T) {
	s := start(t, Options{})
	seedSearch(t, s)
	// Lenient (default): unknown parameters are ignored with a warning in an
	// outcome entry, and left out of the self link.
	r := do(t, "GET", s.URL()+"/Patient?family=windsor&shoe-size=42", nil)
	if r.status != 200 || strings.Join(ids(t, r.doc, "match"), ",") != "p2" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	es := entries(t, r.doc)
	last := es[len(es)-1]
	if str(last, "search", "mode") != "outcome" || str(last, "resource", "resourceType") != "OperationOutcome" ||
		!strings.Contains(string(mustJSON(t, last)), `unknown search parameter \"shoe-size\"`) {
		t.Fatalf("outcome entry: %s", mustJSON(t, last))
	}
	self := r.doc["link"].([]any)[0].(map[string]any)["url"].(string)
	if strings.Contains(self, "shoe-size") || !strings.Contains(self, "family=windsor") {
		t.Errorf("self link %q", self)
	}
	if oo := fhir.Validate(r.body); oo.HasErrors() {
		t.Errorf("searchset invalid:\n%s", issuesText(oo.Issue))
	}
	// Patient has no code element: unknown there too.
	if r := do(t, "GET", s.URL()+"/Patient?code=x", nil); len(ids(t, r.doc, "outcome")) != 1 {
		t.Errorf("Patient?code: %s", r.body)
	}
	tests := []struct {
		query string
		hdr   []string
		diag  string
	}{
		{"Patient?shoe-size=42", []string{"Prefer", "handling=strict"}, "unknown search parameter"},
		{"Patient?birthdate=yesterday", nil, "invalid date"},
		{"Patient?birthdate=xx2020", nil, "unknown date prefix"},
		{"Patient?birthdate:exact=2020", nil, "modifier"},
		{"Patient?name:fuzzy=x", nil, "modifier"},
		{"Patient?_count=-1", nil, "_count"},
		{"Patient?_count=ten", nil, "_count"},
		{"Patient?_sort=family", nil, "_sort"},
		{"Patient?gender=", nil, "empty value"},
		{"Observation?patient=Organization/org1", nil, "only references Patient"},
		{"Patient?active:missing=maybe", nil, ":missing"},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			r := do(t, "GET", s.URL()+"/"+tc.query, nil, tc.hdr...)
			if r.status != 400 {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if is := outcome(t, r); !strings.Contains(is[0].Diagnostics, tc.diag) {
				t.Fatalf("%s", issuesText(is))
			}
		})
	}
	if r := do(t, "GET", s.URL()+"?_getpages=nope&_getpagesoffset=10&_count=10", nil); r.status != 410 {
		t.Errorf("unknown search id: %d %s", r.status, r.body)
	}
}

func TestSearchSummaryTotalInclude(t *testing.T) {
	s := start(t, Options{})
	seedSearch(t, s)
	r := do(t, "GET", s.URL()+"/Patient?_summary=count", nil)
	if r.status != 200 || fmt.Sprint(r.doc["total"]) != "3" || r.doc["entry"] != nil {
		t.Fatalf("_summary=count: %s", r.body)
	}
	r = do(t, "GET", s.URL()+"/Patient?_total=none", nil)
	if r.doc["total"] != nil || len(ids(t, r.doc, "match")) != 3 {
		t.Fatalf("_total=none: %s", r.body)
	}
	r = do(t, "GET", s.URL()+"/Observation?code=29463-7&_include=Observation:subject", nil)
	if got := strings.Join(ids(t, r.doc, "include"), ","); got != "p1" {
		t.Fatalf("_include: %q %s", got, r.body)
	}
}

// Seed 25 patients and follow next links verbatim: 25 unique ids.
func TestPaging(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pageSize int
		query    string
		pages    int
	}{
		{"default page size", 0, "", 3},
		{"_count", 0, "?_count=7", 4},
		{"PageSize option", 5, "", 5},
		{"_count capped", 0, "?_count=1000", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, Options{PageSize: tc.pageSize})
			var seed [][]byte
			for i := 0; i < 25; i++ {
				seed = append(seed, patient("", fmt.Sprintf("Family%02d", i), nil))
			}
			if err := s.Seed(seed...); err != nil {
				t.Fatal(err)
			}
			next := s.URL() + "/Patient" + tc.query
			seen := map[string]bool{}
			pages := 0
			for next != "" {
				pages++
				if pages > 30 {
					t.Fatal("paging does not end")
				}
				r := do(t, "GET", next, nil)
				if r.status != 200 {
					t.Fatalf("page %d: %d %s", pages, r.status, r.body)
				}
				if fmt.Sprint(r.doc["total"]) != "25" {
					t.Fatalf("total %v", r.doc["total"])
				}
				for _, id := range ids(t, r.doc, "match") {
					if seen[id] {
						t.Fatalf("id %s twice", id)
					}
					seen[id] = true
				}
				b, _ := fhir.Decode(r.body)
				next = fhir.NextLink(b)
				if pages > 1 && next != "" && !strings.Contains(next, "_getpages=") {
					t.Fatalf("next link %q", next)
				}
			}
			if len(seen) != 25 || pages != tc.pages {
				t.Fatalf("%d ids in %d pages, want 25 in %d", len(seen), pages, tc.pages)
			}
		})
	}
}

// Later pages show the result as it was when the search ran.
func TestPagingSnapshotAndPrevious(t *testing.T) {
	s := start(t, Options{PageSize: 2})
	if err := s.Seed(patient("a", "A", nil), patient("b", "B", nil), patient("c", "C", nil)); err != nil {
		t.Fatal(err)
	}
	r := do(t, "GET", s.URL()+"/Patient", nil)
	b, _ := fhir.Decode(r.body)
	next := fhir.NextLink(b)
	if do(t, "DELETE", s.URL()+"/Patient/c", nil).status != 204 {
		t.Fatal("delete")
	}
	p2 := do(t, "GET", next, nil)
	if got := strings.Join(ids(t, p2.doc, "match"), ","); got != "c" {
		t.Fatalf("page 2: %q", got)
	}
	var prev string
	for _, l := range p2.doc["link"].([]any) {
		if str(l, "relation") == "previous" {
			prev = str(l, "url")
		}
	}
	p1 := do(t, "GET", prev, nil)
	if got := strings.Join(ids(t, p1.doc, "match"), ","); got != "a,b" {
		t.Fatalf("previous: %q", got)
	}
	u, _ := url.Parse(next)
	q := u.Query()
	q.Set("_getpagesoffset", "-1")
	u.RawQuery = q.Encode()
	if r := do(t, "GET", u.String(), nil); r.status != 400 {
		t.Fatalf("bad offset: %d", r.status)
	}
}
