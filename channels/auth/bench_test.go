package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// BenchmarkGuard: what the inbox check costs a request, side by side with
// an open endpoint (make bench compares the ratios).
func BenchmarkGuard(b *testing.B) {
	creds := map[string]map[string]any{"k": {"key": "ak-bench-0123456789"}, "h": {"secret": "hm-bench-secret"}}
	cred := func(n string) (map[string]any, bool) { c, ok := creds[n]; return c, ok }
	body := strings.Repeat(`{"patient":"x","value":1},`, 40) // ~1 KB
	mac := hmac.New(sha256.New, []byte("hm-bench-secret"))
	mac.Write([]byte(body))
	sig := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	ok := func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) }
	reject := func(w http.ResponseWriter, _ *http.Request, status int, _ string) { w.WriteHeader(status) }
	cases := []struct {
		name   string
		policy Policy
		header map[string]string
	}{
		{"open", Policy{}, nil},
		{"api_key", Policy{Methods: []Method{{Type: "api_key", Credential: "k"}}, Credential: cred}, map[string]string{"x-api-key": "ak-bench-0123456789"}},
		{"hmac_1KB", Policy{Methods: []Method{{Type: "hmac", Credential: "h"}}, Credential: cred}, map[string]string{"X-Signature-256": sig}},
		{"api_key_rate_limited", Policy{Methods: []Method{{Type: "api_key", Credential: "k"}}, Credential: cred, Limit: NewLimiter(1<<30, time.Second, 1<<30)}, map[string]string{"x-api-key": "ak-bench-0123456789"}},
	}
	for _, c := range cases {
		h := Guard(c.policy, reject)(ok)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				req := httptest.NewRequest(http.MethodPost, "/w", strings.NewReader(body))
				for k, v := range c.header {
					req.Header.Set(k, v)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}
