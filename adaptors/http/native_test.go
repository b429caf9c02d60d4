package http_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/runtime"
)

// nativeUpstream answers by the last path segment, whatever the method.
func nativeUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		reply := func(status int, ct, text string) {
			if ct != "" {
				w.Header().Set("Content-Type", ct)
			}
			w.Header().Set("X-Upstream", "sim")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, text)
		}
		switch r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:] {
		case "echo":
			b, _ := json.Marshal(map[string]any{"method": r.Method, "path": r.URL.Path, "query": r.URL.RawQuery,
				"auth": r.Header.Get("Authorization"), "contentType": r.Header.Get("Content-Type"), "body": string(body)})
			reply(200, "application/json; charset=utf-8", string(b))
		case "json":
			reply(200, "application/json", ` {"ok" : true, "id":"r-1", "n": 1.50, "big": 12345678901234567890, "e": 1E3, "u": "\u00e9\/x", "nested": {"list": [1, -0, 0.1, null, "a\nb"]}} `)
		case "fhir":
			reply(201, "application/fhir+json", `{"resourceType":"Patient","id":"p-1"}`)
		case "created":
			reply(201, "application/json", "")
		case "nocontent":
			reply(204, "application/json", "")
		case "text":
			reply(200, "text/plain", "accepted \u00e9 \u2028 \"quoted\"")
		case "notype":
			reply(200, "", `{"looks":"like json"}`)
		case "badjson":
			reply(200, "application/json", `{"truncated":`)
		case "dup":
			reply(200, "application/json", `{"a":1,"b":2,"a":3}`)
		case "intkeys":
			reply(200, "application/json", `{"b":1,"2":"two","1":"one"}`)
		case "latin1":
			reply(200, "text/plain", "caf\xe9")
		case "bad":
			reply(400, "application/json", `{"error":"invalid patient","field":"name"}`)
		case "boom":
			reply(500, "text/plain", "upstream exploded")
		case "redirect":
			w.Header().Set("Location", "/api/json")
			reply(302, "text/html", "<a href=\"/api/json\">moved</a>")
		default:
			reply(404, "application/json", `{"error":"no route"}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// nativeOutcome is everything of a run a user or OpenHIM can see, with
// what differs between two runs of the same thing (times, durations)
// blanked.
type nativeOutcome struct {
	Status    runtime.Status
	State     string
	Error     *runtime.Error
	Logs      []string
	Exchanges []nativeExchange
}

type nativeExchange struct {
	Name, Method, URL, ReqBody, Error string
	ReqHeader                         http.Header
	Status                            int
	RespBody                          string
}

var (
	durationMS    = regexp.MustCompile(`\d+ms\b`)
	durationField = regexp.MustCompile(`"duration":\d+`)
	dateHeader    = regexp.MustCompile(`"date":"[^"]*"`)
)

func runBoth(t *testing.T, e *runtime.Engine, job *config.Job, input string, conf map[string]any) nativeOutcome {
	t.Helper()
	red := redact.New()
	rec := recorder.NewRecorder(red)
	res := e.RunJob(context.Background(), job, config.CompatLightning, []byte(input), runtime.RunRequest{
		HTTP: recorder.NewClient(nil, rec), Redactor: red,
		Credential: func(k string) (map[string]any, bool) { return conf, k == "cred" },
	})
	// a failed step's state holds the error's response: its duration and
	// Date header
	state := durationField.ReplaceAllString(string(res.State), `"duration":N`)
	state = dateHeader.ReplaceAllString(state, `"date":"D"`)
	out := nativeOutcome{Status: res.Status, State: state, Error: res.Error}
	if out.Error != nil && out.Error.Details != nil {
		// the details hold the response's duration
		b, _ := json.Marshal(out.Error.Details)
		var d any
		_ = json.Unmarshal(durationMS.ReplaceAll(b, []byte("Nms")), &d)
		if m, ok := d.(map[string]any); ok {
			if _, has := m["duration"]; has {
				m["duration"] = "N"
			}
		}
		out.Error.Details = d
	}
	for _, l := range res.Logs {
		out.Logs = append(out.Logs, l.Level+" "+l.Step+" "+durationMS.ReplaceAllString(l.Message, "Nms"))
	}
	for _, x := range rec.Exchanges() {
		nx := nativeExchange{Name: x.Name, Method: x.Request.Method, URL: x.Request.URL, ReqBody: x.Request.Body,
			ReqHeader: x.Request.Header, Error: x.Error}
		if x.Response != nil {
			nx.Status, nx.RespBody = x.Response.Status, x.Response.Body
		}
		out.Exchanges = append(out.Exchanges, nx)
	}
	return out
}

// TestNativeMatchesVM holds declarative jobs run without a VM to what the
// VM does with the same job, input, configuration and upstream: final
// state byte for byte, error, log lines and recorded exchanges. Each case
// also says which way the native step went, so none passes by the native
// step quietly declining.
func TestNativeMatchesVM(t *testing.T) {
	srv := nativeUpstream(t)
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return "http://" + addr
	}()
	base := map[string]any{"baseUrl": srv.URL + "/api", "username": "admin", "password": "s3cret-pass"}
	with := func(kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	const in = `{"data":{"name":"x","n":1.0,"s":"caf\u00e9","tags":["a","b"]},"request":{"method":"POST","path":"/hello"}}`
	const (
		native   = "native"
		replay   = "replay"
		declined = "declined"
	)
	cases := []struct {
		name, body, input string
		conf              map[string]any
		want              string
	}{
		{"post data", `post('/echo', $.data);`, in, base, native},
		{"post json answer", `post('/json', $.data)`, in, base, native},
		{"put nested", `put('/echo', $.data.name)`, in, base, native},
		{"patch array", `patch('/echo', $.data.tags)`, in, base, native},
		{"post number", `post('/echo', $.data.n)`, in, base, native},
		{"post missing", `post('/echo', $.data.nothing)`, in, base, native},
		{"post no data", `post('/echo')`, in, base, native},
		{"post null", `post('/echo', $.data.v)`, `{"data":{"v":null}}`, base, native},
		{"post request", `post('/echo', $.request)`, in, base, native},
		{"arrow reference", `post('/echo', state => state.data.tags)`, in, base, native},
		{"headers", `post('/echo', $.data, { headers: { 'X-Test': '1', Accept: 'application/json' } })`, in, base, native},
		{"own content type", `post('/echo', $.data, { headers: { 'content-type': 'application/fhir+json' } })`, in, base, native},
		{"string body own type", `put('/echo', $.data.s, { headers: { 'Content-Type': 'text/plain' } })`, in, base, native},
		{"own authorization", `get('/echo', { headers: { authorization: 'Bearer job-token' } })`, in, base, native},
		{"empty options", `post('/echo', $.data, {})`, in, base, native},
		{"empty headers", `del('/echo', { headers: {} })`, in, base, native},
		{"literal body", `post('/echo', { literal: 'body', nested: { a: 'b' } })`, in, base, native},
		{"arrow other name", `put('/echo', s => s.data)`, in, base, native},
		{"get", `get('/json')`, in, base, native},
		{"get query", `get('/echo?x=1&y=two')`, in, base, native},
		{"del", `del('/echo')`, in, base, native},
		{"fhir+json", `post('/fhir', $.data)`, in, base, native},
		{"created empty", `post('/created', $.data)`, in, base, native},
		{"no content", `del('/nocontent')`, in, base, native},
		{"text", `get('/text')`, in, base, native},
		{"no content type", `get('/notype')`, in, base, native},
		{"bad json as text", `get('/badjson')`, in, base, native},
		{"redirect", `get('/redirect')`, in, base, native},
		{"empty input", `post('/echo', $.data)`, `{}`, base, native},
		{"null data", `post('/echo', $.data)`, `{"data":null,"x":1}`, base, native},
		{"references", `post('/echo', $.data)`, `{"references":[{"old":1}],"data":{"a":"b"}}`, base, native},
		{"string data", `post('/echo', $.data)`, `{"data":"plain text"}`, base, native},
		{"whitespace input", `post('/echo', $.data)`, " {\n \"data\" : { \"a\" : 1.0e1 } }\n", base, native},
		{"bearer", `get('/echo')`, in, with("access_token", "tok-123"), native},
		{"user without password", `get('/echo')`, in, with("password", nil), native},
		{"base with query", `get('/echo?b=2')`, in, with("baseUrl", srv.URL+"/api/?a=1"), native},
		{"absolute same origin", `get('` + srv.URL + `/api/echo')`, in, base, native},
		{"absolute no base", `get('` + srv.URL + `/api/echo')`, in, map[string]any{}, native},

		{"error status json", `post('/bad', $.data)`, in, base, replay},
		{"error status text", `get('/boom')`, in, base, replay},
		{"not found", `get('/nowhere')`, in, base, replay},
		{"connection refused", `get('` + closed + `/x')`, in, map[string]any{}, replay},
		{"duplicate keys answer", `get('/dup')`, in, base, replay},
		{"integer keys answer", `get('/intkeys')`, in, base, replay},
		{"invalid utf-8 answer", `get('/latin1')`, in, base, replay},
		{"invalid header name", `post('/echo', $.data, { headers: { 'X Bad': '1' } })`, in, base, replay},

		{"relative without base", `get('/echo')`, in, map[string]any{}, declined},
		{"other origin", `get('https://elsewhere.example/x')`, in, base, declined},
		{"tls option", `get('/echo')`, in, with("tls", map[string]any{"rejectUnauthorized": false}), declined},
		{"numeric password", `get('/echo')`, in, with("password", 1234.0), declined},
		{"property of missing", `post('/echo', $.data.nothing.deeper)`, in, base, declined},
		{"property of string", `post('/echo', $.data.s.length)`, in, base, declined},
		{"configuration in input", `post('/echo', $.data)`, `{"configuration":{"x":1},"data":{}}`, base, declined},
		{"references not a list", `post('/echo', $.data)`, `{"references":"no","data":{}}`, base, declined},
		{"duplicate keys input", `post('/echo', $.data)`, `{"data":{"a":1,"a":2}}`, base, declined},
		{"array input", `post('/echo', $.data)`, `[1,2]`, base, declined},
		{"state itself", `post('/echo', $)`, in, base, declined},
		{"configuration ref", `post('/echo', $.configuration)`, in, base, declined},
		{"headers equal but for case", `post('/echo', $.data, { headers: { 'X-A': '1', 'x-a': '2' } })`, in, base, declined},
		{"query option", `post('/echo', $.data, { query: { a: '1' } })`, in, base, declined},
		{"parseAs option", `get('/echo', { headers: { 'X-A': '1' }, parseAs: 'text' })`, in, base, declined},
		{"options to get as data", `get('/echo', 'x')`, in, base, declined},
		{"inherited constructor", `post('/echo', $.data.constructor)`, in, base, declined},
		{"inherited __proto__", `post('/echo', $.data.__proto__)`, in, base, declined},
		{"inherited toString", `post('/echo', s => s.toString)`, in, base, declined},
	}
	vm := runtime.New(runtime.Options{VMOnly: true})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := runtime.New(runtime.Options{})
			job := &config.Job{Key: "step", Adaptor: "@openfn/language-http@7", Body: c.body, Credential: "cred"}
			if !e.Declarative(job, config.CompatLightning) {
				t.Fatalf("%q is not declarative", c.body)
			}
			got := runBoth(t, e, job, c.input, c.conf)
			want := runBoth(t, vm, job, c.input, c.conf)
			gb, _ := json.MarshalIndent(got, "", " ")
			wb, _ := json.MarshalIndent(want, "", " ")
			if string(gb) != string(wb) {
				t.Fatalf("native:\n%s\nVM:\n%s", gb, wb)
			}
			ran, replayed, decl := e.NativeCounts()
			way := map[string]int64{native: ran, replay: replayed, declined: decl}
			if way[c.want] != 1 || ran+replayed+decl != 1 {
				t.Fatalf("want the native step %s; ran %d, replayed %d, declined %d", c.want, ran, replayed, decl)
			}
		})
	}
	if ran, replayed, declined := vm.NativeCounts(); ran+replayed+declined != 0 {
		t.Fatalf("VMOnly engine ran native steps: %d %d %d", ran, replayed, declined)
	}
}

// TestNotDeclarative: jobs with anything but one operation on literals and
// $ references always run in the VM (and in a worker process under the
// default isolation).
func TestNotDeclarative(t *testing.T) {
	e := runtime.New(runtime.Options{})
	for _, body := range []string{
		`post('/echo', $.data, { headers: { 'X-A': $.data.a } })`,
		`post('/echo', $.data, { headers: { ['X-' + 'A']: '1' } })`,
		`post('/echo', $.data, { headers: { 'X-A': 1 } })`,
		`post('/echo', $.data, { ...{ headers: {} } })`,
		`post('/echo', $.data, { __proto__: { headers: {} } })`,
		`post('/echo', $.data, { headers: { a: '1', a: '2' } })`,
		`post('/echo', $.data, { 0: 'x' })`,
		`post('/echo', $.data, { headers: { get a() { return '1' } } })`,
		`post('\uD800', $.data)`,
		`post('/echo', state => ({ ...state.data, source: 'jm' }))`,
		`post('/echo', state => { return state.data })`,
		`post('/echo', async state => state.data)`,
		`post('/echo', (state, x) => state.data)`,
		`post('/echo', state => other.data)`,
		`post('/echo', ({ data }) => data)`,
		`fn(state => state)`,
		`post('/a', $.data); post('/b', $.data);`,
		`const x = 1; post('/echo', $.data)`,
		`post('/echo', $.data + 'x')`,
		`post(1, $.data)`,
		`post('/echo', $["data"])`,
		`request('POST', '/echo', { body: $.data })`,
		`each('$.data[*]', post('/echo', $.data))`,
		`post('/echo', $.data).then(s => s)`,
	} {
		job := &config.Job{Key: "step", Adaptor: "@openfn/language-http@7", Body: body}
		if e.Declarative(job, config.CompatLightning) {
			t.Errorf("%q taken as declarative", body)
		}
	}
	for _, spec := range []string{"@openfn/language-http@6", "@openfn/language-http@5.0.4", "@openfn/language-dhis2@4"} {
		job := &config.Job{Key: "step", Adaptor: spec, Body: `post('/echo', $.data)`}
		if e.Declarative(job, config.CompatLightning) {
			t.Errorf("%s taken as declarative", spec)
		}
	}
	job := &config.Job{Key: "step", Adaptor: "@openfn/language-http@7", Body: `post('/echo', $.data)`}
	if e.Declarative(job, config.CompatLegacy) {
		t.Error("legacy profile taken as declarative")
	}
	job.State = map[string]any{"x": 1}
	if e.Declarative(job, config.CompatLightning) {
		t.Error("a job with default state taken as declarative")
	}
}

// TestNativeTimeout: a declarative step cut off at its deadline while the
// upstream hangs ends as the VM's step does, a TimeoutError on I/O.
func TestNativeTimeout(t *testing.T) {
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// the body read, net/http notices the client hang up (and ends r's
		// context) as it would not while a body is left unread
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	defer hang.Close()
	conf := map[string]any{"baseUrl": hang.URL}
	job := &config.Job{Key: "step", Adaptor: "@openfn/language-http@7", Body: `post('/x', $.data)`, Credential: "cred"}
	for _, vmOnly := range []bool{false, true} {
		e := runtime.New(runtime.Options{StepTimeout: 200 * time.Millisecond, VMOnly: vmOnly})
		out := runBoth(t, e, job, `{"data":{}}`, conf)
		if out.Error == nil || out.Error.Name != "TimeoutError" || out.Error.Code != "ETIMEDOUT" {
			t.Fatalf("vmOnly %v: %+v", vmOnly, out.Error)
		}
		if ran, _, _ := e.NativeCounts(); ran != 1 && !vmOnly {
			t.Fatalf("the native step did not end it (ran %d)", ran)
		}
	}
}

// FuzzNativeMatchesVM: for any input state and any answer body the
// upstream gives, the native step and the VM agree (or the native step
// declined or replayed, which the VM's result covers by construction).
func FuzzNativeMatchesVM(f *testing.F) {
	for _, seed := range []struct{ input, answer string }{
		{`{"data":{"name":"x","n":1.0}}`, `{"ok":true}`},
		{`{}`, `[1,2,{"a":"\u00e9"}]`},
		{`{"data":null,"references":[1]}`, `"text"`},
		{`{"data":{"a":{"b":[1e21,1e-7,-0]}}}`, `{"x":12345678901234567890}`},
		{`{"data":"s","x":{"y":"\ud83d\ude00"}}`, `not json`},
		{`{"data":{"a":1,"a":2}}`, `{"a":1,"a":2}`},
		{`{"data":{"1":1}}`, `{"__proto__":{}}`},
	} {
		f.Add(seed.input, seed.answer)
	}
	var answer atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answer.Load().(string))
	}))
	defer srv.Close()
	conf := map[string]any{"baseUrl": srv.URL, "username": "u", "password": "p"}
	native, vm := runtime.New(runtime.Options{}), runtime.New(runtime.Options{VMOnly: true})
	job := &config.Job{Key: "step", Adaptor: "@openfn/language-http@7", Body: `post('/x', $.data)`, Credential: "cred"}
	f.Fuzz(func(t *testing.T, input, body string) {
		answer.Store(body)
		got := runBoth(t, native, job, input, conf)
		want := runBoth(t, vm, job, input, conf)
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		if string(gb) != string(wb) {
			t.Fatalf("input %q answer %q\nnative: %s\nVM:     %s", input, body, gb, wb)
		}
	})
}
