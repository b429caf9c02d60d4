// Package chantest holds what the tests of the ways in share: a loopback
// upstream the test controls, the credential they must never leak, and the
// embedded store. Only tests import it.
package chantest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/store"
)

// Secret is the upstream password in the tests' credentials.
const Secret = "s3cret-upstream-pw"

// Upstream is a loopback records API whose answer the test controls.
type Upstream struct {
	Srv    *httptest.Server
	mu     sync.Mutex
	status int
	delay  time.Duration
	got    []string
}

// NewUpstream answers 201 and echoes what it received.
func NewUpstream(t testing.TB) *Upstream {
	u := &Upstream{status: 201}
	u.Srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.got = append(u.got, string(b))
		status, delay := u.status, u.delay
		u.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		// Echo the Authorization header back, as some upstreams do, to
		// prove redaction catches it in recorded bodies too.
		fmt.Fprintf(w, `{"received":%s,"auth":%q}`, b, r.Header.Get("Authorization"))
	}))
	t.Cleanup(u.Srv.Close)
	return u
}

// NewAcceptAll is an upstream that answers 201 to everything and keeps
// nothing (benchmarks).
func NewAcceptAll(t testing.TB) *Upstream {
	u := &Upstream{status: 201}
	u.Srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(201) }))
	t.Cleanup(u.Srv.Close)
	return u
}

// Set makes the upstream answer status after delay.
func (u *Upstream) Set(status int, delay time.Duration) {
	u.mu.Lock()
	u.status, u.delay = status, delay
	u.mu.Unlock()
}

// Got is every body the upstream received, in order.
func (u *Upstream) Got() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.got...)
}

// Posts returns what the upstream received for a workflow, decoded.
func (u *Upstream) Posts(t *testing.T, workflow string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, g := range u.Got() {
		var m map[string]any
		if json.Unmarshal([]byte(g), &m) == nil && m["workflow"] == workflow {
			out = append(out, m)
		}
	}
	return out
}

// NoSecrets fails when the upstream password (or its Basic form) is in b.
func NoSecrets(t *testing.T, what string, b []byte) {
	t.Helper()
	basic := base64.StdEncoding.EncodeToString([]byte("demo:" + Secret))
	if strings.Contains(string(b), Secret) || strings.Contains(string(b), basic) {
		t.Errorf("%s leaks the credential: %s", what, b)
	}
}

// OpenStore opens the embedded store in dir.
func OpenStore(t testing.TB, dir string) store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Wire is v as it goes over the wire to OpenHIM, decoded into a map, so
// tests assert what core receives.
func Wire(v any) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("chantest: %T does not encode: %v", v, err))
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(fmt.Sprintf("chantest: %T is not a JSON object: %v", v, err))
	}
	return m
}
