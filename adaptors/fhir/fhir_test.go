package fhir_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	_ "github.com/jobmediator/jobmediator/adaptors/common"
	adfhir "github.com/jobmediator/jobmediator/adaptors/fhir"
	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/runtime"
	sim "github.com/jobmediator/jobmediator/sim/fhir"
)

const (
	token    = "tok-9f8e7d6c5b4a3210"
	password = "fhir-Pass-42"
)

func startSim(t testing.TB, o sim.Options) *sim.Server {
	t.Helper()
	if o.BearerTokens == nil && o.Users == nil {
		o.BearerTokens = []string{token}
		o.Users = []sim.User{{Username: "fhiruser", Password: password}}
	}
	s := sim.New(o)
	if err := s.Start(); err != nil {
		t.Fatalf("start sim: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// origin is the sim root; the FHIR base path goes in apiPath.
func origin(s *sim.Server) string { return strings.TrimSuffix(s.URL(), "/fhir") }

func conf(s *sim.Server) map[string]any {
	return map[string]any{"baseUrl": origin(s), "apiPath": "/fhir", "access_token": token}
}

type runOut struct {
	res   *runtime.Result
	state map[string]any
	ex    []recorder.Exchange
}

func run(t testing.TB, adaptor, body string, c map[string]any, input string) runOut {
	t.Helper()
	if input == "" {
		input = `{"data":{}}`
	}
	red := redact.New()
	rec := recorder.NewRecorder(red)
	e := runtime.New(runtime.Options{})
	job := &config.Job{Key: "step", Adaptor: adaptor, Body: body, Credential: "cred"}
	res := e.RunJob(context.Background(), job, config.CompatLightning, []byte(input), runtime.RunRequest{
		HTTP: recorder.NewClient(nil, rec), Redactor: red,
		Credential: func(k string) (map[string]any, bool) { return c, k == "cred" },
	})
	var st map[string]any
	if res.State != nil {
		if err := json.Unmarshal(res.State, &st); err != nil {
			t.Fatalf("state is not JSON: %v: %s", err, res.State)
		}
	}
	return runOut{res, st, rec.Exchanges()}
}

func mustSucceed(t testing.TB, out runOut) {
	t.Helper()
	if out.res.Status != runtime.StatusSuccess {
		for _, l := range out.res.Logs {
			t.Log(l.Level, l.Message)
		}
		t.Fatalf("status %s: %+v", out.res.Status, out.res.Error)
	}
}

func get(v any, path ...string) any {
	for _, p := range path {
		switch m := v.(type) {
		case map[string]any:
			v = m[p]
		case []any:
			var i int
			fmt.Sscan(p, &i)
			if i >= len(m) {
				return nil
			}
			v = m[i]
		default:
			return nil
		}
	}
	return v
}

func noSecrets(t *testing.T, out runOut, secrets ...string) {
	t.Helper()
	blob, _ := json.Marshal(out.ex)
	logs, _ := json.Marshal(out.res.Logs)
	errs, _ := json.Marshal(out.res.Error)
	all := string(blob) + string(logs) + string(errs) + string(out.res.State)
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("secret %q leaked", s)
		}
	}
}

const patient = `{ resourceType: 'Patient', identifier: [{ system: 'https://moh.example.org/nid', value: 'NID-1' }], name: [{ family: 'Kamara', given: ['Ama'] }], gender: 'female', birthDate: '1990-04-01' }`

func TestFHIR4CreateReadSearchPaging(t *testing.T) {
	s := startSim(t, sim.Options{PageSize: 2})
	var creates []string
	for i := 0; i < 5; i++ {
		creates = append(creates, strings.Replace(patient, "NID-1", fmt.Sprintf("NID-%d", i), 1))
	}
	out := run(t, "@openfn/language-fhir-4@0.5.0", `
create(`+creates[0]+`);
fn(state => ({ ...state, created: state.data, status: state.response.statusCode }));
read($.created.resourceType + '/' + $.created.id);
fn(state => ({ ...state, read: state.data }));
create(`+creates[1]+`);
create(`+creates[2]+`);
create(`+creates[3]+`);
create(`+creates[4]+`);
search('Patient', { query: { gender: 'female' } });
fn(state => ({ ...state, firstPage: state.data.length }));
search('Patient', { query: { gender: 'female' }, count: 2, all: true });
`, conf(s), "")
	mustSucceed(t, out)
	if out.state["status"] != float64(201) || get(out.state, "read", "id") != get(out.state, "created", "id") {
		t.Errorf("create/read: %v / %v", out.state["created"], out.state["read"])
	}
	if out.state["firstPage"] != float64(2) {
		t.Errorf("one page of search = %v resources, want 2", out.state["firstPage"])
	}
	if n := len(out.state["data"].([]any)); n != 5 {
		t.Errorf("search all = %d resources, want 5", n)
	}
	var searches int
	for _, ex := range out.ex {
		if ex.Request.Method == "GET" && strings.Contains(ex.Request.URL, "Patient?") || strings.Contains(ex.Request.URL, "_getpages") || (ex.Request.Method == "GET" && !strings.Contains(ex.Request.URL, "/Patient/")) {
			searches++
		}
		if ex.Request.Header.Get("Accept") != "application/fhir+json" {
			t.Errorf("accept %q", ex.Request.Header.Get("Accept"))
		}
	}
	if searches != 1+3 {
		t.Errorf("want 1 + 3 search requests (3 pages), got %d", searches)
	}
	noSecrets(t, out, token)
	if s.Count("Patient") != 5 {
		t.Errorf("server holds %d patients", s.Count("Patient"))
	}
}

func TestFHIR4ConditionalCreate(t *testing.T) {
	s := startSim(t, sim.Options{})
	job := `create(` + patient + `, { ifNoneExist: 'identifier=https://moh.example.org/nid|NID-1' });`
	first := run(t, "fhir-4", job, conf(s), "")
	mustSucceed(t, first)
	second := run(t, "fhir-4", job, conf(s), "")
	mustSucceed(t, second)
	if s.Count("Patient") != 1 {
		t.Fatalf("conditional create twice made %d patients", s.Count("Patient"))
	}
	if h := second.ex[0].Request.Header.Get("If-None-Exist"); h != "identifier=https://moh.example.org/nid|NID-1" {
		t.Errorf("If-None-Exist %q", h)
	}
}

func TestFHIR4TransactionBundle(t *testing.T) {
	s := startSim(t, sim.Options{})
	out := run(t, "fhir-4", `
createBundle({ type: 'transaction' });
addToBundle([
  { resourceType: 'Observation', id: 'obs1', status: 'final', code: { text: 'weight' }, subject: { reference: 'Patient/p1' } },
  { resourceType: 'Patient', id: 'p1', gender: 'male' },
]);
fn(state => ({ ...state, order: state.bundle.entry.map(e => e.resource.resourceType) }));
uploadBundle();
`, conf(s), "")
	mustSucceed(t, out)
	if get(out.state, "data", "type") != "transaction-response" || len(get(out.state, "data", "entry").([]any)) != 2 {
		t.Errorf("response %v", out.state["data"])
	}
	if s.Count("Patient") != 1 || s.Count("Observation") != 1 {
		t.Errorf("counts %d %d", s.Count("Patient"), s.Count("Observation"))
	}
	// uploadBundle sorts the referenced Patient before the Observation.
	var sent map[string]any
	for _, r := range s.Requests() {
		if r.Method == "POST" {
			_ = json.Unmarshal(r.Body, &sent)
		}
	}
	if get(sent, "entry", "0", "resource", "resourceType") != "Patient" {
		t.Errorf("bundle not sorted: %v", get(sent, "entry"))
	}
}

func TestFHIRErrors(t *testing.T) {
	s := startSim(t, sim.Options{})
	t.Run("OperationOutcome 400", func(t *testing.T) {
		out := run(t, "fhir-4", `create({ resourceType: 'Patient', gender: 'M' });`, conf(s), "")
		e := out.res.Error
		if e == nil || e.StatusCode != 400 || e.Transient() {
			t.Fatalf("%+v", e)
		}
		if !strings.Contains(e.Message, "returned 400") || !strings.Contains(e.Message, "gender") {
			t.Errorf("message does not name the issue: %s", e.Message)
		}
		if get(out.state, "errors", "step", "details", "issues") == nil {
			t.Errorf("issues not on the error: %v", get(out.state, "errors", "step"))
		}
	})
	t.Run("401", func(t *testing.T) {
		c := conf(s)
		c["access_token"] = "wrong-token-xyz"
		out := run(t, "fhir-4", `read('Patient/1');`, c, "")
		if e := out.res.Error; e == nil || e.StatusCode != 401 || e.Transient() {
			t.Fatalf("%+v", e)
		}
		noSecrets(t, out, "wrong-token-xyz")
	})
	t.Run("basic auth", func(t *testing.T) {
		out := run(t, "fhir-4", `search('Patient', {});`, map[string]any{"baseUrl": origin(s), "username": "fhiruser", "password": password}, "")
		mustSucceed(t, out)
		if h := out.ex[0].Request.Header.Get("Authorization"); !strings.HasPrefix(h, "Basic ") || strings.Contains(h, "ZmhpcnVzZX") {
			t.Errorf("authorization %q", h)
		}
		noSecrets(t, out, password)
	})
	t.Run("503 transient", func(t *testing.T) {
		s.FailNext(1, http.StatusServiceUnavailable)
		out := run(t, "fhir-4", `read('Patient/1');`, conf(s), "")
		if e := out.res.Error; e == nil || e.StatusCode != 503 || !e.Transient() {
			t.Fatalf("%+v", e)
		}
	})
	bad := []struct{ name, body, msg string }{
		{"no resourceType", `create({ id: 'x' });`, "INVALID_RESOURCE_TYPE"},
		{"bad reference", `read('123');`, "INVALID_RESOURCE_ID"},
		{"absolute path", `read('http://elsewhere/Patient/1');`, "UNEXPECTED_ABSOLUTE_URL"},
		{"bad bundle", `uploadBundle('nothing');`, "INVALID_BUNDLE"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			out := run(t, "fhir-4", c.body, conf(s), "")
			if out.res.Error == nil || !strings.Contains(out.res.Error.Message, c.msg) {
				t.Errorf("%+v", out.res.Error)
			}
		})
	}
	noBase := run(t, "fhir-4", `read('Patient/1');`, map[string]any{}, "")
	if noBase.res.Error == nil || !strings.Contains(noBase.res.Error.Message, "baseUrl is required") {
		t.Errorf("%+v", noBase.res.Error)
	}
}

func TestFHIR5(t *testing.T) {
	s := startSim(t, sim.Options{PageSize: 2})
	out := run(t, "@openfn/language-fhir@5.1.2", `
create('Patient', { gender: 'female' }, {}, next => ({ ...next, createdStatus: next.response.statusCode }));
create('Patient', { gender: 'male' });
create('Patient', { gender: 'other' });
get('Patient', { _count: 2 }, { all: true });
fn(state => ({ ...state, total: state.data.entry.length }));
createTransactionBundle([
  { resource: { resourceType: 'Patient', identifier: [{ system: 's', value: 'v' }] }, request: { method: 'PUT', url: 'Patient?identifier=s|v' } },
]);
`, map[string]any{"baseUrl": origin(s), "apiPath": "fhir", "access_token": token}, "")
	mustSucceed(t, out)
	if out.state["createdStatus"] != float64(201) || out.state["total"] != float64(3) {
		t.Errorf("state %v %v", out.state["createdStatus"], out.state["total"])
	}
	if get(out.state, "data", "type") != "transaction-response" || s.Count("Patient") != 4 {
		t.Errorf("transaction: %v, %d patients", get(out.state, "data", "type"), s.Count("Patient"))
	}
	if o := run(t, "fhir@5", `read('Patient/1');`, conf(s), ""); o.res.Error == nil {
		t.Error("fhir v5 must not have fhir-4's read")
	}
}

func TestConversionsInFHIR4(t *testing.T) {
	s := startSim(t, sim.Options{})
	out := run(t, "fhir-4", `fn(state => ({ ...state,
  period: conversions.periodFromFHIR('Monthly', { start: '2024-01-01', end: '2024-01-31' }),
  outcome: conversions.validate({ resourceType: 'Patient', gender: 'M' }),
  uid: conversions.deriveUid('https://moh.example.org/nid|NID-1'),
}));`, conf(s), "")
	mustSucceed(t, out)
	if out.state["period"] != "202401" || len(out.state["uid"].(string)) != 11 {
		t.Errorf("state %v", out.state)
	}
	if get(out.state, "outcome", "resourceType") != "OperationOutcome" || !strings.Contains(fmt.Sprint(out.state["outcome"]), "gender") {
		t.Errorf("outcome %v", out.state["outcome"])
	}
	bad := run(t, "fhir-4", `fn(state => conversions.periodFromFHIR('Monthly', { start: '2024-01-01', end: '2024-02-15' }));`, conf(s), "")
	if bad.res.Error == nil || !strings.Contains(bad.res.Error.Message, "periodFromFHIR") {
		t.Errorf("%+v", bad.res.Error)
	}
}

func TestOutcomeMessage(t *testing.T) {
	cases := []struct {
		body, want string
		ok         bool
	}{
		{`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","expression":["Patient.gender"],"diagnostics":"Unknown code 'M'"}]}`, "error invalid Patient.gender: Unknown code 'M'", true},
		{`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing","details":{"text":"Reference not found"}}]}`, "error processing: Reference not found", true},
		{`{"resourceType":"Patient"}`, "", false},
		{`<html>502</html>`, "", false},
	}
	for _, c := range cases {
		got, ok := adfhir.OutcomeMessage([]byte(c.body))
		if ok != c.ok || got != c.want {
			t.Errorf("OutcomeMessage(%s) = %q, %v; want %q", c.body, got, ok, c.want)
		}
	}
}
