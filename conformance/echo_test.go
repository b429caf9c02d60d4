package conformance

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// echoPlaceholder stands for the echo server's URL in corpus states and
// goldens of adaptor jobs (`// adaptor: …`); oracle/oracle.mjs runs an echo
// server with the same contract when it records them.
const echoPlaceholder = "{{ECHO}}"

// startEcho answers every request 200 with JSON {method, path, query,
// contentType, body} (body parsed when JSON, null when empty); a path
// ending in /fail answers 500 {"error":"echo fail"}, /missing 404
// {"error":"echo missing"}.
func startEcho(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		send := func(status int, v any) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(v)
		}
		switch {
		case strings.HasSuffix(r.URL.Path, "/fail"):
			send(500, map[string]any{"error": "echo fail"})
			return
		case strings.HasSuffix(r.URL.Path, "/missing"):
			send(404, map[string]any{"error": "echo missing"})
			return
		}
		var body any
		if len(raw) > 0 {
			if json.Unmarshal(raw, &body) != nil {
				body = string(raw)
			}
		}
		query := map[string]any{}
		for k, v := range r.URL.Query() {
			query[k] = v[len(v)-1]
		}
		var ct any
		if c := r.Header.Get("Content-Type"); c != "" {
			ct = c
		}
		send(200, map[string]any{"method": r.Method, "path": r.URL.Path, "query": query, "contentType": ct, "body": body})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// withEcho puts the echo server's URL where a corpus file has the placeholder.
func withEcho(b []byte, url string) []byte {
	return []byte(strings.ReplaceAll(string(b), echoPlaceholder, url))
}
