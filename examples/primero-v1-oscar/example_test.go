// Package primerov1oscar holds the end-to-end test of the primero-v1-oscar
// example: an OpenFn v1 project (language-primero 1.x on Primero's v1 API,
// language-http 5 on OSCaR) loaded as the daemon loads it, run by the real
// runtime against the Primero and OSCaR simulators.
package primerov1oscar

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jobmediator/jobmediator/adaptors/all"
	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/runtime"
	simoscar "github.com/jobmediator/jobmediator/sim/oscar"
	simprimero "github.com/jobmediator/jobmediator/sim/primero"
	"github.com/jobmediator/jobmediator/workflow"
)

const (
	primeroPass = "primero-V1-Secret-7"
	oscarUser   = "openfn@oscar.org"
	oscarPass   = "oscar-V1-Secret-8"
)

var t0 = time.Date(2025, 8, 2, 9, 0, 0, 0, time.UTC)

type env struct {
	t      *testing.T
	ps     *simprimero.Server
	os     *simoscar.Server
	p      *config.Project
	creds  map[string]map[string]any
	cursor json.RawMessage
	inbox  []map[string]any
	mu     sync.Mutex
	traces []byte
}

func newEnv(t *testing.T) *env {
	clock := func() time.Time { return t0 }
	e := &env{t: t,
		ps: simprimero.New(simprimero.Options{Now: clock, Users: []simprimero.User{{Username: "openfn", Password: primeroPass, Agency: "agency-unicef"}}}),
		os: simoscar.New(simoscar.Options{Now: clock, Users: []simoscar.User{{Email: oscarUser, Password: oscarPass}}}),
	}
	for _, s := range []interface {
		Start() error
		Close()
	}{e.ps, e.os} {
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
	}
	inbox := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		e.mu.Lock()
		e.inbox = append(e.inbox, map[string]any{"path": r.URL.Path, "body": m})
		e.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"accepted":true}`))
	}))
	t.Cleanup(inbox.Close)
	p, err := config.LoadProject(".")
	if err != nil {
		t.Fatalf("LoadProject: %v", err)
	}
	e.p = p
	file, err := config.LoadCredentials("credentials.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e.creds = map[string]map[string]any{}
	for _, k := range p.Credentials {
		c, ok := file.Get(k)
		if !ok {
			t.Fatalf("credentials.example.yaml has no %q", k)
		}
		e.creds[k] = c
	}
	e.creds["primero"]["url"], e.creds["primero"]["password"] = e.ps.URL(), primeroPass
	e.creds["oscar"]["baseUrl"], e.creds["oscar"]["username"], e.creds["oscar"]["password"] = e.os.URL(), oscarUser, oscarPass
	e.creds["inbox"]["baseUrl"] = inbox.URL
	return e
}

// run plays one hourly run as the scheduler does: input = the cursor, and
// only a successful run moves it (to the cron job's output).
func (e *env) run() *runtime.Result {
	e.t.Helper()
	w := e.p.Workflow("hourly")
	if w == nil {
		e.t.Fatal("no workflow hourly")
	}
	input := e.cursor
	if input == nil {
		input = json.RawMessage(`{}`)
	}
	red := redact.New()
	rec := recorder.NewRecorder(red)
	res := workflow.NewLocal(runtime.New(runtime.Options{Now: e.ps.Now})).Run(context.Background(), runtime.RunRequest{
		Workflow: w, Compat: e.p.EffectiveCompat(w, nil, ""), Input: input,
		HTTP: recorder.NewClient(nil, rec), Redactor: red,
		Credential: func(k string) (map[string]any, bool) {
			c, ok := e.creds[k]
			cp := map[string]any{}
			for kk, v := range c {
				cp[kk] = v
			}
			return cp, ok
		},
	})
	tr, _ := json.Marshal(struct {
		Ex   []recorder.Exchange
		Logs []runtime.LogLine
		Err  *runtime.Error
	}{rec.Exchanges(), res.Logs, res.Error})
	e.traces = append(e.traces, tr...)
	if res.Status == runtime.StatusSuccess {
		for _, s := range res.Steps {
			if s.Job == "1-get-referrals" {
				var m map[string]any
				_ = json.Unmarshal(s.Output, &m)
				delete(m, "configuration")
				e.cursor, _ = json.Marshal(m)
			}
		}
	}
	return res
}

func (e *env) seed(caseID, risk string) string {
	return e.ps.SeedCase(map[string]any{"case_id": caseID, "name_first": "Sok", "name_last": "Dara " + caseID, "sex": "male",
		"risk_level": risk, "module_id": "primeromodule-cp", "owned_by_agency_id": "agency-cif",
		"services_section": []any{map[string]any{"unique_id": "svc-" + caseID, "service_type": "family_based_care",
			"service_subtype": "family_based_care_family_preservation", "service_response_type": "referral_to_oscar"}}})
}

func logs(res *runtime.Result) string {
	var b strings.Builder
	for _, l := range res.Logs {
		b.WriteString(l.Step + " " + l.Level + " " + l.Message + "\n")
	}
	return b.String()
}

func TestHourlyRuns(t *testing.T) {
	e := newEnv(t)
	ok1 := e.seed("c-1", "high")
	e.seed("c-2", "") // no level of risk: OSCaR refuses it (422), the run goes on
	e.ps.SeedCase(map[string]any{"case_id": "c-3", "name_first": "Not", "name_last": "Referred", "module_id": "primeromodule-cp"})
	e.ps.AdvanceClock(time.Minute)
	e.os.AdvanceClock(time.Minute)

	res := e.run()
	if res.Status != runtime.StatusSuccess {
		t.Fatalf("run 1: %s %+v\n%s", res.Status, res.Error, logs(res))
	}
	var final map[string]any
	_ = json.Unmarshal(res.State, &final)
	if final["marked"] != float64(1) {
		t.Errorf("marked: %v\n%s", final["marked"], logs(res))
	}
	if ref, _ := final["refused"].([]any); len(ref) != 1 || ref[0].(map[string]any)["case_id"] != "c-2" {
		t.Errorf("refused: %v", final["refused"])
	}
	// OSCaR has the referral of c-1
	var got []string
	for _, r := range e.os.Referrals() {
		if id, _ := r["external_id"].(string); id != "" {
			got = append(got, id)
		}
	}
	if len(got) != 1 || got[0] != "c-1" {
		t.Errorf("OSCaR referrals: %v", got)
	}
	// the Primero case got the sent marker as a new service, its own kept
	rec, _ := e.ps.Case(ok1)
	svcs, _ := rec["services_section"].([]any)
	if len(svcs) != 2 || svcs[1].(map[string]any)["oscar_referral_of"] != "svc-c-1" {
		t.Errorf("Primero services after marking: %v", svcs)
	}
	if !strings.Contains(logs(res), "2 of 2 referred cases changed since 2025-08-01T00:00:00.000Z") {
		t.Errorf("getCases callback log missing:\n%s", logs(res))
	}

	// An hour later nothing changed: the cursor moved, nothing is resent.
	e.ps.AdvanceClock(time.Hour)
	e.os.AdvanceClock(time.Hour)
	before := len(e.os.Referrals())
	res = e.run()
	if res.Status != runtime.StatusSuccess || len(e.os.Referrals()) != before {
		t.Fatalf("run 2: %s %+v, referrals %d → %d", res.Status, res.Error, before, len(e.os.Referrals()))
	}
	if !strings.Contains(logs(res), "0 of 2 referred cases changed") {
		t.Errorf("cursor did not move:\n%s", logs(res))
	}

	// OSCaR down: the .catch rethrows the 5xx, the job fails, the catch job
	// hands the window back to the inbox, and the cursor stays.
	e.seed("c-4", "medium")
	e.ps.AdvanceClock(time.Minute)
	cursor := string(e.cursor)
	e.os.FailNext(100, 503)
	res = e.run()
	if res.Status == runtime.StatusSuccess {
		t.Fatalf("run 3 must fail:\n%s", logs(res))
	}
	if string(e.cursor) != cursor {
		t.Errorf("a failed run moved the cursor")
	}
	if len(e.inbox) != 1 || !strings.Contains(e.inbox[0]["path"].(string), "/inbox/") {
		t.Fatalf("inbox: %v\n%s", e.inbox, logs(res))
	}
	body, _ := e.inbox[0]["body"].(map[string]any)
	if is, _ := body["initialState"].(map[string]any); is["lastRunDateTime"] == nil {
		t.Errorf("inbox body: %v", body)
	}
	for _, s := range []string{primeroPass, oscarPass} {
		if strings.Contains(string(e.traces), s) {
			t.Errorf("secret %.5s… in the run records", s)
		}
	}
}
