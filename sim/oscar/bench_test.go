package oscar

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// BenchmarkClientsSince measures the f2-j1 query over 1000 clients.
func BenchmarkClientsSince(b *testing.B) {
	s := New(Options{Now: func() time.Time { return t0 }})
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 1000; i++ {
		s.SeedClient(ngoClient(map[string]any{"is_referred": i%2 == 0}))
	}
	h := signIn(b, s)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest("GET", s.URL()+"/api/v1/organizations/clients?since_date=2025-08-01+00:00:00", nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatal(res.StatusCode)
		}
	}
}
