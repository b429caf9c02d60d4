package fhir

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestBundleHelpers(t *testing.T) {
	sb := decodeFile(t, filepath.Join(sharedFHIR, "spec-bundle-example.json"))
	if next := NextLink(sb); !strings.Contains(next, "searchId=") || !strings.Contains(next, "page=2") {
		t.Errorf("NextLink = %q", next)
	}
	if n, ok := SearchTotal(sb); !ok || n != 3 {
		t.Errorf("SearchTotal = %d, %v", n, ok)
	}
	last := decodeFile(t, filepath.Join(sharedFHIR, "dhis2adapter-search-patient-15.json"))
	if NextLink(last) != "" {
		t.Errorf("last page has next %q", NextLink(last))
	}
	tx := decodeFile(t, filepath.Join(sharedFHIR, "bundle-transaction.json"))
	es, err := Entries(tx)
	if err != nil || len(es) != 10 {
		t.Fatalf("Entries = %d, %v", len(es), err)
	}
	if es[0].Resource == nil || es[0].Resource.Type != "Patient" || es[0].Request.Method.Code() != "POST" {
		t.Errorf("entry 0 = %+v", es[0])
	}
	if _, err := Entries(decodeFile(t, filepath.Join(sharedFHIR, "patient-example.json"))); err == nil {
		t.Error("Entries accepted a Patient")
	}
	bad, err := Decode([]byte(`{"resourceType":"Bundle","type":"batch","entry":[{"resource":{"resourceType":"Patient","gender":"M"},"request":{"method":"POST","url":"Patient"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Entries(bad); err == nil || !strings.Contains(err.Error(), "Bundle.entry[0].resource.Patient.gender") {
		t.Errorf("Entries bad resource error = %v", err)
	}

	p := decodeFile(t, filepath.Join(sharedFHIR, "patient-example.json"))
	b, err := NewBatch([]BundleEntry{{FullURL: "urn:uuid:1", Resource: p, Request: Request{Method: "POST", URL: "Patient", IfNoneExist: "identifier=a|b"}}, {Request: Request{Method: "GET", URL: "Patient?name=x"}}})
	if err != nil {
		t.Fatal(err)
	}
	if oo := Validate(b.Raw); oo.HasErrors() {
		t.Fatalf("built batch invalid: %v", oo.Err())
	}
	for _, c := range []struct {
		e    []BundleEntry
		want string
	}{
		{[]BundleEntry{{Request: Request{Method: "FETCH", URL: "x"}}}, `method "FETCH"`},
		{[]BundleEntry{{Request: Request{Method: "GET"}}}, "request.url is empty"},
		{[]BundleEntry{{Request: Request{Method: "PUT", URL: "Patient/1"}}}, "PUT needs a resource"},
		{[]BundleEntry{{FullURL: "u", Resource: p, Request: Request{Method: "POST", URL: "Patient"}}, {FullURL: "u", Resource: p, Request: Request{Method: "POST", URL: "Patient"}}}, `fullUrl "u" duplicates entry[0]`},
	} {
		if _, err := NewTransaction(c.e); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewTransaction error = %v, want %q", err, c.want)
		}
	}
}
