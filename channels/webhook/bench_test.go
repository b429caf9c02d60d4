package webhook

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkRoutedTransaction measures one routed OpenHIM transaction end to
// end inside the mediator: parse the request, run the workflow's job in a
// pooled VM, one POST to a loopback upstream through the recorder, build
// the envelope with its orchestration.
func BenchmarkRoutedTransaction(b *testing.B) {
	f := newFixture(b, nil)
	body := `{"name":"Ana","age":7}`
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest(http.MethodPost, "/echo", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-OpenHIM-TransactionID", "5f0000000000000000000001")
		w := httptest.NewRecorder()
		f.router.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkRoutedTransactionNoUpstream isolates the mediator's own overhead:
// a job that only transforms the data (no outbound call).
func BenchmarkRoutedTransactionNoUpstream(b *testing.B) {
	f := newFixture(b, nil)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest(http.MethodPost, "/text", strings.NewReader("world"))
		req.Header.Set("Content-Type", "text/plain")
		req.Header.Set("X-OpenHIM-TransactionID", "5f0000000000000000000001")
		w := httptest.NewRecorder()
		f.router.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
