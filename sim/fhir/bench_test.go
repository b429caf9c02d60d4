package fhir

import (
	"fmt"
	"net/http"
	"testing"
)

func BenchmarkCreate(b *testing.B) {
	s := start(b, Options{})
	body := patient("", "Bench", nil)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := do(b, http.MethodPost, s.URL()+"/Patient", body); r.status != 201 {
			b.Fatal(r.status)
		}
	}
}

func BenchmarkSearchPage(b *testing.B) {
	s := start(b, Options{})
	var seed [][]byte
	for i := 0; i < 500; i++ {
		seed = append(seed, patient("", fmt.Sprintf("Family%03d", i), nil))
	}
	if err := s.Seed(seed...); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := do(b, http.MethodGet, s.URL()+"/Patient?family=family1&_count=20", nil); r.status != 200 {
			b.Fatal(r.status)
		}
	}
}

func BenchmarkTransaction10(b *testing.B) {
	s := start(b, Options{})
	entry := `{"fullUrl":"urn:uuid:p%d","resource":{"resourceType":"Patient","name":[{"family":"T"}]},"request":{"method":"POST","url":"Patient"}},` +
		`{"resource":{"resourceType":"Observation","status":"final","code":{"text":"w"},"subject":{"reference":"urn:uuid:p%d"}},"request":{"method":"POST","url":"Observation"}}`
	var es []string
	for i := 0; i < 5; i++ {
		es = append(es, fmt.Sprintf(entry, i, i))
	}
	body := txBundle(es...)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := do(b, http.MethodPost, s.URL(), body); r.status != 200 {
			b.Fatal(r.status, string(r.body))
		}
	}
}
