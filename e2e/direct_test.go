package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// records is a loopback upstream that stores what it is sent.
type records struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []map[string]any
	auth []string
	down bool // answer 503 and store nothing
}

func (r *records) fail(down bool) {
	r.mu.Lock()
	r.down = down
	r.mu.Unlock()
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func newRecords(t *testing.T) *records {
	r := &records{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var v map[string]any
		_ = json.NewDecoder(req.Body).Decode(&v)
		r.mu.Lock()
		if r.down {
			r.mu.Unlock()
			http.Error(w, `{"error":"maintenance"}`, http.StatusServiceUnavailable)
			return
		}
		r.got = append(r.got, v)
		r.auth = append(r.auth, req.Header.Get("Authorization"))
		n := len(r.got)
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		fmt.Fprintf(w, `{"id":%d,"stored":true}`, n)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *records) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// exampleCredentials writes hello-upstream credentials pointing at url.
func exampleCredentials(t *testing.T, url, password string) string {
	path := filepath.Join(t.TempDir(), "credentials.yaml")
	body := fmt.Sprintf("upstream:\n  baseUrl: %s\n  username: demo\n  password: %s\n", url, password)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestServeExampleDirectly(t *testing.T) {
	up := newRecords(t)
	p := start(t, map[string]string{
		"JM_PROJECT":     "../examples/hello-upstream",
		"JM_CREDENTIALS": exampleCredentials(t, up.srv.URL, "e2e-secret-pw"),
	})
	resp, err := http.Post(p.URL()+"/hello", "application/json", strings.NewReader(`{"name":"Ana"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"stored":true`) {
		t.Fatalf("direct call: %d %s", resp.StatusCode, body)
	}
	if up.count() != 1 || up.got[0]["name"] != "Ana" || !strings.HasPrefix(up.auth[0], "Basic ") {
		t.Fatalf("upstream got %v %v", up.got, up.auth)
	}
	for _, path := range []string{"/healthz", "/readyz", "/uptime"} {
		r, err := http.Get(p.URL() + path)
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("%s: %v %v", path, err, r)
		}
		r.Body.Close()
	}
	if err := p.stop(t); err != nil {
		t.Fatalf("SIGTERM must stop the daemon cleanly: %v", err)
	}
	if strings.Contains(p.Logs(), "e2e-secret-pw") {
		t.Fatalf("password in logs:\n%s", p.Logs())
	}
}
