package primero_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/adaptors"
	_ "github.com/jobmediator/jobmediator/adaptors/common"
	_ "github.com/jobmediator/jobmediator/adaptors/primero"
	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/runtime"
	sim "github.com/jobmediator/jobmediator/sim/primero"
)

const (
	user     = "openfn"
	password = "primero-Secret-pw-42"
)

var t0 = time.Date(2025, 8, 2, 9, 0, 0, 0, time.UTC)

func startSim(t testing.TB) *sim.Server {
	t.Helper()
	s := sim.New(sim.Options{Now: func() time.Time { return t0 }, Users: []sim.User{{Username: user, Password: password, Agency: "agency-unicef"}}})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func conf(s *sim.Server) map[string]any {
	return map[string]any{"url": s.URL(), "user": user, "password": password}
}

// engine is shared so VMs stay warm across runs, as in the daemon.
var engine = runtime.New(runtime.Options{})

type out struct {
	res   *runtime.Result
	state map[string]any
	ex    []recorder.Exchange
}

func run(t testing.TB, body string, c map[string]any, adaptor, input string) out {
	t.Helper()
	if adaptor == "" {
		adaptor = "@openfn/language-primero@2.12.4"
	}
	if input == "" {
		input = `{}`
	}
	red := redact.New()
	rec := recorder.NewRecorder(red)
	job := &config.Job{Key: "step", Adaptor: adaptor, Body: body, Credential: "cred"}
	res := engine.RunJob(context.Background(), job, config.CompatLegacy, []byte(input), runtime.RunRequest{
		HTTP: recorder.NewClient(nil, rec), Redactor: red,
		Credential: func(k string) (map[string]any, bool) { return c, k == "cred" },
	})
	var st map[string]any
	if res.State != nil {
		if err := json.Unmarshal(res.State, &st); err != nil {
			t.Fatalf("state: %v", err)
		}
	}
	return out{res, st, rec.Exchanges()}
}

func mustOK(t *testing.T, o out) {
	t.Helper()
	if o.res.Status != runtime.StatusSuccess {
		for _, l := range o.res.Logs {
			t.Log(l.Level, l.Message)
		}
		t.Fatalf("run %s: %+v", o.res.Status, o.res.Error)
	}
}

// noSecrets fails when the password or a bearer token appears anywhere a
// run leaves traces: exchanges, logs, the error and the final state.
func noSecrets(t *testing.T, o out, secrets ...string) {
	t.Helper()
	// v1 (legacy) final states keep configuration by design (§2.4); the
	// adaptor's own traces must not carry it.
	st := map[string]any{}
	for k, v := range o.state {
		if k != "configuration" {
			st[k] = v
		}
	}
	b, _ := json.Marshal(struct {
		Ex    []recorder.Exchange
		Logs  []runtime.LogLine
		Err   *runtime.Error
		State map[string]any
	}{o.ex, o.res.Logs, o.res.Error, st})
	for _, s := range append(secrets, password) {
		if s != "" && strings.Contains(string(b), s) {
			t.Errorf("secret %q leaked into the run record", s)
		}
	}
	if strings.Contains(string(b), "Bearer ey") {
		t.Errorf("a bearer token leaked into the run record")
	}
}

func seed(s *sim.Server, extra map[string]any) string {
	c := map[string]any{"name_first": "Aicha", "name_last": "Diallo", "sex": "female", "module_id": "primeromodule-cp",
		"services_section": []any{map[string]any{"unique_id": "svc-1", "service_type": "family_based_care", "service_response_type": "referral_to_oscar"}}}
	for k, v := range extra {
		c[k] = v
	}
	return s.SeedCase(c)
}

func TestGetCasesLoginCursorReferralsMetadata(t *testing.T) {
	s := startSim(t)
	old := seed(s, map[string]any{"case_id": "old-case"})
	s.AdvanceClock(time.Hour)
	id := seed(s, map[string]any{"case_id": "new-case"})
	s.AdvanceClock(time.Minute)
	o := run(t, `
fn(state => ({ ...state, cursor: '2025-08-02T09:30:00.000Z' }));
getCases({ remote: true, last_updated_at: s => s.cursor + '..', page: 1, per: 10000 }, { withReferrals: true }, next => {
  next.count = next.data.length;
  return next;
});
`, conf(s), "", "")
	mustOK(t, o)
	st := o.state
	cases, _ := st["data"].([]any)
	if len(cases) != 1 || cases[0].(map[string]any)["id"] != id || st["count"] != float64(1) {
		t.Fatalf("cases %v", st["data"])
	}
	if _, ok := cases[0].(map[string]any)["referrals"].([]any); !ok {
		t.Errorf("withReferrals: no referrals array on the case: %v", cases[0])
	}
	if md, _ := st["metadata"].(map[string]any); md["total"] != float64(1) {
		t.Errorf("metadata %v", st["metadata"])
	}
	if _, has := st["auth"]; has {
		t.Errorf("state.auth survived cleanupState")
	}
	if refs, _ := st["references"].([]any); len(refs) != 1 {
		t.Errorf("references %v", st["references"])
	}
	// login, list, one referrals call per case
	if len(o.ex) != 3 || o.ex[0].Request.Method != "POST" || !strings.HasSuffix(o.ex[0].Request.URL, "/api/v2/tokens") ||
		!strings.Contains(o.ex[2].Request.URL, "/api/v2/cases/"+id+"/referrals") {
		t.Fatalf("exchanges: %+v", o.ex)
	}
	if !strings.Contains(o.ex[1].Request.URL, "remote=true&last_updated_at=2025-08-02T09%3A30%3A00.000Z..&page=1&per=10000") {
		t.Errorf("query %s", o.ex[1].Request.URL)
	}
	if strings.Contains(o.ex[1].Request.URL, old) {
		t.Errorf("old case listed")
	}
	noSecrets(t, o)
}

func TestQueryStringLikeQs(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.URL.RawQuery)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"data":[],"metadata":{"total":0}}`))
	}))
	defer srv.Close()
	o := run(t, `getCases({ scope: { or: { sex: 'female', age: '5..10' } }, ids: ['a', 'b c'], empty: {}, none: null, gone: undefined, flag: true, q: "it's (x)*" });`,
		map[string]any{"url": srv.URL + "/", "user": "u", "password": "p", "basicAuth": true}, "", "")
	mustOK(t, o)
	want := "scope%5Bor%5D%5Bsex%5D=female&scope%5Bor%5D%5Bage%5D=5..10&ids%5B0%5D=a&ids%5B1%5D=b%20c&none=&flag=true&q=it%27s%20%28x%29%2A"
	if len(got) != 1 || got[0] != want {
		t.Errorf("query\n got %v\nwant %s", got, want)
	}
}

func TestBasicAuthSkipsLogin(t *testing.T) {
	s := startSim(t)
	seed(s, nil)
	c := conf(s)
	c["basicAuth"] = true
	o := run(t, `getCases({ remote: true });`, c, "", "")
	mustOK(t, o)
	if len(o.ex) != 1 || o.ex[0].Request.Method != "GET" {
		t.Fatalf("basicAuth should not log in: %+v", o.ex)
	}
	if h := o.ex[0].Request.Header.Get("Authorization"); h != "Basic ***" {
		t.Errorf("Authorization recorded unredacted or missing: %q", h)
	}
	noSecrets(t, o)
}

func TestUpsertCaseCreatesThenUpdates(t *testing.T) {
	s := startSim(t)
	job := `
upsertCase({ externalIds: ['oscar_number'], data: state => ({
  oscar_number: 'OSC-1', record_id: 'drop-me', name_first: 'Mamadou', name_last: 'L', sex: 'male',
  module_id: 'primeromodule-cp', oscar_status: state.status }) });
`
	o := run(t, job, conf(s), "", `{"status":"Referred"}`)
	mustOK(t, o)
	if n := len(s.Cases()); n != 1 {
		t.Fatalf("after create: %d cases", n)
	}
	d, _ := o.state["data"].(map[string]any)
	if d["oscar_number"] != "OSC-1" || d["id"] == nil {
		t.Errorf("state.data after create = %v", d)
	}
	o = run(t, job, conf(s), "", `{"status":"Accepted"}`)
	mustOK(t, o)
	cs := s.Cases()
	if len(cs) != 1 || cs[0]["oscar_status"] != "Accepted" {
		t.Fatalf("after update: %v", cs)
	}
	last := o.ex[len(o.ex)-1]
	if last.Request.Method != "PATCH" || strings.Contains(last.Request.Body, "drop-me") || strings.Contains(last.Request.Body, `"data":{"data"`) {
		t.Errorf("update request %s %s", last.Request.Method, last.Request.Body)
	}
	if !strings.Contains(o.ex[1].Request.URL, "remote=true&oscar_number=OSC-1") {
		t.Errorf("lookup %s", o.ex[1].Request.URL)
	}
}

func TestVersionDoubleWrap(t *testing.T) {
	s := startSim(t)
	id := seed(s, map[string]any{"case_id": "c-1"})
	for _, tc := range []struct {
		version string
		wrapped bool
	}{{"2.12.4", false}, {"3.1.0", false}, {"3.2.0", true}} {
		t.Run(tc.version, func(t *testing.T) {
			o := run(t, `updateCase('`+id+`', { data: { risk_level: 'high' } });`, conf(s), "@openfn/language-primero@"+tc.version, "")
			patch := o.ex[len(o.ex)-1]
			if got := strings.HasPrefix(patch.Request.Body, `{"data":{"data":`); got != tc.wrapped {
				t.Errorf("body %s", patch.Request.Body)
			}
			if !tc.wrapped {
				mustOK(t, o)
				return
			}
			// Primero refuses the double-wrapped body: 422, not transient.
			e := o.res.Error
			if o.res.Status != runtime.StatusFailed || e == nil || e.StatusCode != 422 || e.Transient() ||
				!strings.HasPrefix(e.Message, "Server responded with:\n") || !strings.Contains(e.Message, "--REDACTED--") {
				t.Fatalf("error %+v", e)
			}
			noSecrets(t, o)
		})
	}
}

func TestErrors(t *testing.T) {
	s := startSim(t)
	seed(s, map[string]any{"case_id": "c-1"})
	cases := []struct {
		name, job string
		conf      func(map[string]any)
		before    func()
		wantMsg   string
		status    int
		transient bool
	}{
		{name: "bad password", job: `getCases({});`, conf: func(c map[string]any) { c["password"] = "wrong-" + password },
			wantMsg: "Primero login failed", status: 401},
		{name: "no url", job: `getCases({});`, conf: func(c map[string]any) { delete(c, "url") }, wantMsg: "configuration.url is required"},
		{name: "no user", job: `getCases({});`, conf: func(c map[string]any) { delete(c, "user") }, wantMsg: "configuration.user and configuration.password are required"},
		{name: "upstream 503", job: `getCases({});`, conf: func(c map[string]any) { c["basicAuth"] = true }, before: func() { s.FailNext(1, 503) }, wantMsg: "Server responded with:", status: 503, transient: true},
		{name: "case without id", job: `upsertCase({ externalIds: ['case_id'], data: { name_first: 'x' } });`, wantMsg: "has no value for case_id"},
		{name: "no externalIds", job: `upsertCase({ data: { case_id: 'x' } });`, wantMsg: "params.externalIds must list"},
		{name: "unknown case referrals", job: `getReferrals({ externalId: 'case_id', id: 'nope' });`, wantMsg: "No case found with case_id"},
		{name: "missing case record", job: `getCase('does-not-exist');`, wantMsg: "Server responded with:", status: 404},
		{name: "references dropped", job: `fn(s => ({ configuration: s.configuration, auth: s.auth })); getCases({});`, wantMsg: "state.references is not iterable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := conf(s)
			if tc.conf != nil {
				tc.conf(c)
			}
			if tc.before != nil {
				tc.before()
			}
			o := run(t, tc.job, c, "", "")
			e := o.res.Error
			if o.res.Status == runtime.StatusSuccess || e == nil || !strings.Contains(e.Message, tc.wantMsg) {
				t.Fatalf("status %s error %+v", o.res.Status, e)
			}
			if e.StatusCode != tc.status || e.Transient() != tc.transient {
				t.Errorf("statusCode %d transient %v", e.StatusCode, e.Transient())
			}
			noSecrets(t, o, "wrong-"+password)
		})
	}
}

func TestReferrals(t *testing.T) {
	s := startSim(t)
	id := seed(s, map[string]any{"case_id": "case-ref-1"})
	// A referral to an OSCaR NGO, as a MoSVY worker makes it in Primero.
	o := run(t, `createReferrals({ data: { ids: ['`+id+`'], transitioned_to: 'agency-cif-user', service_record_id: 'svc-1', notes: 'n' } });`, conf(s), "", "")
	if o.res.Status == runtime.StatusSuccess || !strings.Contains(o.res.Error.Message, "Cannot read property 'body' of undefined") {
		t.Fatalf("createReferrals should reproduce OpenFn's TypeError after posting: %+v", o.res.Error)
	}
	refs := s.Referrals(id)
	if len(refs) != 1 || refs[0]["status"] != "in_progress" {
		t.Fatalf("referral not created: %v", refs)
	}
	refID := refs[0]["id"].(string)

	o = run(t, `getReferrals({ externalId: 'case_id', id: 'case-ref-1' });`, conf(s), "", "")
	mustOK(t, o)
	if d, _ := o.state["data"].([]any); len(d) != 1 {
		t.Fatalf("getReferrals data %v", o.state["data"])
	}

	o = run(t, `updateReferrals({ caseExternalId: 'record_id', caseId: '`+id+`', id: '`+refID+`',
  data: { status: 'accepted', id: '`+refID+`', type: 'Referral', record_id: '`+id+`', record_type: 'case' } });`, conf(s), "", "")
	mustOK(t, o)
	if got := s.Referrals(id)[0]["status"]; got != "accepted" {
		t.Fatalf("referral status %v", got)
	}
	if d, _ := o.state["data"].(map[string]any); d["body"] == nil {
		t.Errorf("updateReferral leaves {body: reply} in data (OpenFn's tryJson quirk): %v", o.state["data"])
	}
	var warned bool
	for _, l := range o.res.Logs {
		warned = warned || strings.Contains(l.Message, "updateReferrals is deprecated")
	}
	if !warned {
		t.Errorf("no deprecation warning for updateReferrals")
	}
}

func TestMetadataListsAndCallbackAsOptions(t *testing.T) {
	s := startSim(t)
	seed(s, nil)
	o := run(t, `
getForms();
fn(s => ({ ...s, forms: s.data.length }));
getLookups();
fn(s => ({ ...s, lookups: s.data.length }));
getLocations({ per: 5 });
fn(s => ({ ...s, locations: s.data.length }));
getCases({ remote: true }, s => { s.optionCalled = true; return { withReferrals: false }; });
`, conf(s), "", "")
	mustOK(t, o)
	for _, k := range []string{"forms", "lookups", "locations"} {
		if n, _ := o.state[k].(float64); n < 1 {
			t.Errorf("%s: %v", k, o.state[k])
		}
	}
	if o.state["optionCalled"] != true {
		t.Errorf("a function passed as options must be expanded as a reference (Thailand getCases(query, cb))")
	}
}

func TestExportsFollowVersion(t *testing.T) {
	s := startSim(t)
	o := run(t, `fnIf(true, fn(s => ({ ...s, ran: true })));`, conf(s), "@openfn/language-primero@2.11.0", "")
	if o.res.Status != runtime.StatusCrashed || !strings.Contains(o.res.Error.Message, "fnIf") {
		t.Errorf("fnIf must not exist before 2.12: %+v", o.res.Error)
	}
	o = run(t, `fnIf(true, fn(s => ({ ...s, ran: true })));`, conf(s), "", "")
	mustOK(t, o)
	for _, v := range []string{"0.9.0", "5.0.0"} {
		if _, _, err := adaptors.Resolve("@openfn/language-primero@" + v); err == nil {
			t.Errorf("%s must be refused", v)
		}
	}
	// Each release's re-exports from language-common (tags of
	// OpenFn/language-primero, packages/primero/src/Adaptor.js).
	for _, c := range []struct {
		version string
		has     []string
		hasNot  []string
	}{
		{"1.2.0", []string{"alterState", "each", "merge", "getCases", "upsertCase"}, []string{"fn", "combine", "getReferrals", "getCase"}},
		{"2.0.0", []string{"alterState", "getReferrals"}, []string{"fn", "combine", "beta"}},
		{"2.2.4", []string{"fn", "combine"}, []string{"beta", "dateFns"}},
		{"2.4.4", []string{"beta", "dateFns"}, []string{"fnIf"}},
		{"3.2.0", []string{"fnIf", "as"}, []string{"log"}},
		{"4.0.13", []string{"as", "combine", "getCases"}, []string{"log"}},
		{"4.1.2", []string{"log", "as"}, nil},
	} {
		body := "alterState(s => ({ ...s, has: {" + strings.Join(quoteAll(append(append([]string{}, c.has...), c.hasNot...)), ", ") + "} }));"
		// 1.x logs in through the v1 API, which the simulator serves too
		o := run(t, body, conf(s), "@openfn/language-primero@"+c.version, "")
		mustOK(t, o)
		has, _ := o.state["has"].(map[string]any)
		for _, k := range c.has {
			if has[k] != true {
				t.Errorf("%s: %s must be exported", c.version, k)
			}
		}
		for _, k := range c.hasNot {
			if has[k] != false {
				t.Errorf("%s: %s must not be exported", c.version, k)
			}
		}
	}
	if d, v, err := adaptors.Resolve("@openfn/language-primero"); err != nil || d.Name != "primero" || v.Raw != "2.12.4" {
		t.Errorf("default %v %v %v", d, v, err)
	}
}

func BenchmarkGetCasesWithReferrals(b *testing.B) {
	s := startSim(b)
	for i := 0; i < 50; i++ {
		seed(s, nil)
	}
	c := conf(s)
	c["basicAuth"] = true
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		o := run(b, `getCases({ remote: true, per: 100 }, { withReferrals: true });`, c, "", "")
		if o.res.Status != runtime.StatusSuccess {
			b.Fatal(o.res.Error)
		}
	}
}

// Under the lightning profile a failed step still yields a state (its input
// plus errors): the login token must not be in it.
func TestFailedStepStateHasNoAuth(t *testing.T) {
	s := startSim(t)
	red := redact.New()
	rec := recorder.NewRecorder(red)
	job := &config.Job{Key: "step", Adaptor: "primero", Body: `getCase('missing-id');`, Credential: "cred"}
	res := engine.RunJob(context.Background(), job, config.CompatLightning, []byte(`{"data":{"x":1}}`), runtime.RunRequest{
		HTTP: recorder.NewClient(nil, rec), Redactor: red,
		Credential: func(k string) (map[string]any, bool) { return conf(s), k == "cred" },
	})
	if res.Status != runtime.StatusFailed || res.Error.StatusCode != 404 {
		t.Fatalf("%s %+v", res.Status, res.Error)
	}
	if len(res.Steps) != 1 || !strings.Contains(string(res.Steps[0].Output), `"x":1`) {
		t.Fatalf("failed step output %+v", res.Steps)
	}
	for _, st := range res.Steps {
		if strings.Contains(string(st.Output), `"auth"`) || strings.Contains(string(st.Output), "Bearer") {
			t.Errorf("failed step output carries the Primero session: %s", st.Output)
		}
	}
	if strings.Contains(string(res.State), "Bearer") {
		t.Errorf("final state carries the Primero session")
	}
}

// quoteAll turns names into `name: typeof name !== 'undefined'` entries.
func quoteAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n + ": typeof " + n + " !== 'undefined'"
	}
	return out
}
