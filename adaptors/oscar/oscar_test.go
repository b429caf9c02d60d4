package oscar_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/adaptors"
	_ "github.com/jobmediator/jobmediator/adaptors/common"
	_ "github.com/jobmediator/jobmediator/adaptors/oscar"
	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/runtime"
	sim "github.com/jobmediator/jobmediator/sim/oscar"
)

const (
	email    = "openfn@oscar.org"
	password = "oscar-Secret-pw-77"
)

var t0 = time.Date(2025, 8, 2, 9, 0, 0, 0, time.UTC)

func startSim(t testing.TB) *sim.Server {
	t.Helper()
	s := sim.New(sim.Options{Now: func() time.Time { return t0 }, Users: []sim.User{{Email: email, Password: password}}})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func conf(s *sim.Server) map[string]any {
	return map[string]any{"baseUrl": s.URL() + "/", "username": email, "password": password}
}

// engine is shared so VMs stay warm across runs, as in the daemon.
var engine = runtime.New(runtime.Options{})

type out struct {
	res   *runtime.Result
	state map[string]any
	ex    []recorder.Exchange
}

func run(t testing.TB, body string, c map[string]any) out {
	t.Helper()
	red := redact.New()
	rec := recorder.NewRecorder(red)
	job := &config.Job{Key: "step", Adaptor: "oscar", Body: body, Credential: "cred"}
	res := engine.RunJob(context.Background(), job, config.CompatLightning, []byte(`{}`), runtime.RunRequest{
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

// noSecrets: the password and every access token the simulator issued stay
// out of exchanges, logs, errors and state.
func noSecrets(t *testing.T, _ *sim.Server, o out) {
	t.Helper()
	b, _ := json.Marshal(struct {
		Ex    []recorder.Exchange
		Logs  []runtime.LogLine
		Err   *runtime.Error
		State map[string]any
	}{o.ex, o.res.Logs, o.res.Error, o.state})
	if strings.Contains(string(b), password) {
		t.Errorf("password leaked")
	}
	for _, ex := range o.ex {
		if ex.Response != nil {
			if tok := ex.Response.Header.Get("access-token"); tok != "" && !strings.Contains(tok, "*") {
				t.Errorf("access-token recorded in clear: %s", ex.Name)
			}
		}
		if tok := ex.Request.Header.Get("access-token"); tok != "" && !strings.Contains(tok, "*") {
			t.Errorf("access-token header recorded in clear: %s", ex.Name)
		}
	}
	if _, has := o.state["oscarAuth"]; has {
		t.Errorf("session leaked into state")
	}
}

func TestSyncOperations(t *testing.T) {
	s := startSim(t)
	gid := s.SeedClient(map[string]any{"given_name": "Mamadou", "family_name": "L", "gender": "male", "date_of_birth": "2014-09-08",
		"organization_name": "cif", "is_referred": true,
		"services": []any{map[string]any{"uuid": "osc-svc-9", "name": "Trauma counselling", "referral_id": 501, "referral_status": "Referred"}}})
	o := run(t, `
getClients({ since_date: new Date('2025-08-02T08:00:00Z'), referred_external: true });
fn(s => ({ ...s, clients: s.data }));
upsertClient({ organization: {
  external_id: 'case-1', external_id_display: 'e-1', given_name: 'Aicha', family_name: 'Diallo', gender: 'female',
  date_of_birth: '2016-01-01', level_of_risk: 'medium', mosvy_number: null, external_case_worker_name: 'worker',
  external_case_worker_mobile: '000000000', organization_name: 'cif', is_referred: true, resource: 'Primero',
  services: [{ uuid: 'svc-1', name: 'Family counselling / mediation' }],
} });
fn(s => ({ ...s, upserted: s.data }));
updateStatuses([{ client_global_id: '`+gid+`', referral_id: 501, referral_status: 'Accepted' }]);
updateLinks({ data: [{ global_id: '`+gid+`', external_id: 'prim-9', external_id_display: 'p9' }] });
updateLinks([]);
getOrganizations();
`, conf(s))
	mustOK(t, o)
	clients, _ := o.state["clients"].([]any)
	if len(clients) != 1 || clients[0].(map[string]any)["global_id"] != gid {
		t.Fatalf("clients %v", o.state["clients"])
	}
	if up, _ := o.state["upserted"].(map[string]any); up["message"] != "Record saved." {
		t.Errorf("upsert reply %v", o.state["upserted"])
	}
	refs := s.Referrals()
	var pending map[string]any
	for _, r := range refs {
		if r["external_id"] == "case-1" {
			pending = r
		}
	}
	if pending == nil || pending["mosvy_number"] != "" {
		t.Errorf("pending referral (null → \"\"): %v", refs)
	}
	cl := map[string]map[string]any{}
	for _, c := range s.Clients() {
		cl[c["global_id"].(string)] = c
	}
	svc, _ := cl[gid]["services"].([]any)
	if cl[gid]["external_id"] != "prim-9" || len(svc) != 1 || svc[0].(map[string]any)["referral_status"] != "Accepted" {
		t.Errorf("client after statuses/links: %v", cl[gid])
	}
	// one sign-in for the whole run, GET with since_date in Ruby's format
	var signIns int
	for _, ex := range o.ex {
		if strings.HasSuffix(ex.Request.URL, "/api/v1/admin_auth/sign_in") {
			signIns++
		}
	}
	if signIns != 1 || !strings.Contains(o.ex[1].Request.URL, "since_date=2025-08-02%2008%3A00%3A00") {
		t.Errorf("sign-ins %d, first GET %s", signIns, o.ex[1].Request.URL)
	}
	if len(o.ex) != 6 { // sign-in, GET, upsert, statuses, links, orgs (empty links sends nothing)
		t.Errorf("%d exchanges", len(o.ex))
	}
	noSecrets(t, s, o)
}

func TestSignInAgainAfter401(t *testing.T) {
	s := startSim(t)
	// A proxy that expires the session once: the first clients GET is 401.
	target, _ := url.Parse(s.URL())
	proxy := httputil.NewSingleHostReverseProxy(target)
	expired := false
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "GET" && !expired {
			expired = true
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			_, _ = w.Write([]byte(`{"errors":["You need to sign in or sign up before continuing."]}`))
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	c := conf(s)
	c["baseUrl"] = front.URL
	o := run(t, `signIn(s => ({ ...s, user: s.data.email })); getClients({ since_date: '2025-08-01 00:00:00' });`, c)
	mustOK(t, o)
	if o.state["user"] != email {
		t.Errorf("signIn data %v", o.state)
	}
	var methods []string
	for _, ex := range o.ex {
		methods = append(methods, ex.Request.Method)
	}
	if strings.Join(methods, " ") != "POST GET POST GET" {
		t.Errorf("expected sign-in, 401, sign-in again, retry: %v", methods)
	}
	noSecrets(t, s, o)
}

func TestErrors(t *testing.T) {
	s := startSim(t)
	cases := []struct {
		name, job string
		conf      func(map[string]any)
		before    func()
		want      string
		status    int
		transient bool
	}{
		{name: "bad password", job: `signIn();`, conf: func(c map[string]any) { c["password"] = "nope-" + password },
			want: "returned 401: [\"Invalid login credentials. Please try again.\"] (check configuration.username/password", status: 401},
		{name: "no baseUrl", job: `signIn();`, conf: func(c map[string]any) { delete(c, "baseUrl") }, want: "configuration.baseUrl is required"},
		{name: "no password", job: `signIn();`, conf: func(c map[string]any) { delete(c, "password") }, want: "configuration.username and configuration.password"},
		{name: "no since_date", job: `getClients({});`, want: "since_date is required"},
		{name: "no organization_name", job: `upsertClient({ organization: { external_id: 'x' } });`, want: "organization_name is required"},
		{name: "no ids", job: `upsertClient({ organization_name: 'cif' });`, want: "needs external_id"},
		{name: "not a list", job: `updateStatuses({ a: 1 });`, want: "pass an array"},
		{name: "validation 422", job: `upsertClient({ organization: { external_id: 'x', organization_name: 'cif', given_name: 'A', family_name: 'B',
  level_of_risk: 'extreme', services: [{ uuid: 'u', name: 'Not Specified' }] } });`, want: "returned 422", status: 422},
		{name: "nginx 502", job: `getClients({ since_date: '2025-08-01' });`, before: func() { s.FailNext(1, 502) }, want: "not valid JSON", status: 502, transient: true},
		{name: "bad since_date 500", job: `getClients({ since_date: 'yesterday-ish' });`, want: "returned 500", status: 500, transient: true},
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
			o := run(t, tc.job, c)
			e := o.res.Error
			if o.res.Status == runtime.StatusSuccess || e == nil || !strings.Contains(e.Message, tc.want) {
				t.Fatalf("status %s error %+v", o.res.Status, e)
			}
			if e.StatusCode != tc.status || e.Transient() != tc.transient {
				t.Errorf("statusCode %d transient %v (%s)", e.StatusCode, e.Transient(), e.Message)
			}
			if strings.Contains(e.Message, password) {
				t.Errorf("password in error")
			}
			noSecrets(t, s, o)
		})
	}
}

func TestRegistration(t *testing.T) {
	d, v, err := adaptors.Resolve("oscar")
	if err != nil || d.Name != "oscar" || v.Raw != "1.0.0" {
		t.Fatalf("%v %v %v", d, v, err)
	}
	if _, _, err := adaptors.Resolve("oscar@2"); err == nil {
		t.Errorf("oscar@2 must be refused")
	}
}

func BenchmarkGetClients(b *testing.B) {
	s := startSim(b)
	for i := 0; i < 100; i++ {
		s.SeedClient(map[string]any{"given_name": "G", "family_name": "F", "gender": "male", "date_of_birth": "2014-09-08", "is_referred": true})
	}
	c := conf(s)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		o := run(b, `getClients({ since_date: '2025-08-01 00:00:00' });`, c)
		if o.res.Status != runtime.StatusSuccess {
			b.Fatal(o.res.Error)
		}
	}
}
