package primero_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/runtime"
	sim "github.com/jobmediator/jobmediator/sim/primero"
)

const v1 = "@openfn/language-primero@1.2.0"

// language-primero 1.x against the simulator's Primero v1 API: the
// getCases(query, callback) signature, the session cookie, create/update
// with {child: …} bodies and their state quirks, and upsertCase's scope
// query, services merge and failures (OpenFn/language-primero v1.2.0
// src/Adaptor.js, src/Utils.js).
func TestV1GetCasesCallbackCreateUpdate(t *testing.T) {
	s := startSim(t)
	seed(s, map[string]any{"case_id": "c-1", "risk_level": "high"})
	seed(s, map[string]any{"case_id": "c-2", "risk_level": "low"})
	o := run(t, `
getCases({ remote: true, scope: { risk_level: 'list||high' } }, state => {
  state.fetched = state.data.map(c => c.case_id);
  state.couchIds = state.data.every(c => typeof c._id === 'string' && c['couchrest-type'] === 'Child');
  return state;
});
createCase({ data: state => ({ child: { name: 'Sok Dara', sex: 'male', case_id: 'c-3' } }) }, state => {
  state.createdId = state.data._id;
  return state;
});
alterState(state => updateCase(state.createdId, { data: { child: { risk_level: 'medium' } } })(state).then(next => ({ ...next, updated: next.data })));
`, conf(s), v1, "")
	mustOK(t, o)
	st := o.state
	if got := st["fetched"].([]any); len(got) != 1 || got[0] != "c-1" {
		t.Errorf("scope list filter: %v", got)
	}
	if st["couchIds"] != true {
		t.Errorf("v1 records carry _id and couchrest-type")
	}
	// updateCase leaves the tryJson wrapper: data = {body: <record>}
	upd, _ := st["updated"].(map[string]any)
	body, _ := upd["body"].(map[string]any)
	if body == nil || body["risk_level"] != "medium" || body["_id"] != st["createdId"] {
		t.Errorf("updateCase data: %v", st["updated"])
	}
	if _, leaked := st["auth"]; leaked {
		t.Errorf("state.auth must be removed by cleanupState")
	}
	refs, _ := st["references"].([]any)
	if len(refs) != 3 {
		t.Errorf("references: %d", len(refs))
	}
	noSecrets(t, o)
	// the session is a cookie, never a bearer token
	for _, r := range s.Requests()[1:] {
		if r.Header.Get("Cookie") == "" || r.Header.Get("Authorization") != "" {
			t.Errorf("%s %s: cookie %q, authorization %q", r.Method, r.Path, r.Header.Get("Cookie"), r.Header.Get("Authorization"))
		}
	}
}

func TestV1UpsertCase(t *testing.T) {
	s := startSim(t)
	id := seed(s, map[string]any{"case_id": "c-1"})
	o := run(t, `
upsertCase({ externalIds: ['case_id'], data: { case_id: 'c-1', child: { case_id: 'c-1', services_section: [
  { unique_id: 'svc-1', service_type: 'changed' }, { unique_id: 'svc-2', service_type: 'counselling' } ] } } });
alterState(state => ({ ...state, first: state.data }));
upsertCase({ externalIds: ['case_id'], data: { case_id: 'c-9', child: { case_id: 'c-9', name: 'New Child' } } });
`, conf(s), v1, "")
	mustOK(t, o)
	rec, _ := s.Case(id)
	svcs, _ := rec["services_section"].([]any)
	if len(svcs) != 2 || svcs[0].(map[string]any)["service_type"] != "family_based_care" {
		t.Errorf("only new services (by unique_id) are added, old ones kept as they are: %v", svcs)
	}
	if d, _ := o.state["data"].(map[string]any); d["case_id"] != "c-9" {
		t.Errorf("no match creates: %v", o.state["data"])
	}
	var q string
	for _, r := range s.Requests() {
		if r.Method == "GET" {
			q = r.RawQuery
			break
		}
	}
	if !strings.Contains(q, "scope%5Bor%5D%5Bcase_id%5D=or_op%7C%7Cc-1") || !strings.Contains(q, "remote=true") {
		t.Errorf("upsert lookup query: %s", q)
	}

	// two matches: the operation rejects with a plain string
	seed(s, map[string]any{"case_id": "dup"})
	seed(s, map[string]any{"case_id": "dup"})
	o = run(t, `upsertCase({ externalIds: ['case_id'], data: { case_id: 'dup', child: {} } });`, conf(s), v1, "")
	if o.res.Status == runtime.StatusSuccess || !strings.Contains(o.res.Error.Message, "Multiple cases found") {
		t.Errorf("duplicates: %+v", o.res.Error)
	}
}

func TestV1SignatureAndFailures(t *testing.T) {
	s := startSim(t)
	seed(s, nil)
	// a 2.x-style call puts the options object where 1.x expects the callback
	o := run(t, `getCases({ remote: true }, { withReferrals: true }, s => s);`, conf(s), v1, "")
	if o.res.Status == runtime.StatusSuccess || !strings.Contains(strings.ToLower(o.res.Error.Message), "not a function") {
		t.Errorf("options as callback: %+v", o.res.Error)
	}
	// a bad password fails at login, before any operation, naming the reply
	bad := conf(s)
	bad["password"] = "wrong-Password-1"
	o = run(t, `getCases({ remote: true });`, bad, v1, "")
	if o.res.Status == runtime.StatusSuccess || !strings.Contains(o.res.Error.Message, "Server responded with:") || o.res.Error.StatusCode != 401 {
		t.Errorf("bad login: %+v", o.res.Error)
	}
	// .catch on a directly called operation sees an upstream failure (the
	// simulator answers 422 to an invalid date_range)
	o = run(t, `alterState(state => getCases({ remote: true, scope: { created_at: 'date_range||not-a-date.x' } })(state)
  .catch(e => ({ ...state, caught: e.statusCode })));`, conf(s), v1, "")
	mustOK(t, o)
	if o.state["caught"] != float64(422) {
		t.Errorf(".catch: %v", o.state["caught"])
	}
}

// The 3.1+ http namespace: requests under {url}/api/v2/ with Basic auth
// from user/password and the body wrapped as {data: …}; data is the parsed
// body, response the rest; a 404 is "GET to <url> returned 404: Not Found".
func TestHTTPNamespace(t *testing.T) {
	s := startSim(t)
	id := seed(s, map[string]any{"case_id": "h-1"})
	o := run(t, `
http.get('cases', { query: { case_id: 'h-1' } });
fn(state => ({ ...state, found: state.data.data.map(c => c.case_id), status: state.response.statusCode }));
http.patch(state => 'cases/' + state.data.data[0].id, { risk_level: 'high' });
fn(state => ({ ...state, patched: state.data.data.risk_level }));
fn(state => http.get('cases/nope')(state).catch(e => ({ ...state, missing: e.message.replace(state.configuration.url, '<url>'), code: e.statusCode })));
`, conf(s), "@openfn/language-primero@3.1.0", "")
	mustOK(t, o)
	if got := o.state["found"].([]any); len(got) != 1 || got[0] != "h-1" || o.state["status"] != float64(200) {
		t.Errorf("http.get: %v %v", o.state["found"], o.state["status"])
	}
	if rec, _ := s.Case(id); o.state["patched"] != "high" || rec["risk_level"] != "high" {
		t.Errorf("http.patch: %v", o.state["patched"])
	}
	if o.state["code"] != float64(404) || o.state["missing"] != "GET to <url>/api/v2/cases/nope returned 404: Not Found" {
		t.Errorf("404: %v %v", o.state["code"], o.state["missing"])
	}
	for _, r := range s.Requests() {
		if strings.HasPrefix(r.Path, "/api/v2/cases") && !strings.HasPrefix(r.Header.Get("Authorization"), "Basic") {
			t.Errorf("%s %s: authorization %q", r.Method, r.Path, r.Header.Get("Authorization"))
		}
	}
	// before 3.1 there is no http namespace
	o = run(t, `http.get('cases');`, conf(s), "@openfn/language-primero@3.0.5", "")
	if o.res.Status == runtime.StatusSuccess {
		t.Errorf("http must not exist before 3.1")
	}
}

// The http namespace authenticates as configuration.username when it is
// set (OpenFn's `username ?? user`); the login still uses user.
func TestHTTPNamespaceUsername(t *testing.T) {
	s := sim.New(sim.Options{Now: func() time.Time { return t0 }, Users: []sim.User{
		{Username: user, Password: password, Agency: "agency-unicef"},
		{Username: "http-user", Password: password, Agency: "agency-unicef"},
	}})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	c := conf(s)
	c["username"] = "http-user"
	// the sim records created_by from the authenticated user
	o := run(t, `http.post('cases', { case_id: 'u-1', module_id: 'primeromodule-cp', name: 'U One' });`, c, "@openfn/language-primero@3.1.0", "")
	mustOK(t, o)
	rec := o.state["data"].(map[string]any)["data"].(map[string]any)
	if rec["created_by"] != "http-user" {
		t.Errorf("http.post created the case as %v, want http-user", rec["created_by"])
	}
	// wrong username: the http call fails with 401 although user is valid
	c["username"] = "nobody"
	if o := run(t, `http.get('cases');`, c, "@openfn/language-primero@3.1.0", ""); o.res.Status == runtime.StatusSuccess {
		t.Errorf("http.get as an unknown username succeeded")
	}
}

// 1.x post() is language-http 2.3.0's post: a fresh cookie jar per call
// (the adaptor's own session is not sent), json bodies, keepCookie, the
// tryJson wrapper, errors as the other 1.x operations. Against the v1 API:
// log in with post (keepCookie), then create a case with that cookie.
func TestV1Post(t *testing.T) {
	s := startSim(t)
	o := run(t, `
post(state.configuration.url + '/api/login', { body: state => ({ user_name: state.configuration.user, password: state.configuration.password }), keepCookie: true });
alterState(state => ({ ...state, session: state.data.body.session !== undefined, cookie: state.data.__cookie }));
alterState(state => post(state.configuration.url + '/api/cases', { body: { child: { name: 'Post Child', case_id: 'p-1' } }, headers: state => ({ Cookie: state.cookie }) }, () => { throw new Error('callback must be ignored'); })(state));
alterState(state => ({ ...state, created: state.data.body, cookie: undefined }));
alterState(state => post(state.configuration.url + '/api/cases', { body: { child: { name: 'No Session' } } })(state)
  .catch(e => ({ ...state, refused: e.message.split('\n')[0], status: e.statusCode })));
`, conf(s), v1, "")
	mustOK(t, o)
	st := o.state
	if st["session"] != true {
		t.Errorf("login reply: %v", st["data"])
	}
	created, _ := st["created"].(map[string]any)
	if created == nil || created["case_id"] != "p-1" || created["name"] != "Post Child" || created["_id"] == nil {
		t.Fatalf("created case: %v", st["created"])
	}
	if st["status"] != float64(401) || st["refused"] != "Server responded with:  " {
		t.Errorf("post without the session cookie: %v %q", st["status"], st["refused"])
	}
	noSecrets(t, o)
	for _, l := range o.res.Logs {
		if strings.Contains(l.Message, "_primero_session") {
			t.Errorf("session cookie logged: %s", l.Message)
		}
	}
	var posts []string
	for _, r := range s.Requests() {
		if r.Method != "POST" {
			continue
		}
		posts = append(posts, r.Path+" cookie="+strconv.FormatBool(r.Header.Get("Cookie") != ""))
		if len(posts) > 1 && (r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Accept") != "application/json") {
			t.Errorf("%s: content-type %q accept %q", r.Path, r.Header.Get("Content-Type"), r.Header.Get("Accept"))
		}
	}
	// execute's own login, then post's login (no cookie: fresh jar), the
	// create with the job's cookie, the create without
	want := "/api/login cookie=false,/api/login cookie=false,/api/cases cookie=true,/api/cases cookie=false"
	if strings.Join(posts, ",") != want {
		t.Errorf("POSTs:\n got %s\nwant %s", strings.Join(posts, ","), want)
	}

	// baseUrl + path, Basic auth from configuration.username, query as qs,
	// successCodes, a text reply wrapped as {body}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/login" { // execute's own login
			w.WriteHeader(201)
			return
		}
		u, p, _ := r.BasicAuth()
		w.WriteHeader(203)
		fmt.Fprintf(w, "%s %s?%s %s %v", r.Method, r.URL.Path, r.URL.RawQuery, u, p == "pw-Secret-9")
	}))
	defer srv.Close()
	c := map[string]any{"url": srv.URL, "user": "u", "password": "pw-Secret-9", "username": "hook", "baseUrl": srv.URL + "/hooks"}
	o = run(t, `post('/in', { query: { a: [1, 2] }, options: { successCodes: [203] } });`, c, v1, "")
	mustOK(t, o)
	if d, _ := o.state["data"].(map[string]any); d["body"] != "POST /hooks/in?a%5B0%5D=1&a%5B1%5D=2 hook true" {
		t.Errorf("203 reply: %v", o.state["data"])
	}
	if o = run(t, `post('/in', {});`, c, v1, ""); o.res.Status == runtime.StatusSuccess || o.res.Error.StatusCode != 203 {
		t.Errorf("203 outside successCodes must fail: %+v", o.res.Error)
	}
	for _, tc := range []struct{ job, want string }{
		{`post('/x', { formData: { a: '1' } });`, "formData"},
		{`post('/x', { authentication: { username: 'a', password: 'b', sendImmediately: false } });`, "Digest"},
	} {
		o = run(t, tc.job, c, v1, "")
		if o.res.Status == runtime.StatusSuccess || !strings.Contains(o.res.Error.Message, tc.want) || !strings.Contains(o.res.Error.Message, "not supported") {
			t.Errorf("%s: %+v", tc.job, o.res.Error)
		}
	}
}
