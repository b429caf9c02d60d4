package api

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/mux"
)

// TestPprof: /debug/pprof is absent unless JM_PPROF turns it on, and then
// answers only the operator API token.
func TestPprof(t *testing.T) {
	const token = "pprof-token-1"
	get := func(r *mux.Router, path, auth string) (int, string) {
		req := httptest.NewRequest("GET", path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	off := mux.NewRouter()
	New(nil, Options{Token: token}).Register(off)
	if code, _ := get(off, "/debug/pprof/", "Bearer "+token); code != 404 {
		t.Errorf("pprof off: %d, want 404 (not routed)", code)
	}
	on := mux.NewRouter()
	New(nil, Options{Token: token, Pprof: true}).Register(on)
	for _, auth := range []string{"", "Bearer wrong", token} {
		if code, body := get(on, "/debug/pprof/heap?debug=1", auth); code != 401 || strings.Contains(body, "heap profile") {
			t.Errorf("auth %q: %d, want 401 and no profile", auth, code)
		}
	}
	for path, want := range map[string]string{
		"/debug/pprof/":                  "goroutine",
		"/debug/pprof/heap?debug=1":      "heap profile",
		"/debug/pprof/goroutine?debug=1": "goroutine profile",
		"/debug/pprof/cmdline":           "",
		"/debug/pprof/profile?seconds=1": "",
	} {
		code, body := get(on, path, "Bearer "+token)
		if code != 200 || !strings.Contains(body, want) || body == "" {
			t.Errorf("%s: %d %.100q, want 200 with %q", path, code, body, want)
		}
	}
	// no token configured: the API and the profiler are both off
	none := mux.NewRouter()
	New(nil, Options{Pprof: true}).Register(none)
	if code, _ := get(none, "/debug/pprof/heap", "Bearer "); code != 404 {
		t.Errorf("no token: %d, want 404", code)
	}
}
