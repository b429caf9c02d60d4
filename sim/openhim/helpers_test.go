package openhim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const sharedTestdata = "../../testdata/shared/openhim"

func startCore(t testing.TB, opts Options) *Core {
	t.Helper()
	c := New(opts)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func basicAuth(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

var rootBasic = basicAuth(RootEmail, RootPassword)

type reply struct {
	status int
	body   string
	header http.Header
}

// call does one HTTP request; body may be nil, a string/[]byte (sent raw) or
// anything else (JSON).
func call(t testing.TB, method, url string, body any, headers map[string]string) reply {
	t.Helper()
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
		ctype = "application/json"
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	cl := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(rb), resp.Header}
}

// root calls the API as root with Basic auth.
func root(t testing.TB, c *Core, method, path string, body any) reply {
	t.Helper()
	return call(t, method, c.APIURL()+path, body, map[string]string{"Authorization": rootBasic})
}

func loadJSON(t testing.TB, name string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(sharedTestdata, name))
	if err != nil {
		t.Fatal(err)
	}
	raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func decode(t testing.TB, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON: %v: %q", err, s)
	}
	return v
}

// seen is a request a test upstream received.
type seen struct {
	Method, URI string
	Header      http.Header
	Body        string
}

// upstream is a test mediator: it records requests and answers with fn.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seen
	fn   func(w http.ResponseWriter, r *http.Request)
}

func newUpstream(t testing.TB, fn func(w http.ResponseWriter, r *http.Request)) *upstream {
	u := &upstream{fn: fn}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.reqs = append(u.reqs, seen{r.Method, r.RequestURI, r.Header.Clone(), string(b)})
		fn := u.fn
		u.mu.Unlock()
		if fn != nil {
			fn(w, r)
		} else {
			w.WriteHeader(200)
		}
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) set(fn func(w http.ResponseWriter, r *http.Request)) {
	u.mu.Lock()
	u.fn = fn
	u.mu.Unlock()
}

func (u *upstream) requests() []seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seen(nil), u.reqs...)
}

func (u *upstream) hostPort() (string, float64) {
	h, p, _ := net.SplitHostPort(strings.TrimPrefix(u.URL, "http://"))
	n, _ := strconv.Atoi(p)
	return h, float64(n)
}

// mediatorReply answers with an application/json+openhim envelope.
func mediatorReply(env map[string]any) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		b, _ := json.Marshal(env)
		w.Header().Set("Content-Type", "application/json+openhim")
		w.WriteHeader(200)
		_, _ = w.Write(b)
	}
}

func plainReply(status int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func route(name string, u *upstream, primary bool, extra map[string]any) map[string]any {
	h, p := u.hostPort()
	r := map[string]any{"name": name, "host": h, "port": p, "primary": primary, "type": "http"}
	for k, v := range extra {
		r[k] = v
	}
	return r
}

// publicChannel is a public http channel on pattern with the given routes.
func publicChannel(name, pattern string, routes ...map[string]any) map[string]any {
	rs := make([]any, len(routes))
	for i, r := range routes {
		rs[i] = r
	}
	return map[string]any{"name": name, "urlPattern": pattern, "methods": []any{"GET", "POST", "PUT", "PATCH", "DELETE"},
		"type": "http", "authType": "public", "routes": rs}
}

func mustAddChannel(t testing.TB, c *Core, ch map[string]any) string {
	t.Helper()
	id, err := c.AddChannel(ch)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func lastTx(t testing.TB, c *Core) Transaction {
	t.Helper()
	c.Wait()
	txs := c.Transactions()
	if len(txs) == 0 {
		t.Fatal("no transaction stored")
	}
	return txs[len(txs)-1]
}

func registerExample(t testing.TB, c *Core) map[string]any {
	t.Helper()
	reg := loadJSON(t, "mediator-registration.json")
	if r := root(t, c, "POST", "/mediators", reg); r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	return reg
}

func minimalMediator(urn, version string) map[string]any {
	return map[string]any{"urn": urn, "version": version, "name": "Test Mediator",
		"endpoints": []any{map[string]any{"name": "ep", "host": "localhost", "port": 8500.0, "path": "/", "primary": true}}}
}
