package openhim

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestContract49_MethodNotListedIs404(t *testing.T) {
	c := startCore(t, Options{})
	up := newUpstream(t, nil)
	ch := publicChannel("get only", "^/test$", route("r", up, true, nil))
	ch["methods"] = []any{"GET"}
	mustAddChannel(t, c, ch)
	if r := call(t, "POST", c.RouterURL()+"/test", "x", nil); r.status != 404 {
		t.Fatalf("got %d", r.status)
	}
	if len(up.requests()) != 0 || len(c.Transactions()) != 0 {
		t.Fatal("a request reached the mediator or a transaction was stored")
	}
	// Unmatched paths are 404 with no transaction either.
	if r := call(t, "GET", c.RouterURL()+"/other", nil, nil); r.status != 404 || len(c.Transactions()) != 0 {
		t.Fatalf("unmatched: %d", r.status)
	}
	// A channel without methods never matches (≥7.0.1).
	ch2 := publicChannel("no methods", "^/nomethods$", route("r", up, true, nil))
	delete(ch2, "methods")
	mustAddChannel(t, c, ch2)
	if r := call(t, "GET", c.RouterURL()+"/nomethods", nil, nil); r.status != 404 {
		t.Fatalf("no methods: %d", r.status)
	}
}

func TestContract50_TransactionIDHeader(t *testing.T) {
	c := startCore(t, Options{})
	up := newUpstream(t, nil)
	mustAddChannel(t, c, publicChannel("c", "^/test$", route("r", up, true, nil)))
	call(t, "GET", c.RouterURL()+"/test", nil, nil)
	tx := lastTx(t, c)
	got := up.requests()[0].Header.Get("X-OpenHIM-TransactionID")
	if got != tx.ID || !isObjectID(got) {
		t.Fatalf("header %q, tx %q", got, tx.ID)
	}
}

func TestContract51_QueryKept(t *testing.T) {
	c := startCore(t, Options{})
	up := newUpstream(t, nil)
	mustAddChannel(t, c, publicChannel("c", "^/test$", route("r", up, true, nil)))
	call(t, "GET", c.RouterURL()+"/test?parma1=val1&parma2=val2", nil, nil)
	if got := up.requests()[0].URI; got != "/test?parma1=val1&parma2=val2" {
		t.Fatalf("got %q", got)
	}
	tx := lastTx(t, c)
	if tx.Request["querystring"] != "parma1=val1&parma2=val2" || tx.Request["path"] != "/test" {
		t.Fatalf("stored %v", tx.Request)
	}
	// Paths are matched, stored and forwarded undecoded, as Koa's ctx.path.
	mustAddChannel(t, c, publicChannel("raw", "^/raw/a%20b$", route("r", up, true, nil)))
	call(t, "GET", c.RouterURL()+"/raw/a%20b?q=%2F", nil, nil)
	if got := up.requests()[1].URI; got != "/raw/a%20b?q=%2F" {
		t.Fatalf("got %q", got)
	}
	if tx := lastTx(t, c); tx.Request["path"] != "/raw/a%20b" {
		t.Fatalf("stored %v", tx.Request["path"])
	}
}

func TestContract52_PathAndPathTransform(t *testing.T) {
	c := startCore(t, Options{})
	up := newUpstream(t, nil)
	mustAddChannel(t, c, publicChannel("path", "^/test$", route("r", up, true, map[string]any{"path": "/target"})))
	mustAddChannel(t, c, publicChannel("xform", "^/test2$", route("r", up, true, map[string]any{"pathTransform": "s/test2/target"})))
	call(t, "GET", c.RouterURL()+"/test?q=1", nil, nil)
	call(t, "GET", c.RouterURL()+"/test2", nil, nil)
	reqs := up.requests()
	if reqs[0].URI != "/target?q=1" || reqs[1].URI != "/target" {
		t.Fatalf("got %q %q", reqs[0].URI, reqs[1].URI)
	}
}

func TestContract52_TransformPathVectors(t *testing.T) {
	tests := []struct{ path, expr, want string }{
		{"foo", "s/foo/bar", "bar"},
		{"foo", "s/o/e/g", "fee"},
		{"foofoofoo", "s/foo/bar", "barfoofoo"},
		{"foofoofoo", "s/foo/bar/g", "barbarbar"},
		{"foo/bar", "s/foo\\/bar/", ""},
		{"/svc/x", "s/svc\\/?//", "/x"},
		{"/svc", "s/svc\\/?//", "/"},
		{"/go-example/Patient", "s/go-example\\/?//", "/Patient"},
		{"/a/123", "s/\\/a\\/(\\d+)/\\/b\\/$1/", "/b/123"},
		{"/nomatch", "s/zzz/y", "/nomatch"},
	}
	for _, tt := range tests {
		if got := transformPath(tt.path, tt.expr); got != tt.want {
			t.Errorf("transformPath(%q, %q) = %q, want %q", tt.path, tt.expr, got, tt.want)
		}
	}
}

func TestContract53_AuthorizationHeader(t *testing.T) {
	c := startCore(t, Options{})
	c.AddClient(Client{ClientID: "test-client", Name: "Test", Password: "client-pw", Roles: []string{"r1"}})
	up := newUpstream(t, nil)
	mk := func(name, pattern string, extra map[string]any) {
		ch := publicChannel(name, pattern, route("r", up, true, extra))
		ch["authType"] = "private"
		ch["allow"] = []any{"r1"}
		mustAddChannel(t, c, ch)
	}
	mk("drop", "^/drop$", nil)
	mk("forward", "^/forward$", map[string]any{"forwardAuthHeader": true})
	mk("own", "^/own$", map[string]any{"username": "core-user", "password": "core-pw"})
	auth := map[string]string{"Authorization": basicAuth("test-client", "client-pw")}
	for _, p := range []string{"/drop", "/forward", "/own"} {
		if r := call(t, "GET", c.RouterURL()+p, nil, auth); r.status != 200 {
			t.Fatalf("%s: %d", p, r.status)
		}
	}
	reqs := up.requests()
	if h := reqs[0].Header.Get("Authorization"); h != "" {
		t.Errorf("dropped: %q", h)
	}
	if h := reqs[1].Header.Get("Authorization"); h != basicAuth("test-client", "client-pw") {
		t.Errorf("forwarded: %q", h)
	}
	if h := reqs[2].Header.Get("Authorization"); h != basicAuth("core-user", "core-pw") {
		t.Errorf("route credentials: %q", h)
	}
	// §15: the client's clientID travels as X-OpenHIM-ClientID.
	if h := reqs[0].Header.Get("X-OpenHIM-ClientID"); h != "test-client" {
		t.Errorf("X-OpenHIM-ClientID %q", h)
	}
}

func TestRouterClientAuthorisation(t *testing.T) {
	c := startCore(t, Options{})
	c.AddClient(Client{ClientID: "a", Password: "pa", Roles: []string{"role-a"}})
	c.AddClient(Client{ClientID: "b", Password: "pb", Roles: []string{"role-b"}})
	up := newUpstream(t, nil)
	ch := publicChannel("private", "^/p$", route("r", up, true, nil))
	ch["authType"] = "private"
	ch["allow"] = []any{"role-a", "b"}
	mustAddChannel(t, c, ch)
	empty := publicChannel("private-empty", "^/e$", route("r", up, true, nil))
	empty["authType"] = "private"
	mustAddChannel(t, c, empty)
	tests := []struct {
		name, path, auth string
		want             int
	}{
		{"by role", "/p", basicAuth("a", "pa"), 200},
		{"by clientID", "/p", basicAuth("b", "pb"), 200},
		{"wrong password", "/p", basicAuth("a", "pb"), 401},
		{"no auth", "/p", "", 401},
		{"empty allow admits nobody", "/e", basicAuth("a", "pa"), 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{}
			if tt.auth != "" {
				h["Authorization"] = tt.auth
			}
			r := call(t, "GET", c.RouterURL()+tt.path, nil, h)
			if r.status != tt.want {
				t.Fatalf("got %d", r.status)
			}
			if r.status == 401 && r.header.Get("WWW-Authenticate") != "Basic" {
				t.Fatal("missing WWW-Authenticate")
			}
		})
	}
	// 401s store no transaction.
	if n := len(c.Transactions()); n != 2 {
		t.Fatalf("transactions %d", n)
	}
}

func TestContract54_BodyForwardedForPostPutPatch(t *testing.T) {
	c := startCore(t, Options{})
	up := newUpstream(t, nil)
	mustAddChannel(t, c, publicChannel("c", "^/test$", route("r", up, true, nil)))
	for _, m := range []string{"POST", "PUT", "PATCH"} {
		for _, body := range []string{`{"a":1}`, ""} {
			call(t, m, c.RouterURL()+"/test", body, map[string]string{"Content-Type": "application/json"})
			got := up.requests()
			last := got[len(got)-1]
			if last.Method != m || last.Body != body {
				t.Fatalf("%s %q: got %s %q", m, body, last.Method, last.Body)
			}
		}
	}
	// GET and DELETE never carry the body.
	req, _ := http.NewRequest("DELETE", c.RouterURL()+"/test", strings.NewReader("ignored"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := up.requests()
	if last := got[len(got)-1]; last.Method != "DELETE" || last.Body != "" {
		t.Fatalf("DELETE body %q", last.Body)
	}
}

func TestContract55_ChannelTimeout(t *testing.T) {
	c := startCore(t, Options{})
	release := make(chan struct{})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-time.After(2 * time.Second):
		}
	})
	defer close(release)
	ch := publicChannel("slow", "^/slow$", route("r", up, true, nil))
	ch["timeout"] = 20.0
	mustAddChannel(t, c, ch)
	r := call(t, "GET", c.RouterURL()+"/slow", nil, nil)
	if r.status != 500 || r.body != "An internal server error occurred" {
		t.Fatalf("got %d %q", r.status, r.body)
	}
	tx := lastTx(t, c)
	if len(tx.Orchestrations) != 1 || obj(tx.Orchestrations[0]["error"])["message"] != "Request took longer than 20ms" {
		t.Fatalf("orchestrations %v", tx.Orchestrations)
	}
	if tx.Status != "Failed" || !tx.AutoRetry || tx.Error["message"] != "Request took longer than 20ms" {
		t.Fatalf("tx %+v", tx)
	}
}

func TestContract56_UnreachableRoute(t *testing.T) {
	c := startCore(t, Options{})
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	mustAddChannel(t, c, publicChannel("dead", "^/dead$", map[string]any{"name": "gone", "host": "127.0.0.1", "port": float64(port), "primary": true}))
	r := call(t, "GET", c.RouterURL()+"/dead", nil, nil)
	if r.status != 500 {
		t.Fatalf("got %d", r.status)
	}
	tx := lastTx(t, c)
	msg := str(obj(tx.Orchestrations[0]["error"])["message"])
	if msg != "connect ECONNREFUSED 127.0.0.1:"+strconv.Itoa(port) || tx.Status != "Failed" || tx.Orchestrations[0]["name"] != "gone" {
		t.Fatalf("msg %q status %s", msg, tx.Status)
	}
}

func TestContract57_MultiplePrimaries(t *testing.T) {
	c := startCore(t, Options{DisablePolling: true})
	up := newUpstream(t, nil)
	// The channel API refuses two primaries, so install it as a default.
	m := minimalMediator("urn:two", "1.0.0")
	m["defaultChannelConfig"] = []any{publicChannel("two", "^/two$", route("a", up, true, nil), route("b", up, true, nil))}
	root(t, c, "POST", "/mediators", m)
	if r := root(t, c, "POST", "/mediators/urn:two/channels", []any{}); r.status != 201 {
		t.Fatal(r.body)
	}
	if _, err := c.AddChannel(publicChannel("two-api", "^/x$", route("a", up, true, nil), route("b", up, true, nil))); err == nil || err.Error() != "Channel cannot have a multiple primary routes" {
		t.Fatalf("API: %v", err)
	}
	r := call(t, "GET", c.RouterURL()+"/two", nil, nil)
	if r.status != 500 {
		t.Fatalf("got %d", r.status)
	}
	if len(up.requests()) != 0 {
		t.Fatal("a route was called")
	}
	tx := lastTx(t, c)
	if tx.Error["message"] != "Cannot route transaction: Channel contains multiple primary routes and only one primary is allowed" || tx.Status != "Failed" {
		t.Fatalf("%+v", tx)
	}
}

func TestNoPrimaryRouteHangs(t *testing.T) {
	c := startCore(t, Options{DisablePolling: true})
	up := newUpstream(t, nil)
	m := minimalMediator("urn:np", "1.0.0")
	m["defaultChannelConfig"] = []any{publicChannel("np", "^/np$", route("secondary", up, false, nil))}
	root(t, c, "POST", "/mediators", m)
	root(t, c, "POST", "/mediators/urn:np/channels", []any{})
	cl := &http.Client{Timeout: 300 * time.Millisecond}
	_, err := cl.Get(c.RouterURL() + "/np")
	if err == nil {
		t.Fatal("request without a primary route must hang until the client gives up")
	}
	c.Wait()
	tx := lastTx(t, c)
	if tx.Status != "Processing" || tx.Response != nil {
		t.Fatalf("%+v", tx)
	}
	if len(up.requests()) != 1 {
		t.Fatal("secondaries are still called")
	}
}

func TestContract58_MediatorResponseProcessing(t *testing.T) {
	c := startCore(t, Options{})
	env := map[string]any{
		"x-mediator-urn": "urn:m", "status": "Successful",
		"response": map[string]any{"status": 200, "headers": map[string]any{}, "body": "<transaction response>", "timestamp": time.Now().UTC().Format(time.RFC3339)},
		"orchestrations": []any{map[string]any{"name": "Lookup", "request": map[string]any{"path": "/x", "method": "GET", "timestamp": "2024-01-01T10:00:00Z"},
			"response": map[string]any{"status": 200, "body": "r", "timestamp": "2024-01-01T10:00:01Z"}}},
		"properties": map[string]any{"orderId": "TEST00001"},
	}
	up := newUpstream(t, mediatorReply(env))
	mustAddChannel(t, c, publicChannel("m", "^/m$", route("mediator route", up, true, nil)))
	r := call(t, "GET", c.RouterURL()+"/m", nil, nil)
	if r.status != 200 || r.body != "<transaction response>" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("client got %d %q %q", r.status, r.body, r.header.Get("Content-Type"))
	}
	tx := lastTx(t, c)
	if r.header.Get("X-OpenHIM-TransactionID") != tx.ID {
		t.Fatal("X-OpenHIM-TransactionID missing on the client response")
	}
	if tx.Status != "Successful" || len(tx.Orchestrations) != 2 || tx.Orchestrations[0]["name"] != "Lookup" ||
		tx.Orchestrations[1]["name"] != "mediator route" || tx.Properties["orderId"] != "TEST00001" {
		t.Fatalf("%+v", tx)
	}
	// Core's own orchestration holds what it sent and the raw envelope.
	core := tx.Orchestrations[1]
	if obj(core["request"])["method"] != "GET" || !strings.Contains(str(obj(core["response"])["body"]), "x-mediator-urn") {
		t.Fatalf("core orchestration %v", core)
	}
	if tx.Response["body"] != "<transaction response>" {
		t.Fatalf("response %v", tx.Response)
	}
}

func TestSharedMediatorResponsePayloads(t *testing.T) {
	c := startCore(t, Options{})
	ok := loadJSON(t, "mediator-response.json")
	bad := loadJSON(t, "mediator-response-error.json")
	up1 := newUpstream(t, mediatorReply(ok))
	up2 := newUpstream(t, mediatorReply(bad))
	mustAddChannel(t, c, publicChannel("ok", "^/ok$", route("r", up1, true, nil)))
	mustAddChannel(t, c, publicChannel("bad", "^/bad$", route("r", up2, true, nil)))
	r := call(t, "POST", c.RouterURL()+"/ok", `{"resourceType":"Patient"}`, map[string]string{"Content-Type": "application/fhir+json"})
	// 201 with location: no redirect (contract 60).
	if r.status != 201 || r.header.Get("Location") != "Patient/123/_history/1" || r.header.Get("Content-Type") != "application/fhir+json" {
		t.Fatalf("ok: %d %v", r.status, r.header)
	}
	tx := lastTx(t, c)
	if tx.Status != "Successful" || len(tx.Orchestrations) != 3 || tx.Properties["patientId"] != "123" || tx.AutoRetry {
		t.Fatalf("ok tx %+v", tx)
	}
	if tx.Response["timestamp"] != "2024-01-01T10:00:01.250Z" {
		t.Fatalf("timestamp %v", tx.Response["timestamp"])
	}
	r = call(t, "GET", c.RouterURL()+"/bad", nil, nil)
	if r.status != 500 || r.body != "Upstream SHR unavailable" {
		t.Fatalf("bad: %d %q", r.status, r.body)
	}
	tx = lastTx(t, c)
	if tx.Status != "Failed" || !tx.AutoRetry || tx.Error["message"] != "connect ECONNREFUSED 10.0.0.5:8080" || len(tx.Orchestrations) != 2 {
		t.Fatalf("bad tx %+v", tx)
	}
}

func TestContract59_60_61_ClientStatusAndHeaders(t *testing.T) {
	tests := []struct {
		name       string
		status     any
		headers    map[string]any
		wantStatus int
		check      func(t *testing.T, r reply)
	}{
		{"59 400 with headers", 400, map[string]any{"content-type": "text/xml", "another-header": "xyz", "content-length": "999", "content-encoding": "gzip"}, 400,
			func(t *testing.T, r reply) {
				if r.header.Get("Content-Type") != "text/xml" || r.header.Get("another-header") != "xyz" || r.header.Get("Content-Encoding") != "" {
					t.Fatalf("%v", r.header)
				}
			}},
		{"60 201 location", 201, map[string]any{"location": "/new/1"}, 201,
			func(t *testing.T, r reply) {
				if r.header.Get("Location") != "/new/1" || r.body != "body" {
					t.Fatalf("%v %q", r.header, r.body)
				}
			}},
		{"60 301 redirect", 301, map[string]any{"location": "http://elsewhere/x"}, 301,
			func(t *testing.T, r reply) {
				if r.header.Get("Location") != "http://elsewhere/x" || !strings.HasPrefix(r.body, "Redirecting to") {
					t.Fatalf("%v %q", r.header, r.body)
				}
			}},
		{"61 string status", "201", map[string]any{}, 201, nil},
		{"set-cookie array", 200, map[string]any{"set-cookie": []any{"a=1", "b=2"}}, 200,
			func(t *testing.T, r reply) {
				if len(r.header.Values("Set-Cookie")) != 2 {
					t.Fatalf("%v", r.header)
				}
			}},
		{"non-numeric status", "abc", map[string]any{}, 500, nil},
		{"missing status", nil, map[string]any{}, 500, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := startCore(t, Options{})
			resp := map[string]any{"headers": tt.headers, "body": "body", "timestamp": "2024-01-01T10:00:00Z"}
			if tt.status != nil {
				resp["status"] = tt.status
			}
			up := newUpstream(t, mediatorReply(map[string]any{"status": "Successful", "response": resp}))
			mustAddChannel(t, c, publicChannel("c", "^/c$", route("r", up, true, nil)))
			r := call(t, "GET", c.RouterURL()+"/c", nil, nil)
			if r.status != tt.wantStatus {
				t.Fatalf("got %d %q", r.status, r.body)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
			if tt.wantStatus == 500 {
				// The client got 500, but the mediator's status still wins
				// (§5.6).
				if tx := lastTx(t, c); tx.Status != "Successful" || tx.Error == nil {
					t.Fatalf("%+v", tx)
				}
			}
		})
	}
}

func TestContract62_NonPrimaryMediatorStatusIgnored(t *testing.T) {
	c := startCore(t, Options{})
	prim := newUpstream(t, plainReply(200, "ok"))
	sec := newUpstream(t, mediatorReply(map[string]any{"status": "Failed", "error": map[string]any{"message": "ignored"},
		"response":       map[string]any{"status": 200, "body": "sec", "timestamp": "2024-01-01T10:00:00Z"},
		"orchestrations": []any{map[string]any{"name": "sec orch"}}, "properties": map[string]any{"k": "v"}}))
	mustAddChannel(t, c, publicChannel("c", "^/c$", route("p", prim, true, nil), route("s", sec, false, nil)))
	call(t, "GET", c.RouterURL()+"/c", nil, nil)
	tx := lastTx(t, c)
	if tx.Status != "Successful" || tx.AutoRetry || len(tx.Routes) != 1 {
		t.Fatalf("%+v", tx)
	}
	rt := tx.Routes[0]
	if rt["name"] != "s" || len(arr(rt["orchestrations"])) != 1 || obj(rt["properties"])["k"] != "v" || obj(rt["response"])["body"] != "sec" {
		t.Fatalf("route %v", rt)
	}
}

func TestContract63_MediatorErrorSetsAutoRetry(t *testing.T) {
	c := startCore(t, Options{})
	up := newUpstream(t, mediatorReply(map[string]any{"status": "Failed",
		"response": map[string]any{"status": 500, "body": "boom", "timestamp": "2024-01-01T10:00:00Z"},
		"error":    map[string]any{"message": "upstream down", "stack": "trace"}}))
	ch := publicChannel("c", "^/c$", route("p", up, true, nil))
	ch["autoRetryEnabled"] = true
	ch["autoRetryMaxAttempts"] = 2.0
	id := mustAddChannel(t, c, ch)
	call(t, "GET", c.RouterURL()+"/c", nil, nil)
	tx := lastTx(t, c)
	if !tx.AutoRetry || tx.Error["message"] != "upstream down" || tx.Error["stack"] != "trace" || tx.ChannelID != id {
		t.Fatalf("%+v", tx)
	}
	if q := c.QueuedForRetry(); len(q) != 1 || q[0] != tx.ID {
		t.Fatalf("queue %v", q)
	}
	// A plain 500 without error does not auto-retry.
	up.set(plainReply(500, "plain"))
	call(t, "GET", c.RouterURL()+"/c", nil, nil)
	if tx := lastTx(t, c); tx.AutoRetry || tx.Status != "Failed" {
		t.Fatalf("plain 500: %+v", tx)
	}
}

func TestContract64_StatusDerivationTable(t *testing.T) {
	tests := []struct {
		primary     int
		secondaries []int
		want        string
	}{
		{200, []int{200, 201}, "Successful"},
		{500, []int{200}, "Failed"},
		{200, []int{200, 500}, "Completed with error(s)"},
		{404, []int{500}, "Completed with error(s)"},
		{201, []int{201, 404}, "Completed"},
		{404, []int{201, 404}, "Completed"},
		{302, nil, "Completed"},
		{200, []int{302}, "Completed"},
		{400, nil, "Completed"},
		{204, nil, "Successful"},
	}
	for _, tt := range tests {
		name := strconv.Itoa(tt.primary)
		for _, s := range tt.secondaries {
			name += "-" + strconv.Itoa(s)
		}
		t.Run(name, func(t *testing.T) {
			if got := deriveStatus(tt.primary, tt.secondaries, false); got != tt.want {
				t.Fatalf("deriveStatus = %q, want %q", got, tt.want)
			}
			// And end to end through the router with plain upstreams.
			c := startCore(t, Options{})
			routes := []map[string]any{route("p", newUpstream(t, plainReply(tt.primary, "p")), true, nil)}
			for i, s := range tt.secondaries {
				routes = append(routes, route("s"+strconv.Itoa(i), newUpstream(t, plainReply(s, "s")), false, nil))
			}
			mustAddChannel(t, c, publicChannel("c", "^/c$", routes...))
			r := call(t, "GET", c.RouterURL()+"/c", nil, nil)
			if r.status != tt.primary {
				t.Fatalf("client status %d", r.status)
			}
			if tx := lastTx(t, c); tx.Status != tt.want {
				t.Fatalf("tx status %q", tx.Status)
			}
		})
	}
}

func TestContract65_MediatorStatusOverrides(t *testing.T) {
	c := startCore(t, Options{})
	up := newUpstream(t, mediatorReply(map[string]any{"status": "Failed", "response": map[string]any{"status": 200, "body": "fine", "timestamp": "2024-01-01T10:00:00Z"}}))
	mustAddChannel(t, c, publicChannel("c", "^/c$", route("p", up, true, nil)))
	if r := call(t, "GET", c.RouterURL()+"/c", nil, nil); r.status != 200 {
		t.Fatalf("got %d", r.status)
	}
	if tx := lastTx(t, c); tx.Status != "Failed" || tx.AutoRetry {
		t.Fatalf("%+v", tx)
	}
	// Not validated: a typo is stored as-is.
	up.set(mediatorReply(map[string]any{"status": "Sucessful", "response": map[string]any{"status": 200, "body": "", "timestamp": "2024-01-01T10:00:00Z"}}))
	call(t, "GET", c.RouterURL()+"/c", nil, nil)
	if tx := lastTx(t, c); tx.Status != "Sucessful" {
		t.Fatalf("%+v", tx)
	}
}

func TestContract66_BodyTruncation(t *testing.T) {
	c := startCore(t, Options{MaxBodiesSizeMB: 1})
	big := strings.Repeat("a", 700<<10)
	up := newUpstream(t, plainReply(200, big))
	mustAddChannel(t, c, publicChannel("c", "^/c$", route("p", up, true, nil)))
	r := call(t, "POST", c.RouterURL()+"/c", big, nil)
	if r.status != 200 || len(r.body) != len(big) {
		t.Fatalf("the client gets the whole body: %d %d", r.status, len(r.body))
	}
	tx := lastTx(t, c)
	reqBody, respBody := str(tx.Request["body"]), str(tx.Response["body"])
	if reqBody != big || !tx.CanRerun {
		t.Fatalf("request within budget must be kept (len %d)", len(reqBody))
	}
	if !strings.HasSuffix(respBody, truncateAppend) || len(respBody) != (1<<20)-len(big)+len(truncateAppend) {
		t.Fatalf("response body len %d", len(respBody))
	}
	// A request body over budget is truncated and the transaction cannot be
	// rerun.
	huge := strings.Repeat("b", (1<<20)+10)
	call(t, "POST", c.RouterURL()+"/c", huge, nil)
	tx = lastTx(t, c)
	if got := str(tx.Request["body"]); len(got) != (1<<20)+len(truncateAppend) || tx.CanRerun {
		t.Fatalf("request len %d canRerun %v", len(got), tx.CanRerun)
	}
	if str(tx.Response["body"]) != truncateAppend {
		t.Fatalf("budget exhausted: response %q", str(tx.Response["body"])[:20])
	}
}

func TestEmptyBodyPostNotRerunnable(t *testing.T) {
	c := startCore(t, Options{})
	up := newUpstream(t, nil)
	ch := publicChannel("c", "^/c$", route("p", up, true, nil))
	mustAddChannel(t, c, ch)
	call(t, "POST", c.RouterURL()+"/c", "", nil)
	if tx := lastTx(t, c); tx.CanRerun {
		t.Fatal("empty POST must set canRerun:false")
	}
	call(t, "GET", c.RouterURL()+"/c", nil, nil)
	if tx := lastTx(t, c); !tx.CanRerun {
		t.Fatal("GET must stay rerunnable")
	}
}

func TestContract67_AsyncChannel(t *testing.T) {
	c := startCore(t, Options{})
	up := newUpstream(t, mediatorReply(map[string]any{"response": map[string]any{"status": 200, "body": "accepted", "timestamp": "2024-01-01T10:00:00Z"}}))
	ch := publicChannel("c", "^/c$", route("p", up, true, nil))
	ch["isAsynchronousProcess"] = true
	mustAddChannel(t, c, ch)
	r := call(t, "POST", c.RouterURL()+"/c", "x", nil)
	if r.status != 202 {
		t.Fatalf("got %d", r.status)
	}
	tx := lastTx(t, c)
	if tx.Status != "Pending Async" || tx.Response["status"] != 202.0 {
		t.Fatalf("%+v", tx)
	}
	// 4xx is passed through and derives Completed.
	up.set(mediatorReply(map[string]any{"response": map[string]any{"status": 404, "body": "no", "timestamp": "2024-01-01T10:00:00Z"}}))
	if r := call(t, "POST", c.RouterURL()+"/c", "x", nil); r.status != 404 {
		t.Fatalf("got %d", r.status)
	}
	if tx := lastTx(t, c); tx.Status != "Completed" {
		t.Fatalf("%+v", tx)
	}
}

func TestContract68_MissingResponseTimestamp(t *testing.T) {
	c := startCore(t, Options{})
	up := newUpstream(t, mediatorReply(map[string]any{"status": "Successful", "response": map[string]any{"status": 200, "body": "x"}}))
	mustAddChannel(t, c, publicChannel("c", "^/c$", route("p", up, true, nil)))
	call(t, "GET", c.RouterURL()+"/c", nil, nil)
	// The response is stored without timestamp: core's metrics skip such
	// transactions (the simulator keeps no metrics; the absence is what a
	// test can observe).
	tx := lastTx(t, c)
	if _, ok := tx.Response["timestamp"]; ok || tx.Status != "Successful" {
		t.Fatalf("%+v", tx.Response)
	}
}

func TestMalformedMediatorResponses(t *testing.T) {
	ts := "2024-01-01T10:00:00Z"
	tests := []struct {
		name       string
		body       string
		wantClient int
		check      func(t *testing.T, tx Transaction)
	}{
		{"invalid JSON", `{"status":`, 500, func(t *testing.T, tx Transaction) {
			if tx.Status != "Failed" || tx.Error == nil || !tx.AutoRetry {
				t.Fatalf("%+v", tx)
			}
		}},
		{"response missing", `{"status":"Successful"}`, 500, func(t *testing.T, tx Transaction) {
			if tx.Error == nil || !tx.AutoRetry {
				t.Fatalf("%+v", tx)
			}
		}},
		{"orchestration without name", `{"status":"Successful","response":{"status":200,"body":"x","timestamp":"` + ts + `"},"orchestrations":[{"request":{"timestamp":"` + ts + `"}}],"properties":{"a":"b"}}`, 200,
			func(t *testing.T, tx Transaction) {
				if tx.Response != nil || len(tx.Orchestrations) != 0 || tx.Properties != nil || tx.Status != "Successful" {
					t.Fatalf("%+v", tx)
				}
			}},
		{"orchestration request without timestamp", `{"status":"Successful","response":{"status":200,"body":"x","timestamp":"` + ts + `"},"orchestrations":[{"name":"n","request":{"path":"/"}}]}`, 200,
			func(t *testing.T, tx Transaction) {
				if tx.Response != nil || len(tx.Orchestrations) != 0 {
					t.Fatalf("%+v", tx)
				}
			}},
		{"orchestrations not an array", `{"response":{"status":200,"body":"x","timestamp":"` + ts + `"},"orchestrations":{"name":"n"}}`, 200,
			func(t *testing.T, tx Transaction) {
				if tx.Response != nil {
					t.Fatalf("%+v", tx)
				}
			}},
		{"object body", `{"response":{"status":200,"body":{"a":1},"timestamp":"` + ts + `"}}`, 200,
			func(t *testing.T, tx Transaction) {
				if tx.Response["body"] != "[object Object]" || tx.Status != "Successful" {
					t.Fatalf("%+v", tx)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := startCore(t, Options{})
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json+openhim; charset=utf-8")
				_, _ = io.WriteString(w, tt.body)
			})
			mustAddChannel(t, c, publicChannel("c", "^/c$", route("p", up, true, nil)))
			r := call(t, "GET", c.RouterURL()+"/c", nil, nil)
			if r.status != tt.wantClient {
				t.Fatalf("client %d %q", r.status, r.body)
			}
			tt.check(t, lastTx(t, c))
		})
	}
}

func TestContentTypeDetectionIsCaseSensitive(t *testing.T) {
	c := startCore(t, Options{})
	env, _ := json.Marshal(map[string]any{"status": "Failed", "response": map[string]any{"status": 201, "body": "x"}})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "Application/JSON+OpenHIM")
		_, _ = w.Write(env)
	})
	mustAddChannel(t, c, publicChannel("c", "^/c$", route("p", up, true, nil)))
	r := call(t, "GET", c.RouterURL()+"/c", nil, nil)
	if r.status != 200 || r.body != string(env) {
		t.Fatalf("passed through expected: %d %q", r.status, r.body)
	}
	if tx := lastTx(t, c); tx.Status != "Successful" {
		t.Fatalf("%+v", tx)
	}
}

func TestGzipMediatorResponseDecoded(t *testing.T) {
	c := startCore(t, Options{})
	env, _ := json.Marshal(map[string]any{"status": "Successful", "response": map[string]any{"status": 200, "body": "zipped", "timestamp": "2024-01-01T10:00:00Z"}})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(env)
		zw.Close()
		w.Header().Set("Content-Type", "application/json+openhim")
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(b.Bytes())
	})
	mustAddChannel(t, c, publicChannel("c", "^/c$", route("p", up, true, nil)))
	if r := call(t, "GET", c.RouterURL()+"/c", nil, nil); r.body != "zipped" {
		t.Fatalf("%q", r.body)
	}
}

func TestRoutedHeadersAsObserved(t *testing.T) {
	c := startCore(t, Options{})
	c.AddClient(Client{ClientID: "test-client", Password: "pw", Roles: []string{"r"}})
	up := newUpstream(t, nil)
	ch := publicChannel("c", "^/test$", route("p", up, true, map[string]any{"path": "/"}))
	ch["authType"] = "private"
	ch["allow"] = []any{"test-client"}
	mustAddChannel(t, c, ch)
	call(t, "POST", c.RouterURL()+"/test?foo=bar", `{"hello":"world"}`, map[string]string{"Content-Type": "application/json",
		"x-test-header": "hello", "Authorization": basicAuth("test-client", "pw")})
	got := up.requests()[0]
	h, _ := up.hostPort()
	if got.URI != "/?foo=bar" || got.Body != `{"hello":"world"}` || got.Header.Get("X-Test-Header") != "hello" ||
		got.Header.Get("X-Forwarded-For") != "127.0.0.1" || got.Header.Get("X-Forwarded-Host") != strings.TrimPrefix(c.RouterURL(), "http://") ||
		got.Header.Get("X-OpenHIM-ClientID") != "test-client" || got.Header.Get("Authorization") != "" || !strings.HasPrefix(h, "127.0.0.1") {
		t.Fatalf("%+v", got)
	}
	tx := lastTx(t, c)
	hs := obj(tx.Request["headers"])
	if hs["x-test-header"] != "hello" || hs["X-Forwarded-For"] != "127.0.0.1" || hs["authorization"] == nil {
		t.Fatalf("stored headers %v", hs)
	}
	if tx.ClientID == "" || tx.ClientID == "test-client" {
		t.Fatalf("clientID must be the client's _id: %q", tx.ClientID)
	}
}

func TestWaitPrimaryResponseRoutes(t *testing.T) {
	c := startCore(t, Options{})
	prim := newUpstream(t, plainReply(201, "p"))
	onOK := newUpstream(t, nil)
	on4xx := newUpstream(t, nil)
	mustAddChannel(t, c, publicChannel("c", "^/c$", route("p", prim, true, nil),
		route("ok", onOK, false, map[string]any{"waitPrimaryResponse": true, "statusCodesCheck": "2**"}),
		route("4xx", on4xx, false, map[string]any{"waitPrimaryResponse": true, "statusCodesCheck": "400,404"})))
	call(t, "GET", c.RouterURL()+"/c", nil, nil)
	c.Wait()
	if len(onOK.requests()) != 1 || len(on4xx.requests()) != 0 {
		t.Fatalf("ok %d 4xx %d", len(onOK.requests()), len(on4xx.requests()))
	}
	for _, tc := range []struct {
		check  string
		status int
		want   bool
	}{{"2**", 201, true}, {"2xx", 201, false}, {"200,201", 201, true}, {"200", 201, false}, {"", 500, true}, {"5**", 503, true}} {
		if got := statusCodesMatch(tc.check, tc.status); got != tc.want {
			t.Errorf("statusCodesMatch(%q,%d)=%v", tc.check, tc.status, got)
		}
	}
}

func TestSecondaryNetworkErrorAutoRetries(t *testing.T) {
	c := startCore(t, Options{})
	prim := newUpstream(t, plainReply(200, "p"))
	dead := map[string]any{"name": "dead", "host": "127.0.0.1", "port": 1.0, "primary": false}
	mustAddChannel(t, c, publicChannel("c", "^/c$", route("p", prim, true, nil), dead))
	call(t, "GET", c.RouterURL()+"/c", nil, nil)
	tx := lastTx(t, c)
	if !tx.AutoRetry || tx.Status != "Completed with error(s)" || len(tx.Routes) != 1 || obj(tx.Routes[0]["error"])["message"] == nil {
		t.Fatalf("%+v", tx)
	}
}

func TestChannelPriorityAndContentMatching(t *testing.T) {
	c := startCore(t, Options{})
	a := newUpstream(t, plainReply(200, "a"))
	b := newUpstream(t, plainReply(200, "b"))
	j := newUpstream(t, plainReply(200, "json"))
	low := publicChannel("low", "^/p", route("r", a, true, nil))
	low["priority"] = 2.0
	high := publicChannel("high", "^/p", route("r", b, true, nil))
	high["priority"] = 1.0
	mustAddChannel(t, c, low)
	mustAddChannel(t, c, high)
	jsonOnly := publicChannel("json", "^/ct$", route("r", j, true, nil))
	jsonOnly["matchContentTypes"] = []any{"application/json"}
	mustAddChannel(t, c, jsonOnly)
	if r := call(t, "GET", c.RouterURL()+"/p", nil, nil); r.body != "b" {
		t.Fatalf("priority: %q", r.body)
	}
	if r := call(t, "POST", c.RouterURL()+"/ct", "{}", map[string]string{"Content-Type": "application/json; charset=utf-8"}); r.body != "json" {
		t.Fatalf("content type: %d %q", r.status, r.body)
	}
	if r := call(t, "POST", c.RouterURL()+"/ct", "x", map[string]string{"Content-Type": "text/plain"}); r.status != 404 {
		t.Fatalf("content type mismatch: %d", r.status)
	}
}

func TestDisabledRouteAndChannel(t *testing.T) {
	c := startCore(t, Options{})
	p := newUpstream(t, nil)
	off := newUpstream(t, nil)
	mustAddChannel(t, c, publicChannel("c", "^/c$", route("p", p, true, nil), route("off", off, false, map[string]any{"status": "disabled"})))
	ch := publicChannel("d", "^/d$", route("p", p, true, nil))
	ch["status"] = "disabled"
	mustAddChannel(t, c, ch)
	call(t, "GET", c.RouterURL()+"/c", nil, nil)
	c.Wait()
	if len(off.requests()) != 0 {
		t.Fatal("disabled route called")
	}
	if r := call(t, "GET", c.RouterURL()+"/d", nil, nil); r.status != 404 {
		t.Fatalf("disabled channel: %d", r.status)
	}
}

func TestResponseBodyFalse(t *testing.T) {
	c := startCore(t, Options{})
	up := newUpstream(t, plainReply(200, "secret-ish"))
	ch := publicChannel("c", "^/c$", route("p", up, true, nil))
	ch["requestBody"] = false
	ch["responseBody"] = false
	mustAddChannel(t, c, ch)
	call(t, "POST", c.RouterURL()+"/c", "payload", nil)
	tx := lastTx(t, c)
	if tx.Request["body"] != "" || tx.Response["body"] != "" || tx.CanRerun {
		t.Fatalf("%+v", tx)
	}
	if !reflect.DeepEqual(up.requests()[0].Body, "payload") {
		t.Fatal("the route still gets the body")
	}
}
