package webhook

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/mux"

	_ "github.com/jobmediator/jobmediator/adaptors/all"
	"github.com/jobmediator/jobmediator/channels/internal/chantest"
	"github.com/jobmediator/jobmediator/channels/queue"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/mediator"
	"github.com/jobmediator/jobmediator/runtime"
	"github.com/jobmediator/jobmediator/store"
	"github.com/jobmediator/jobmediator/workflow"
)

const secret = chantest.Secret

// testOptions is what a fixture may change: the executor's options, the
// endpoints' and the queue's store.
type testOptions struct {
	execOptions
	Options
	Store store.Store
	// Project changes the loaded project's options before the endpoints
	// are built.
	Project func(*config.Project)
}

type execOptions = workflow.Options

type fixture struct {
	x      *workflow.Executor
	h      *Webhook
	q      *queue.Queue
	router *mux.Router
	up     *chantest.Upstream
}

func newFixture(t testing.TB, mut func(*testOptions)) *fixture {
	t.Helper()
	p, err := config.LoadProject("testdata/project")
	if err != nil {
		t.Fatal(err)
	}
	up := chantest.NewUpstream(t)
	creds := config.NewCredentials(map[string]map[string]any{
		"upstream": {"baseUrl": up.Srv.URL, "username": "demo", "password": secret},
	})
	red := redact.New()
	red.AddValues(creds.SecretValues()...)
	o := testOptions{
		execOptions: workflow.Options{
			URN:         "urn:mediator:test",
			Runner:      workflow.NewLocal(runtime.New(runtime.Options{})),
			Credentials: creds.Get,
			Redactor:    red,
		},
		Options: Options{BodyLimit: 1024},
	}
	if mut != nil {
		mut(&o)
	}
	if o.Project != nil {
		o.Project(p)
	}
	x, err := workflow.New(p, o.execOptions)
	if err != nil {
		t.Fatal(err)
	}
	q := queue.New(x, queue.Options{Store: o.Store, Completer: o.Completer})
	h := New(x, q, o.Options)
	r := mux.NewRouter()
	h.Register(r)
	return &fixture{x: x, h: h, q: q, router: r, up: up}
}

type call struct {
	method, path, contentType, body string
	tx                              string // X-OpenHIM-TransactionID
	extra                           map[string]string
}

func (f *fixture) do(c call) *httptest.ResponseRecorder {
	if c.method == "" {
		c.method = http.MethodPost
	}
	req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
	if c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	}
	if c.tx != "" {
		req.Header.Set("X-OpenHIM-TransactionID", c.tx)
	}
	for k, v := range c.extra {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	f.router.ServeHTTP(w, req)
	return w
}

func envelopeOf(t *testing.T, w *httptest.ResponseRecorder) mediator.Response {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != mediator.ContentType {
		t.Fatalf("routed request must get %s, got %q: %s", mediator.ContentType, ct, w.Body)
	}
	var env mediator.Response
	if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil {
		t.Fatalf("envelope: %v: %s", err, w.Body)
	}
	if env.URN != "urn:mediator:test" || env.Response.Timestamp.IsZero() || env.Response.Headers == nil {
		t.Fatalf("envelope misses urn/timestamp/headers: %+v", env)
	}
	return env
}

func TestRoutedSuccessRecordsRedactedOrchestration(t *testing.T) {
	f := newFixture(t, nil)
	w := f.do(call{path: "/echo", contentType: "application/json", body: `{"name":"Ana","age":7}`, tx: "5f0000000000000000000001"})
	env := envelopeOf(t, w)
	if w.Code != 200 || env.Status != mediator.StatusSuccessful || env.Response.Status != 200 {
		t.Fatalf("got %d %s %+v", w.Code, env.Status, env.Response)
	}
	if len(env.Orchestrations) != 1 {
		t.Fatalf("want one orchestration per upstream call, got %d", len(env.Orchestrations))
	}
	o := env.Orchestrations[0]
	if o.Name != "send: POST /records" || o.Request.Method != "POST" || o.Request.Path != "/records" ||
		o.Response.Status != 201 || o.Request.Timestamp.IsZero() || o.Response.Timestamp.IsZero() {
		t.Fatalf("orchestration: %+v %+v", o.Request, o.Response)
	}
	if !strings.Contains(o.Request.Body, `"name":"Ana"`) {
		t.Fatalf("request body not recorded: %q", o.Request.Body)
	}
	if env.Properties["workflow"] != "echo" || env.Properties["run_id"] == "" || env.Properties["steps"] != "send: success" {
		t.Fatalf("properties: %v", env.Properties)
	}
	whole := w.Body.String()
	basic := "ZGVtbzpzM2NyZXQtdXBzdHJlYW0tcHc" // base64("demo:s3cret-upstream-pw") prefix
	if strings.Contains(whole, secret) || strings.Contains(whole, basic) {
		t.Fatalf("secret leaked into the envelope: %s", whole)
	}
	if o.Request.Headers["authorization"] != "Basic ***" {
		t.Fatalf("authorization header not masked: %v", o.Request.Headers)
	}
	// The upstream really got the data and the credential.
	if len(f.up.Got()) != 1 || !strings.Contains(f.up.Got()[0], `"age":7`) {
		t.Fatalf("upstream got %v", f.up.Got())
	}
}

func TestDirectCallAnswersPlainly(t *testing.T) {
	f := newFixture(t, nil)
	w := f.do(call{path: "/text", contentType: "text/plain", body: "world"})
	if w.Code != 200 || w.Body.String() != "hello world" || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("got %d %q %q", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
}

func TestStateCarriesRequestAndOpenHIMContext(t *testing.T) {
	f := newFixture(t, nil)
	w := f.do(call{method: "GET", path: "/context?district=north&tag=a&tag=b", tx: "5f00000000000000000000aa",
		extra: map[string]string{"parentid": "5f00000000000000000000a0", "taskid": "t1", "Authorization": "Basic c2VjcmV0", "X-Trace": "abc"}})
	env := envelopeOf(t, w)
	var data seen
	if err := json.Unmarshal([]byte(env.Response.Body), &data); err != nil {
		t.Fatal(err, env.Response.Body)
	}
	if data.OpenHIM.TransactionID != "5f00000000000000000000aa" || data.OpenHIM.ParentID != "5f00000000000000000000a0" || data.OpenHIM.TaskID != "t1" {
		t.Fatalf("openhim context: %+v", data.OpenHIM)
	}
	if data.Request.Method != "GET" || data.Request.Path != "/context" || data.Request.Query["district"] != "north" ||
		fmt.Sprint(data.Request.Query["tag"]) != "[a b]" || data.Request.Headers["x-trace"] != "abc" {
		t.Fatalf("request: %+v", data.Request)
	}
	if _, leaked := data.Request.Headers["authorization"]; leaked {
		t.Fatal("caller's Authorization header must not enter state")
	}
	if len(data.Data) != 0 {
		t.Fatalf("empty body must give data {}: %v", data.Data)
	}
	if env.Properties["rerun_of"] != "5f00000000000000000000a0" {
		t.Fatalf("rerun not linked in properties: %v", env.Properties)
	}
}

func TestBadInput(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		name   string
		c      call
		status int
		msg    string
	}{
		{"malformed JSON", call{path: "/echo", contentType: "application/json", body: `{"name":`}, 400, "not valid JSON"},
		{"two JSON values", call{path: "/echo", contentType: "application/json", body: `{} {}`}, 400, "more than one value"},
		{"wrong content type", call{path: "/echo", contentType: "image/png", body: "\x89PNG"}, 415, "not supported"},
		{"bad content type", call{path: "/echo", contentType: "application/json; charset", body: "{}"}, 415, "invalid Content-Type"},
		{"latin1", call{path: "/echo", contentType: "application/json; charset=iso-8859-1", body: "{}"}, 415, "UTF-8"},
		{"oversize", call{path: "/echo", contentType: "application/json", body: `{"x":"` + strings.Repeat("a", 2000) + `"}`}, 413, "limit of 1024 bytes"},
		{"invalid UTF-8 in JSON", call{path: "/echo", contentType: "application/json", body: "{\"name\":\"Zo\xeb\"}"}, 400, "byte 0xeb at offset 11"},
		{"invalid UTF-8 in text", call{path: "/echo", contentType: "text/plain", body: "ok \xff"}, 400, "byte 0xff at offset 3"},
		{"unknown path", call{path: "/nope", contentType: "application/json", body: "{}"}, 404, "no workflow is served at /nope"},
		{"wrong method", call{method: "DELETE", path: "/echo"}, 405, "not allowed"},
	} {
		for _, routed := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/routed=%v", tc.name, routed), func(t *testing.T) {
				c := tc.c
				if routed {
					c.tx = "5f0000000000000000000002"
				}
				w := f.do(c)
				body := w.Body.String()
				if routed {
					env := envelopeOf(t, w)
					if env.Response.Status != tc.status || env.Status != mediator.StatusCompleted || env.Error != nil {
						t.Fatalf("envelope %+v", env)
					}
					body = env.Response.Body
				}
				if w.Code != tc.status || !strings.Contains(body, tc.msg) {
					t.Fatalf("got %d %s, want %d containing %q", w.Code, body, tc.status, tc.msg)
				}
			})
		}
	}
	if len(f.up.Got()) != 0 {
		t.Fatalf("rejected requests must not reach the upstream: %v", f.up.Got())
	}
}

// listener on a port nobody serves, for connection-refused failures.
func closedURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestFailureStatusMapping(t *testing.T) {
	for _, tc := range []struct {
		name        string
		path        string
		upStatus    int
		upDelay     time.Duration
		refused     bool
		httpStatus  int
		envStatus   string
		errorField  bool
		msgContains string
	}{
		{"upstream 500 is transient", "/echo", 500, 0, false, 502, mediator.StatusFailed, true, "500"},
		{"upstream 503 is transient", "/echo", 503, 0, false, 502, mediator.StatusFailed, true, "503"},
		{"upstream 429 is transient", "/echo", 429, 0, false, 502, mediator.StatusFailed, true, "429"},
		{"upstream 422 is a validation error", "/echo", 422, 0, false, 422, mediator.StatusCompleted, false, "422"},
		{"upstream 404", "/echo", 404, 0, false, 404, mediator.StatusCompleted, false, "404"},
		{"upstream 401 is our credential", "/echo", 401, 0, false, 502, mediator.StatusCompleted, false, "401"},
		{"upstream timeout", "/echo", 201, 2 * time.Second, false, 504, mediator.StatusFailed, true, "timed out"},
		{"connection refused", "/echo", 0, 0, true, 502, mediator.StatusFailed, true, "refused"},
		{"job throws", "/throws", 0, 0, false, 422, mediator.StatusCompleted, false, "record rejected"},
		{"job crashes", "/crash", 0, 0, false, 500, mediator.StatusFailed, false, "notDefinedAnywhere"},
		{"job loops past its deadline", "/spin", 0, 0, false, 500, mediator.StatusFailed, false, "its own code"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(o *testOptions) {
				if tc.upDelay > 0 {
					o.HTTPClient = &http.Client{Timeout: 200 * time.Millisecond}
				}
				if tc.refused {
					creds := config.NewCredentials(map[string]map[string]any{
						"upstream": {"baseUrl": closedURL(t), "username": "demo", "password": secret}})
					o.Credentials = creds.Get
				}
			})
			f.up.Set(tc.upStatus, tc.upDelay)
			w := f.do(call{path: tc.path, contentType: "application/json", body: `{"id":1}`, tx: "5f0000000000000000000003"})
			env := envelopeOf(t, w)
			if w.Code != tc.httpStatus || env.Response.Status != tc.httpStatus || env.Status != tc.envStatus || (env.Error != nil) != tc.errorField {
				t.Fatalf("got http %d, envelope %s error=%v; want %d %s error=%v\n%s", w.Code, env.Status, env.Error, tc.httpStatus, tc.envStatus, tc.errorField, w.Body)
			}
			if !strings.Contains(env.Response.Body, tc.msgContains) {
				t.Fatalf("response body %s lacks %q", env.Response.Body, tc.msgContains)
			}
			// The upstream echoes our Authorization header in its error body,
			// which ends up in the error's details.
			if strings.Contains(w.Body.String(), secret) || strings.Contains(w.Body.String(), "ZGVtbzpzM2NyZXQtdXBzdHJlYW0tcHc") {
				t.Fatalf("secret leaked: %s", w.Body)
			}
			if tc.path == "/echo" && len(env.Orchestrations) != 1 {
				t.Fatalf("the failed call must still be an orchestration: %d", len(env.Orchestrations))
			}
		})
	}
}

func TestDisabledWorkflow(t *testing.T) {
	f := newFixture(t, func(o *testOptions) { o.Enabled = func(wf string) bool { return wf != "echo" } })
	w := f.do(call{path: "/echo", contentType: "application/json", body: "{}"})
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "disabled") {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
}

// completer records PUT /transactions/:id bodies.
type completer struct {
	mu      sync.Mutex
	updates map[string]map[string]any
	done    chan struct{}
}

func (c *completer) UpdateTransaction(_ context.Context, id string, update mediator.TransactionUpdate) error {
	u := chantest.Wire(update)
	c.mu.Lock()
	c.updates[id] = u
	c.mu.Unlock()
	close(c.done)
	return nil
}

func TestAsyncCompletesTransaction(t *testing.T) {
	comp := &completer{updates: map[string]map[string]any{}, done: make(chan struct{})}
	f := newFixture(t, func(o *testOptions) { o.Completer = comp })
	for _, wf := range f.x.Project().Workflows {
		if wf.Key == "echo" {
			wf.Options.Async = true
		}
	}
	w := f.do(call{path: "/echo", contentType: "application/json", body: `{"id":9}`, tx: "5f0000000000000000000009"})
	env := envelopeOf(t, w)
	if w.Code != 202 || env.Status != mediator.StatusProcessing {
		t.Fatalf("async must answer 202 Processing at once: %d %s", w.Code, env.Status)
	}
	select {
	case <-comp.done:
	case <-time.After(10 * time.Second):
		t.Fatal("async run never completed the transaction")
	}
	if err := f.h.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	u := comp.updates["5f0000000000000000000009"]
	b, _ := json.Marshal(u)
	if u["status"] != mediator.StatusSuccessful || !bytes.Contains(b, []byte(`"orchestrations"`)) || bytes.Contains(b, []byte(secret)) {
		t.Fatalf("completion update: %s", b)
	}
}

func TestCriteria(t *testing.T) {
	for _, tc := range []struct {
		criteria, body string
		want           bool
	}{
		{`{"source":"oscar"}`, `{"source":"oscar","x":1}`, true},
		{`{"source":"oscar"}`, `{"source":"primero"}`, false},
		{`{"case":{"status":"open"}}`, `{"case":{"status":"open","id":2}}`, true},
		{`{"tags":["a"]}`, `{"tags":["b","a"]}`, true},
		{`{"tags":["c"]}`, `{"tags":["b","a"]}`, false},
		{`{"n":1}`, `{"n":1.0}`, true},
	} {
		in, _ := json.Marshal(map[string]json.RawMessage{"data": json.RawMessage(tc.body)})
		got, err := matchesCriteria(tc.criteria, in)
		if err != nil || got != tc.want {
			t.Errorf("criteria %s on %s: got %v %v, want %v", tc.criteria, tc.body, got, err, tc.want)
		}
	}
	if _, err := matchesCriteria(`{bad`, []byte(`{"data":{}}`)); err == nil {
		t.Error("invalid criteria JSON must be an error")
	}
}

// TestRouteAuth: with JM_ROUTE_AUTH every workflow endpoint needs Basic
// auth of one of its users; rotation keeps the old one valid.
func TestRouteAuth(t *testing.T) {
	f := newFixture(t, func(o *testOptions) {
		o.RouteAuth = []config.RouteUser{{Username: "openhim", Password: "route-pw-new"}, {Username: "openhim", Password: "route-pw-old"}}
	})
	basic := func(u, p string) map[string]string {
		return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p))}
	}
	for _, tc := range []struct {
		name   string
		extra  map[string]string
		status int
		msg    string
	}{
		{"no credentials", nil, 401, "needs Basic auth"},
		{"wrong password", basic("openhim", "guess"), 401, "wrong username or password"},
		{"wrong user", basic("someone", "route-pw-new"), 401, "wrong username or password"},
		{"bearer instead", map[string]string{"Authorization": "Bearer route-pw-new"}, 401, "needs Basic auth"},
		{"current password", basic("openhim", "route-pw-new"), 200, `"name":"x"`},
		{"previous password while rotating", basic("openhim", "route-pw-old"), 200, `"name":"x"`},
	} {
		for _, routed := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/routed=%v", tc.name, routed), func(t *testing.T) {
				c := call{path: "/context", contentType: "application/json", body: `{"name":"x"}`, extra: tc.extra}
				if routed {
					c.tx = "5f00000000000000000000c1"
				}
				w := f.do(c)
				body := w.Body.String()
				if routed {
					body = envelopeOf(t, w).Response.Body
				}
				if w.Code != tc.status || !strings.Contains(body, tc.msg) {
					t.Fatalf("got %d %s, want %d containing %q", w.Code, body, tc.status, tc.msg)
				}
				if tc.status == 401 && w.Header().Get("WWW-Authenticate") != `Basic realm="jobmediator"` {
					t.Errorf("401 without a Basic challenge: %v", w.Header())
				}
				if strings.Contains(w.Body.String(), "route-pw") {
					t.Errorf("a route password leaked: %s", w.Body)
				}
			})
		}
	}
}
