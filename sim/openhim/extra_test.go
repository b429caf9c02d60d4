package openhim

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestAutoRetryJob(t *testing.T) {
	c := startCore(t, Options{})
	up := newUpstream(t, mediatorReply(map[string]any{"status": "Failed",
		"response": map[string]any{"status": 500, "body": "down", "timestamp": "2024-01-01T10:00:00Z"},
		"error":    map[string]any{"message": "down"}}))
	ch := publicChannel("c", "^/c$", route("p", up, true, nil))
	ch["autoRetryEnabled"] = true
	ch["autoRetryPeriodMinutes"] = 1.0
	ch["autoRetryMaxAttempts"] = 2.0
	mustAddChannel(t, c, ch)
	call(t, "POST", c.RouterURL()+"/c", "payload", nil)
	orig := lastTx(t, c)

	tasks := c.RunAutoRetry()
	if len(tasks) != 1 {
		t.Fatalf("tasks %v", tasks)
	}
	task, _ := c.Task(tasks[0])
	if task["user"] != "internal" || task["status"] != "Completed" {
		t.Fatalf("%v", task)
	}
	first := lastTx(t, c)
	if first.ParentID != orig.ID || first.AutoRetryAttempt != 1 || !first.AutoRetry {
		t.Fatalf("first retry %+v", first)
	}
	if reqs := up.requests(); len(reqs) != 2 || reqs[1].Body != "payload" || reqs[1].Header.Get("parentid") != orig.ID {
		t.Fatalf("retry request %+v", reqs)
	}
	c.RunAutoRetry()
	second := lastTx(t, c)
	if second.ParentID != first.ID || second.AutoRetryAttempt != 2 || second.AutoRetry {
		t.Fatalf("at max attempts no further retry: %+v", second)
	}
	if tasks := c.RunAutoRetry(); len(tasks) != 0 {
		t.Fatalf("nothing left to retry: %v", tasks)
	}
}

func TestAutoRetryWaitsForPeriod(t *testing.T) {
	clock := time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)
	c := startCore(t, Options{Now: func() time.Time { return clock }})
	up := newUpstream(t, mediatorReply(map[string]any{"response": map[string]any{"status": 500, "body": "x"}, "error": map[string]any{"message": "x"}}))
	ch := publicChannel("c", "^/c$", route("p", up, true, nil))
	ch["autoRetryEnabled"] = true
	ch["autoRetryPeriodMinutes"] = 10.0
	mustAddChannel(t, c, ch)
	call(t, "GET", c.RouterURL()+"/c", nil, nil)
	if tasks := c.RunAutoRetry(); len(tasks) != 0 {
		t.Fatal("retried before the period")
	}
	clock = clock.Add(9 * time.Minute)
	if tasks := c.RunAutoRetry(); len(tasks) != 1 {
		t.Fatal("not retried after period-1 minutes")
	}
}

func TestSecuredRoute(t *testing.T) {
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.Write([]byte("over tls"))
	}))
	up.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted case logs a handshake error
	up.StartTLS()
	defer up.Close()
	pool := x509.NewCertPool()
	pool.AddCert(up.Certificate())
	c := startCore(t, Options{RouteTLS: &tls.Config{RootCAs: pool}})
	h, p, _ := net.SplitHostPort(strings.TrimPrefix(up.URL, "https://"))
	port, _ := strconv.Atoi(p)
	mustAddChannel(t, c, publicChannel("tls", "^/tls$", map[string]any{"name": "r", "host": h, "port": float64(port), "primary": true, "secured": true}))
	if r := call(t, "GET", c.RouterURL()+"/tls", nil, nil); r.status != 200 || r.body != "over tls" {
		t.Fatalf("%d %q", r.status, r.body)
	}
	// Without trusting the certificate the route fails like any network error.
	c2 := startCore(t, Options{})
	mustAddChannel(t, c2, publicChannel("tls", "^/tls$", map[string]any{"name": "r", "host": h, "port": float64(port), "primary": true, "secured": true}))
	if r := call(t, "GET", c2.RouterURL()+"/tls", nil, nil); r.status != 500 {
		t.Fatalf("untrusted: %d", r.status)
	}
}

// Core passes route credentials in Node's `auth` option, so its own
// orchestration record never shows them; neither do API error bodies.
func TestSecretsStayOutOfRecordsAndErrors(t *testing.T) {
	c := startCore(t, Options{})
	up := newUpstream(t, nil)
	mustAddChannel(t, c, publicChannel("c", "^/c$", route("p", up, true, map[string]any{"username": "svc", "password": "route-secret-pw"}),
		route("s", up, false, map[string]any{"username": "svc", "password": "route-secret-pw"})))
	call(t, "GET", c.RouterURL()+"/c", nil, nil)
	tx := lastTx(t, c)
	raw, _ := json.Marshal(map[string]any{"orch": tx.Orchestrations, "routes": tx.Routes, "req": tx.Request})
	if strings.Contains(string(raw), "route-secret-pw") || strings.Contains(string(raw), basicAuth("svc", "route-secret-pw")) {
		t.Fatalf("route credentials recorded: %s", raw)
	}
	if up.requests()[0].Header.Get("Authorization") != basicAuth("svc", "route-secret-pw") {
		t.Fatal("the route must still receive them")
	}
	// Error answers never echo credentials or config values.
	m := minimalMediator("urn:s", "1.0.0")
	m["configDefs"] = []any{map[string]any{"param": "key", "type": "password"}}
	m["config"] = map[string]any{"key": 12345678.0, "other": "config-secret-value"}
	r := root(t, c, "POST", "/mediators", m)
	if r.status != 400 || strings.Contains(r.body, "config-secret-value") || strings.Contains(r.body, "12345678") {
		t.Fatalf("%d %q", r.status, r.body)
	}
	r = call(t, "GET", c.APIURL()+"/about", nil, map[string]string{"Authorization": basicAuth(RootEmail, "wrong-secret-pw")})
	if strings.Contains(r.body, "wrong-secret-pw") {
		t.Fatal("password echoed")
	}
	ts := time.Now().UTC().Format(time.RFC3339)
	r = call(t, "GET", c.APIURL()+"/about", nil, tokenHeaders(RootEmail, RootSalt, "wrong-secret-pw", "x", ts))
	if r.status != 401 || r.body != "Unauthorized" {
		t.Fatalf("%d %q", r.status, r.body)
	}
}

func TestCloseStopsHangingRequests(t *testing.T) {
	c := New(Options{DisablePolling: true})
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	defer close(release)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	mustAddChannel(t, c, publicChannel("slow", "^/s$", route("p", up, true, nil)))
	go http.Get(c.RouterURL() + "/s")
	waitFor(t, "the routed request", func() bool { return len(up.requests()) == 1 })
	done := make(chan struct{})
	go func() { c.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hung")
	}
}

func BenchmarkRoutedMediatorRequest(b *testing.B) {
	c := startCore(b, Options{})
	env := loadJSON(b, "mediator-response.json")
	up := newUpstream(b, mediatorReply(env))
	mustAddChannel(b, c, publicChannel("c", "^/c$", route("p", up, true, nil)))
	cl := &http.Client{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := cl.Post(c.RouterURL()+"/c", "application/json", strings.NewReader(`{"resourceType":"Patient"}`))
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 201 {
			b.Fatal(resp.StatusCode)
		}
	}
}

func BenchmarkHeartbeat(b *testing.B) {
	c := startCore(b, Options{})
	registerExample(b, c)
	body := []byte(`{"uptime":12.5}`)
	cl := &http.Client{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest("POST", c.APIURL()+"/mediators/urn:mediator:go-example/heartbeat", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", rootBasic)
		resp, err := cl.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
}

func BenchmarkValidateRegistrationConfig(b *testing.B) {
	reg := loadJSON(b, "mediator-registration.json")
	defs := arr(reg["configDefs"])
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := validateConfigDefs(reg["configDefs"]); err != nil {
			b.Fatal(err)
		}
		if err := validateConfig(defs, reg["config"]); err != nil {
			b.Fatal(err)
		}
	}
}

func TestJSUnescapeAndURNPaths(t *testing.T) {
	for in, want := range map[string]string{
		"urn:a": "urn:a", "urn%3Aa": "urn:a", "a%u0041b": "aAb", "100%": "100%", "%zz": "%zz", "%E9": "\u00e9",
	} {
		if got := jsUnescape(in); got != want {
			t.Errorf("jsUnescape(%q) = %q, want %q", in, got, want)
		}
	}
	c := startCore(t, Options{})
	root(t, c, "POST", "/mediators", minimalMediator("urn:uuid:a/b", "1.0.0"))
	// The path is URL-decoded, then unescape()d: both encodings work.
	for _, p := range []string{"/mediators/urn%3Auuid%3Aa%2Fb", "/mediators/urn%253Auuid%253Aa%252Fb"} {
		if r := root(t, c, "GET", p, nil); r.status != 200 {
			t.Errorf("%s: %d", p, r.status)
		}
	}
}

// Core builds every route's options in route order from one headers object:
// a route without forwardAuthHeader removes authorization for later routes.
func TestAuthorizationSharedAcrossRoutes(t *testing.T) {
	c := startCore(t, Options{})
	c.AddClient(Client{ClientID: "cl", Password: "pw", Roles: []string{"r"}})
	first := newUpstream(t, nil)
	second := newUpstream(t, nil)
	mk := func(name, pattern string, routes ...map[string]any) {
		ch := publicChannel(name, pattern, routes...)
		ch["authType"] = "private"
		ch["allow"] = []any{"r"}
		mustAddChannel(t, c, ch)
	}
	mk("drop-first", "^/a$", route("p", first, true, nil), route("s", second, false, map[string]any{"forwardAuthHeader": true}))
	mk("forward-first", "^/b$", route("s", second, false, map[string]any{"forwardAuthHeader": true}), route("p", first, true, nil))
	auth := map[string]string{"Authorization": basicAuth("cl", "pw")}
	call(t, "GET", c.RouterURL()+"/a", nil, auth)
	call(t, "GET", c.RouterURL()+"/b", nil, auth)
	c.Wait()
	s := second.requests()
	if s[0].Header.Get("Authorization") != "" || s[1].Header.Get("Authorization") == "" {
		t.Fatalf("got %q then %q", s[0].Header.Get("Authorization"), s[1].Header.Get("Authorization"))
	}
}

func TestRerunStatusOnlyWhenCoreDerived(t *testing.T) {
	c := startCore(t, Options{})
	up := newUpstream(t, mediatorReply(map[string]any{"status": "Successful", "response": map[string]any{"status": 200, "body": "x", "timestamp": "2024-01-01T10:00:00Z"}}))
	mustAddChannel(t, c, publicChannel("c", "^/c$", route("p", up, true, nil)))
	call(t, "GET", c.RouterURL()+"/c", nil, map[string]string{"Host": "client.example:5001"})
	orig := lastTx(t, c)
	taskID, _ := c.Rerun(orig.ID)
	task, _ := c.Task(taskID)
	item := obj(arr(task["transactions"])[0])
	if _, ok := item["rerunStatus"]; ok || item["rerunID"] == nil {
		t.Fatalf("%v", item)
	}
	child := lastTx(t, c)
	if child.Status != "Successful" || child.Request["host"] != orig.Request["host"] {
		t.Fatalf("child %+v", child)
	}
}

func TestGoAPIBadInput(t *testing.T) {
	if err := New(Options{TimeZone: "Mars/Olympus"}).Start(); err == nil || !strings.Contains(err.Error(), "Mars/Olympus") {
		t.Fatalf("bad zone: %v", err)
	}
	busy := startCore(t, Options{})
	addr := strings.TrimPrefix(busy.APIURL(), "http://")
	if err := New(Options{APIAddr: addr}).Start(); err == nil {
		t.Fatal("busy API address must fail")
	}
	if err := New(Options{RouterAddr: strings.TrimPrefix(busy.RouterURL(), "http://")}).Start(); err == nil {
		t.Fatal("busy router address must fail")
	}
	if err := busy.Start(); err == nil {
		t.Fatal("second Start must fail")
	}
	if _, err := busy.Rerun(); err == nil {
		t.Fatal("Rerun without ids must fail")
	}
	if _, err := busy.WaitTask("nope", time.Millisecond); err != ErrNotFound {
		t.Fatalf("WaitTask unknown: %v", err)
	}
	if _, ok := busy.Transaction("nope"); ok {
		t.Fatal("unknown transaction")
	}
	if _, ok := busy.Mediator("nope"); ok {
		t.Fatal("unknown mediator")
	}
	for _, bad := range []map[string]any{
		{},
		{"name": "x", "urlPattern": "^/x$"},
		{"name": "x", "urlPattern": "^/x$", "routes": []any{map[string]any{"name": "r", "primary": true}}},
		{"name": "x", "urlPattern": "^/x$", "type": "soap", "routes": []any{map[string]any{"name": "r", "host": "h", "port": 1.0, "primary": true}}},
		{"name": "x", "urlPattern": "^/x$", "routes": []any{map[string]any{"name": "r", "host": "h", "port": "eighty", "primary": true}}},
	} {
		if _, err := busy.AddChannel(bad); err == nil {
			t.Errorf("AddChannel(%v) accepted", bad)
		}
	}
	// The caller's map is not retained.
	ch := publicChannel("mine", "^/m$", map[string]any{"name": "r", "host": "h", "port": 1.0, "primary": true})
	id := mustAddChannel(t, busy, ch)
	ch["name"] = "changed"
	if got, _ := busy.channel(id); got["name"] != "mine" {
		t.Fatal("AddChannel kept a reference to the caller's map")
	}
}
