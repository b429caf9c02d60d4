package primero

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// BenchmarkListCasesCursor measures the Cambodia f1-j1 query (cursor range,
// per=10000) over 2000 cases of which 200 changed after the cursor.
func BenchmarkListCasesCursor(b *testing.B) {
	s := New(Options{Now: func() time.Time { return t0 }})
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 2000; i++ {
		if i == 1800 {
			s.AdvanceClock(time.Hour)
		}
		s.SeedCase(map[string]any{"name": fmt.Sprint("case ", i), "services_section": []any{map[string]any{"service_response_type": "referral_to_oscar"}}})
	}
	q := url.Values{"remote": {"true"}, "last_updated_at": {"2025-08-02T10:30:00.000Z.."}, "page": {"1"}, "per": {"10000"}}
	u := s.URL() + "/api/v2/cases?" + q.Encode()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Authorization", defAuth)
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
