package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	_ "github.com/jobmediator/jobmediator/adaptors/common"
	_ "github.com/jobmediator/jobmediator/adaptors/http"
	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/runtime"
)

// upstream echoes requests and serves a few fixed routes.
func upstream(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case strings.HasSuffix(r.URL.Path, "/missing"):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(404)
			_, _ = w.Write([]byte(`{"error":"nope"}`))
			return
		case strings.HasSuffix(r.URL.Path, "/broken"):
			w.WriteHeader(503)
			return
		case strings.HasSuffix(r.URL.Path, "/text"):
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte("hello"))
			return
		case strings.HasSuffix(r.URL.Path, "/login"):
			http.SetCookie(w, &http.Cookie{Name: "sid", Value: "abc123", Path: "/"})
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"ok":true}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		cookie := ""
		if c, err := r.Cookie("sid"); err == nil {
			cookie = c.Value
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"method": r.Method, "path": r.URL.Path, "query": r.URL.RawQuery, "auth": r.Header.Get("Authorization"),
			"contentType": r.Header.Get("Content-Type"), "body": string(body), "cookie": cookie,
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

type runOut struct {
	res   *runtime.Result
	state map[string]any
	ex    []recorder.Exchange
}

func runHTTP(t *testing.T, adaptor, body string, compat config.Compat, conf map[string]any) runOut {
	t.Helper()
	red := redact.New()
	rec := recorder.NewRecorder(red)
	client := recorder.NewClient(nil, rec)
	e := runtime.New(runtime.Options{})
	job := &config.Job{Key: "step", Adaptor: adaptor, Body: body, Credential: "cred"}
	res := e.RunJob(context.Background(), job, compat, []byte(`{"data":{"name":"x"}}`), runtime.RunRequest{
		HTTP: client, Redactor: red,
		Credential: func(k string) (map[string]any, bool) { return conf, k == "cred" },
	})
	var st map[string]any
	if res.State != nil {
		if err := json.Unmarshal(res.State, &st); err != nil {
			t.Fatalf("state is not JSON: %v: %s", err, res.State)
		}
	}
	return runOut{res, st, rec.Exchanges()}
}

func TestHTTP7GetPost(t *testing.T) {
	srv := upstream(t)
	conf := map[string]any{"baseUrl": srv.URL + "/api", "username": "admin", "password": "s3cret-pass"}
	out := runHTTP(t, "@openfn/language-http@7.3.2", `
get('/items', { query: { a: 1, b: 'x y' } });
fn(s => ({ ...s, first: s.data }));
post('things', $.first, { headers: { 'X-Test': '1' } });
`, config.CompatLightning, conf)
	if out.res.Status != runtime.StatusSuccess {
		t.Fatalf("status %s: %+v", out.res.Status, out.res.Error)
	}
	first := out.state["first"].(map[string]any)
	if first["method"] != "GET" || first["path"] != "/api/items" || first["query"] != "a=1&b=x+y" {
		t.Errorf("GET went wrong: %v", first)
	}
	if !strings.HasPrefix(first["auth"].(string), "Basic ") {
		t.Errorf("no basic auth: %v", first["auth"])
	}
	data := out.state["data"].(map[string]any)
	if data["method"] != "POST" || data["path"] != "/api/things" || data["contentType"] != "application/json" {
		t.Errorf("POST went wrong: %v", data)
	}
	var posted map[string]any
	_ = json.Unmarshal([]byte(data["body"].(string)), &posted)
	if posted["path"] != "/api/items" {
		t.Errorf("POST body should be the first response: %v", data["body"])
	}
	if _, ok := out.state["configuration"]; ok {
		t.Error("lightning keeps configuration in final state")
	}
	if _, ok := out.state["response"]; ok {
		t.Error("lightning keeps response in final state")
	}
	if refs := out.state["references"].([]any); len(refs) != 2 {
		t.Errorf("references = %v, want 2 entries", refs)
	}
	if len(out.ex) != 2 {
		t.Fatalf("recorded %d exchanges, want 2", len(out.ex))
	}
	if out.ex[0].Name != "step: GET /api/items" {
		t.Errorf("orchestration name %q", out.ex[0].Name)
	}
	for _, ex := range out.ex {
		if a := ex.Request.Header.Get("Authorization"); a != "Basic ***" {
			t.Errorf("Authorization not redacted in exchange: %q", a)
		}
	}
	for _, l := range out.res.Logs {
		if strings.Contains(l.Message, "s3cret-pass") {
			t.Errorf("secret in log: %s", l.Message)
		}
	}
}

func TestHTTP7Errors(t *testing.T) {
	srv := upstream(t)
	conf := map[string]any{"baseUrl": srv.URL, "access_token": "tok-123456"}
	cases := []struct {
		name, body string
		status     int
		transient  bool
		msg        string
	}{
		{"404", "fn(s => s);\nget('/missing')", 404, false, "GET to " + srv.URL + "/missing returned 404: Not Found"},
		{"503", `get('/broken')`, 503, true, "returned 503: Service Unavailable"},
		{"relative without base", `get('http://127.0.0.1:1/x')`, 0, false, "BASE_URL_MISMATCH"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := runHTTP(t, "http@7", c.body, config.CompatLightning, conf)
			if out.res.Status != runtime.StatusFailed || out.res.Error == nil {
				t.Fatalf("status %s err %+v", out.res.Status, out.res.Error)
			}
			e := out.res.Error
			if c.status == 404 && e.Line != 2 {
				t.Errorf("adaptor error should carry the operation's line 2, got %d", e.Line)
			}
			if e.Name != "AdaptorError" || e.StatusCode != c.status || e.Transient() != c.transient || !strings.Contains(e.Message, c.msg) {
				t.Errorf("error %+v", e)
			}
			errs := out.state["errors"].(map[string]any)
			if errs["step"] == nil {
				t.Errorf("errors[step] missing: %v", out.state)
			}
		})
	}
	// errors: {404: false} suppresses
	out := runHTTP(t, "http@7", `get('/missing', { errors: { 404: false } })`, config.CompatLightning, conf)
	if out.res.Status != runtime.StatusSuccess || out.state["data"].(map[string]any)["error"] != "nope" {
		t.Errorf("errors map ignored: %+v %v", out.res.Error, out.state)
	}
}

func TestHTTPTransportError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	out := runHTTP(t, "http@7", `get('/x')`, config.CompatLightning, map[string]any{"baseUrl": u})
	if out.res.Error == nil || out.res.Error.Code != "ECONNREFUSED" || !out.res.Error.Transient() {
		t.Fatalf("want ECONNREFUSED, got %+v", out.res.Error)
	}
	if len(out.ex) != 1 || out.ex[0].Error == "" {
		t.Errorf("failed exchange not recorded: %+v", out.ex)
	}
}

func TestHTTP5Legacy(t *testing.T) {
	srv := upstream(t)
	conf := map[string]any{"baseUrl": srv.URL + "/api/", "username": "u@x.org", "password": "pw-secret-1"}
	out := runHTTP(t, "@openfn/language-http@5.0.4", `
post('/login', { body: { user: 'a' }, keepCookie: true });
get('/items', { query: { ids: [1, 2] } }, next => ({ ...next, sawCookie: next.data.cookie }));
get('/text');
`, config.CompatLegacy, conf)
	if out.res.Status != runtime.StatusSuccess {
		t.Fatalf("status %s: %+v", out.res.Status, out.res.Error)
	}
	if out.state["sawCookie"] != "abc123" {
		t.Errorf("cookie jar not used: %v", out.state["sawCookie"])
	}
	refs := out.state["references"].([]any)
	login := refs[1].(map[string]any)
	if login["__cookie"] != "sid=abc123; Path=/" || login["__headers"] == nil {
		t.Errorf("keepCookie data: %v", login)
	}
	items := refs[2].(map[string]any)
	if items["query"] != "ids[]=1&ids[]=2" || items["path"] != "/api/items" {
		t.Errorf("axios query/url: %v", items)
	}
	if d := out.state["data"].(map[string]any); d["body"] != "hello" {
		t.Errorf("text body should become {body}: %v", d)
	}
	if out.state["configuration"] == nil {
		t.Error("legacy must keep configuration")
	}
	if resp := out.state["response"].(map[string]any); resp["status"].(float64) != 200 {
		t.Errorf("legacy response: %v", resp)
	}
	if len(out.ex) != 3 {
		t.Errorf("exchanges %d", len(out.ex))
	}
	// legacy failure: no final state, axios-like error
	out = runHTTP(t, "http@5", `get('/missing')`, config.CompatLegacy, conf)
	if out.res.State != nil || out.res.Error == nil || out.res.Error.StatusCode != 404 || !strings.Contains(out.res.Error.Message, "status code 404") {
		t.Errorf("legacy failure: %+v %s", out.res.Error, out.res.State)
	}
}

func TestHTTPSecretsRedactedInExchanges(t *testing.T) {
	srv := upstream(t)
	conf := map[string]any{"baseUrl": srv.URL, "username": "u", "password": "pw-in-body-123", "apiKey": "key-in-url-456"}
	out := runHTTP(t, "http@7", `post('/x', { pass: $.configuration.password }, { query: { k: $.configuration.apiKey } })`, config.CompatLightning, conf)
	if out.res.Status != runtime.StatusSuccess || len(out.ex) != 1 {
		t.Fatalf("%s %+v", out.res.Status, out.res.Error)
	}
	ex := out.ex[0]
	for _, s := range []string{ex.Request.URL, ex.Request.Body, ex.Response.Body} {
		if strings.Contains(s, "pw-in-body-123") || strings.Contains(s, "key-in-url-456") {
			t.Errorf("secret recorded: %s", s)
		}
	}
}

func TestHTTP6CallbackAndParseAs(t *testing.T) {
	srv := upstream(t)
	conf := map[string]any{"baseUrl": srv.URL}
	out := runHTTP(t, "http@6", `get('/text', {}, s => ({ ...s, cb: s.data }));
get('/items', { parseAs: 'text' });`, config.CompatLightning, conf)
	if out.res.Status != runtime.StatusSuccess {
		t.Fatalf("%+v", out.res.Error)
	}
	if out.state["cb"] != "hello" {
		t.Errorf("callback/text body: %v", out.state["cb"])
	}
	if s, ok := out.state["data"].(string); !ok || !strings.Contains(s, `"path":"/items"`) {
		t.Errorf("parseAs text: %v", out.state["data"])
	}
	// relative path without baseUrl
	out = runHTTP(t, "http@7", `get('/x')`, config.CompatLightning, map[string]any{})
	if out.res.Error == nil || !strings.Contains(out.res.Error.Message, "UNEXPECTED_RELATIVE_URL") {
		t.Errorf("%+v", out.res.Error)
	}
}

// TestHTTPUnsupportedSaySo: what the adaptor does not do, or options it
// cannot use, fail with a named error instead of being ignored.
func TestHTTPUnsupportedSaySo(t *testing.T) {
	srv := upstream(t)
	for _, tc := range []struct {
		name, adaptor, job string
		conf               map[string]any
		want               string
	}{
		{"parseXML before 3", "http@2", `parseXML('<a>1</a>', $ => $('a').text());`, map[string]any{}, "parseXML of language-http 2.x"},
		// bad TLS options are named (never their values) before anything is sent
		{"configuration.tls bad ca", "http@6", `get('/items');`, map[string]any{"baseUrl": srv.URL, "tls": map[string]any{"ca": "x"}}, "TLS option ca holds no PEM certificate"},
		{"agentOptions cert without key", "http@5", `get('/items', { agentOptions: { cert: 'x' } });`, map[string]any{"baseUrl": srv.URL}, "cert and key go together"},
		{"encrypted key", "http@7", `get('/items', { tls: { passphrase: 'p' } });`, map[string]any{"baseUrl": srv.URL}, `TLS option "passphrase" is not supported`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			compat := config.CompatLightning
			if tc.adaptor == "http@5" {
				compat = config.CompatLegacy
			}
			out := runHTTP(t, tc.adaptor, tc.job, compat, tc.conf)
			if out.res.Error == nil || !strings.Contains(out.res.Error.Message, tc.want) {
				t.Fatalf("want an error containing %q, got %+v", tc.want, out.res.Error)
			}
			if len(out.ex) != 0 {
				t.Fatalf("nothing may be sent: %d requests", len(out.ex))
			}
		})
	}
}

// TestHTTP7ResponseHeaders: response.headers is a plain object as undici's
// Headers gives it to language-http 7 — lower-case names in sorted order
// (byte-stable final states), repeated headers joined with ", ", and the
// same in every run.
func TestHTTP7ResponseHeaders(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Zeta", "z")
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	conf := map[string]any{"baseUrl": srv.URL}
	job := `get('/x'); fn(s => ({ keys: Object.keys(s.response.headers), multi: s.response.headers['x-multi'], type: typeof s.response.headers }));`
	for i := 0; i < 5; i++ {
		out := runHTTP(t, "@openfn/language-http@7.3.2", job, config.CompatLegacy, conf)
		if out.res.Status != runtime.StatusSuccess {
			t.Fatalf("status %s: %+v", out.res.Status, out.res.Error)
		}
		keys, _ := out.state["keys"].([]any)
		want := []any{"content-length", "content-type", "date", "x-multi", "x-zeta"}
		if fmt.Sprint(keys) != fmt.Sprint(want) {
			t.Fatalf("header names %v, want %v", keys, want)
		}
		if out.state["multi"] != "a, b" || out.state["type"] != "object" {
			t.Errorf("x-multi %v (type %v), want \"a, b\" in an object", out.state["multi"], out.state["type"])
		}
	}
}
