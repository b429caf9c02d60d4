// Package cambodiareferrals holds the end-to-end test of the
// cambodia-referrals example: the OpenFn v1 project is loaded as the daemon
// loads it, Primero and OSCaR are the in-process simulators, and the cron
// workflows run in the real runtime hour after hour, each run starting from
// the cursor the scheduler would carry (the cron job's output of the last
// successful run).
package cambodiareferrals

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
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
	primeroUser = "openfn"
	primeroPass = "primero-Example-Secret-1"
	oscarUser   = "openfn@oscar.org"
	oscarPass   = "oscar-Example-Secret-2"
	inboxID     = "5b3e0f9a-inbox"
	syncWF      = "primero-oscar-sync"
	idsWF       = "oscar-ids-sync"
)

var t0 = time.Date(2025, 8, 2, 9, 0, 0, 0, time.UTC)

// inbox records what the catch jobs post.
type inbox struct {
	mu    sync.Mutex
	posts []inboxPost
	srv   *httptest.Server
}

type inboxPost struct {
	Path, Query string
	Body        map[string]any
}

func newInbox(t testing.TB) *inbox {
	ib := &inbox{}
	ib.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		ib.mu.Lock()
		ib.posts = append(ib.posts, inboxPost{r.URL.Path, r.URL.RawQuery, m})
		ib.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"accepted":true}`))
	}))
	t.Cleanup(ib.srv.Close)
	return ib
}

func (ib *inbox) all() []inboxPost {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	return append([]inboxPost(nil), ib.posts...)
}

// env is one deployment: both systems, the project, credentials and the
// cursors the scheduler keeps.
type env struct {
	t       testing.TB
	ps      *simprimero.Server
	os      *simoscar.Server
	ib      *inbox
	p       *config.Project
	creds   map[string]map[string]any
	cursors map[string]json.RawMessage
	// every exchange, log line and error of every run, for the secrets check
	exchanges []recorder.Exchange
	logs      []runtime.LogLine
	errs      []*runtime.Error
}

func newEnv(t testing.TB) *env {
	t.Helper()
	clock := func() time.Time { return t0 }
	ps := simprimero.New(simprimero.Options{Now: clock, Users: []simprimero.User{{Username: primeroUser, Password: primeroPass, Agency: "agency-unicef"}}})
	os := simoscar.New(simoscar.Options{Now: clock, Users: []simoscar.User{{Email: oscarUser, Password: oscarPass}}})
	for _, s := range []interface{ Start() error }{ps, os} {
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(ps.Close)
	t.Cleanup(os.Close)
	p, err := config.LoadProject(".")
	if err != nil {
		t.Fatalf("LoadProject: %v", err)
	}
	if len(p.Warnings) != 0 {
		t.Errorf("project warnings: %v", p.Warnings)
	}
	file, err := config.LoadCredentials("credentials.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ps: ps, os: os, ib: newInbox(t), p: p, creds: map[string]map[string]any{}, cursors: map[string]json.RawMessage{}}
	for _, k := range p.Credentials {
		c, ok := file.Get(k)
		if !ok {
			t.Fatalf("credentials.example.yaml has no %q", k)
		}
		e.creds[k] = c
	}
	e.creds["primero"]["url"], e.creds["primero"]["user"], e.creds["primero"]["password"] = ps.URL(), primeroUser, primeroPass
	e.creds["oscar"]["baseUrl"], e.creds["oscar"]["username"], e.creds["oscar"]["password"] = os.URL(), oscarUser, oscarPass
	e.creds["inbox"]["baseUrl"], e.creds["inbox"]["inboxId"] = e.ib.srv.URL, inboxID
	return e
}

// advance moves both systems' clocks (the runtime reads Primero's).
func (e *env) advance(d time.Duration) {
	e.ps.AdvanceClock(d)
	e.os.AdvanceClock(d)
}

// run plays one scheduled run of a workflow the way the scheduler does:
// the input is the workflow's cursor, and only a successful run moves the
// cursor to the cron job's output (configuration removed).
func (e *env) run(key string) *runtime.Result {
	e.t.Helper()
	w := e.p.Workflow(key)
	if w == nil {
		e.t.Fatalf("no workflow %s", key)
	}
	input := e.cursors[key]
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
			if !ok {
				return nil, false
			}
			cp := map[string]any{}
			for kk, v := range c {
				cp[kk] = v
			}
			return cp, true
		},
	})
	e.exchanges = append(e.exchanges, rec.Exchanges()...)
	e.logs = append(e.logs, res.Logs...)
	if res.Error != nil {
		e.errs = append(e.errs, res.Error)
	}
	if res.Status == runtime.StatusSuccess {
		target := w.Edges[0].TargetJob // the cron trigger's job
		for i := len(res.Steps) - 1; i >= 0; i-- {
			if s := res.Steps[i]; s.Job == target && s.Status == runtime.StatusSuccess {
				var m map[string]any
				if err := json.Unmarshal(s.Output, &m); err != nil {
					e.t.Fatalf("cursor output: %v", err)
				}
				delete(m, "configuration")
				b, _ := json.Marshal(m)
				e.cursors[key] = b
				break
			}
		}
	}
	return res
}

func (e *env) mustSucceed(key string) map[string]any {
	e.t.Helper()
	res := e.run(key)
	if res.Status != runtime.StatusSuccess {
		for _, l := range res.Logs {
			e.t.Log(l.Step, l.Level, l.Message)
		}
		e.t.Fatalf("%s: %s %+v", key, res.Status, res.Error)
	}
	var st map[string]any
	if err := json.Unmarshal(res.State, &st); err != nil {
		e.t.Fatalf("final state: %v", err)
	}
	return st
}

func (e *env) cursor(key string) map[string]any {
	var m map[string]any
	_ = json.Unmarshal(e.cursors[key], &m)
	return m
}

// noSecrets checks every recorded exchange, log line and error message as
// recorded, and every whole error (details included) as the mediator
// replies with it and stores it: through the run's redactor, which knows
// the credential values (channels' errorReply). Details need that pass
// because http ≤5 errors carry the axios request config, whose data is the
// sign-in body.
func (e *env) noSecrets() {
	e.t.Helper()
	red := redact.New()
	for _, c := range e.creds {
		red.AddSecretsFrom(c)
	}
	var msgs []string
	for _, er := range e.errs {
		msgs = append(msgs, er.Message)
	}
	errs, _ := json.Marshal(e.errs)
	b, _ := json.Marshal(struct {
		Ex       []recorder.Exchange
		Logs     []runtime.LogLine
		Messages []string
		Errs     json.RawMessage
	}{e.exchanges, e.logs, msgs, red.JSON(errs)})
	for _, s := range []string{primeroPass, oscarPass, base64.StdEncoding.EncodeToString([]byte(oscarUser + ":" + oscarPass))} {
		if i := strings.Index(string(b), s); i >= 0 {
			e.t.Errorf("secret %.6s… found in the run records: %s", s, string(b)[max(0, i-400):i])
		}
	}
	for _, ex := range e.exchanges {
		for _, h := range []string{"Authorization", "access-token"} {
			if v := ex.Request.Header.Get(h); v != "" && !strings.Contains(v, "*") {
				e.t.Errorf("%s header recorded in clear in %s", h, ex.Name)
			}
			if ex.Response != nil {
				if v := ex.Response.Header.Get(h); v != "" && !strings.Contains(v, "*") {
					e.t.Errorf("%s response header recorded in clear in %s", h, ex.Name)
				}
			}
		}
		if strings.Contains(ex.Request.Body, `"password":"`) && !strings.Contains(ex.Request.Body, `"password":"*`) {
			e.t.Errorf("password in the body of %s: %s", ex.Name, ex.Request.Body)
		}
		if ex.Response != nil && strings.Contains(ex.Response.Body, `"token":"ey`) {
			e.t.Errorf("Primero JWT recorded in %s", ex.Name)
		}
	}
}

// primero calls the Primero simulator as a MoSVY worker would (Basic auth).
func (e *env) primero(method, path string, body any) map[string]any {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.ps.URL()+path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(primeroUser, primeroPass)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	if res.StatusCode != 200 {
		e.t.Fatalf("%s %s: %d %v", method, path, res.StatusCode, out)
	}
	return out
}

// referToOscar seeds a Primero case referred to an OSCaR NGO service, and
// returns its record id and case_id.
func (e *env) referToOscar(first, subtype string, extra map[string]any) (string, string) {
	e.t.Helper()
	svc := "svc-" + strings.ToLower(first)
	c := map[string]any{
		"module_id": "primeromodule-cp", "name_first": first, "name_last": "Diallo", "sex": "female", "date_of_birth": "2016-01-01",
		"risk_level": "medium", "location_current": "1070101", "workflow": "referral_to_oscar", "owned_by": "mosvy_worker",
		"consent_for_services": true, "disclosure_other_orgs": true,
		"services_section": []any{map[string]any{"unique_id": svc, "service_type": "family_based_care",
			"service_subtype": []any{subtype}, "service_response_type": "referral_to_oscar", "service_implementing_agency": "agency-cif"}},
	}
	for k, v := range extra {
		c[k] = v
	}
	id := e.ps.SeedCase(c)
	e.primero("POST", "/api/v2/cases/referrals", map[string]any{"data": map[string]any{
		"ids": []any{id}, "transitioned_to": "agency-cif-user", "service_record_id": svc, "notes": "needs " + subtype}})
	rec, _ := e.ps.Case(id)
	return id, rec["case_id"].(string)
}

// referToPrimero seeds an OSCaR client an NGO referred to MoSVY.
func (e *env) referToPrimero() string {
	return e.os.SeedClient(map[string]any{"given_name": "Mamadou", "family_name": "Lakhassane", "gender": "male",
		"date_of_birth": "2014-09-08", "location_current_village_code": "02040302", "organization_name": "cif", "is_referred": true,
		"services": []any{map[string]any{"uuid": "osc-svc-9", "name": "Trauma counselling", "referral_id": 501, "referral_status": "Referred"}}})
}

func list(v any) []map[string]any {
	arr, _ := v.([]any)
	out := make([]map[string]any, 0, len(arr))
	for _, x := range arr {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func casesWith(ps *simprimero.Server, field, value string) []map[string]any {
	var out []map[string]any
	for _, c := range ps.Cases() {
		if c[field] == value {
			out = append(out, c)
		}
	}
	return out
}

func clientsWith(os *simoscar.Server, field, value string) []map[string]any {
	var out []map[string]any
	for _, c := range os.Clients() {
		if c[field] == value {
			out = append(out, c)
		}
	}
	return out
}

type snapshot struct {
	Cases, Clients, Referrals any
}

func (e *env) snapshot() snapshot {
	var refs []any
	for _, c := range e.ps.Cases() {
		refs = append(refs, e.ps.Referrals(c["id"].(string)))
	}
	return snapshot{e.ps.Cases(), e.os.Clients(), []any{refs, e.os.Referrals()}}
}

func TestTwoWaySync(t *testing.T) {
	e := newEnv(t)
	// Before the first hour: MoSVY refers case A to an NGO's foster care
	// service, and the NGO refers its client N to MoSVY.
	caseA, caseIDA := e.referToOscar("Aicha", "family_based_care_long_term_foster_care", nil)
	ngoGID := e.referToPrimero()
	e.advance(time.Hour) // 10:00

	// ---- Hour 1.
	final := e.mustSucceed(syncWF)
	if rej := list(final["rejected"]); len(rej) != 0 {
		t.Errorf("hour 1 rejected %v", rej)
	}
	cur := e.cursor(syncWF)
	if cur["lastRunDateTime"] != "2025-08-02T10:00:00.000Z" {
		t.Fatalf("cursor after hour 1: %v", cur["lastRunDateTime"])
	}
	// OSCaR holds A's referral, waiting for the NGO.
	var pendingA []map[string]any
	for _, r := range e.os.Referrals() {
		if r["external_id"] == caseIDA {
			pendingA = append(pendingA, r)
		}
	}
	if len(pendingA) != 1 || pendingA[0]["accepted"] != false || pendingA[0]["organization_name"] != "cif" ||
		list(pendingA[0]["services"])[0]["name"] != "Long term foster care" {
		t.Fatalf("OSCaR referral for case A: %v", pendingA)
	}
	// Primero holds N as a case from OSCaR, owned by the province's user.
	ns := casesWith(e.ps, "oscar_number", ngoGID)
	if len(ns) != 1 || ns[0]["owned_by"] != "battambang_user" || ns[0]["protection_status"] != "oscar_referral" ||
		list(ns[0]["services_section"])[0]["service_response_type"] != "referral_from_oscar" ||
		list(ns[0]["services_section"])[0]["oscar_referral_id_a4ac8a5"] != "501" {
		t.Fatalf("Primero case for NGO client: %v", ns)
	}
	caseN := ns[0]
	e.mustSucceed(idsWF)
	if e.cursor(idsWF)["lastQueryDate"] != "2025-08-02 00:00:00" {
		t.Errorf("ids sync cursor %v", e.cursor(idsWF))
	}

	// Between hours: the NGO accepts A; a MoSVY worker accepts N's referral.
	acceptedGID, err := e.os.AcceptReferral(caseIDA)
	if err != nil {
		t.Fatal(err)
	}
	e.primero("PATCH", "/api/v2/cases/"+caseN["id"].(string), map[string]any{"data": map[string]any{
		"services_section": []any{map[string]any{"unique_id": "osc-svc-9", "referral_status_edf41f2": "accepted_340953"}}}})
	e.advance(time.Hour) // 11:00

	// ---- Hour 2, first try: OSCaR answers 500 to the sign-in. f1-j2
	// fails, its catch job posts the window to the inbox, nothing is
	// written anywhere and the cursor stays.
	before := e.snapshot()
	e.os.FailNext(1, 500)
	res := e.run(syncWF)
	if res.Status != runtime.StatusFailed || res.Error == nil || res.Error.Step != "f1-j2-casesToOscar" ||
		res.Error.StatusCode != 500 || !res.Error.Transient() {
		t.Fatalf("hour 2 with OSCaR down: %s %+v", res.Status, res.Error)
	}
	if got := e.cursor(syncWF)["lastRunDateTime"]; got != "2025-08-02T10:00:00.000Z" {
		t.Fatalf("a failed run moved the cursor to %v", got)
	}
	if after := e.snapshot(); !reflect.DeepEqual(before, after) {
		t.Errorf("the failed run changed Primero or OSCaR")
	}
	posts := e.ib.all()
	if len(posts) != 1 || posts[0].Path != "/inbox/"+inboxID || !strings.Contains(posts[0].Query, "failure=f1-j2-upsert-to-OSCaR") {
		t.Fatalf("inbox posts %+v", posts)
	}
	if is, _ := posts[0].Body["initialState"].(map[string]any); is["lastRunDateTime"] != "2025-08-02T10:00:00.000Z" {
		t.Errorf("catch job posted %v", posts[0].Body)
	}
	var sawTopLevelLog bool
	for _, l := range res.Logs {
		sawTopLevelLog = sawTopLevelLog || (l.Step == "f1-j3-catch" && strings.Contains(l.Message, "Inbox: "+inboxID))
	}
	if !sawTopLevelLog {
		t.Errorf("the catch job's top-level console.log did not run")
	}

	// ---- Hour 2, next try from the same cursor.
	final = e.mustSucceed(syncWF)
	if got := e.cursor(syncWF)["lastRunDateTime"]; got != "2025-08-02T11:00:00.000Z" {
		t.Fatalf("cursor after hour 2: %v", got)
	}
	if s, _ := final["synced"].(map[string]any); s["decisions"] != float64(2) || s["referralUpdates"] != float64(1) {
		t.Errorf("hour 2 synced %v", final["synced"])
	}
	e.mustSucceed(idsWF)

	// ---- Hour 3: nothing new; the sync must not duplicate anything.
	e.advance(time.Hour)
	e.mustSucceed(syncWF)
	e.mustSucceed(idsWF)

	// Primero: A linked to its OSCaR client, its referral accepted; N once.
	if n := len(e.ps.Cases()); n != 2 {
		t.Fatalf("Primero has %d cases, want 2", n)
	}
	a, _ := e.ps.Case(caseA)
	if a["oscar_number"] != acceptedGID || a["oscar_status"] != "Accepted" {
		t.Errorf("case A not linked: oscar_number %v status %v", a["oscar_number"], a["oscar_status"])
	}
	svcA := list(a["services_section"])[0]
	if svcA["referral_status_edf41f2"] != "accepted_340953" || svcA["oscar_referral_id_a4ac8a5"] == nil {
		t.Errorf("case A service %v", svcA)
	}
	if refs := e.ps.Referrals(caseA); len(refs) != 1 || refs[0]["status"] != "accepted" {
		t.Errorf("case A referral %v", refs)
	}
	if ns := casesWith(e.ps, "oscar_number", ngoGID); len(ns) != 1 {
		t.Errorf("NGO client is in Primero %d times", len(ns))
	}
	// OSCaR: A once (linked to its Primero case), N linked, N's referral
	// accepted by MoSVY.
	if n := len(e.os.Clients()); n != 2 {
		t.Fatalf("OSCaR has %d clients, want 2", n)
	}
	if as := clientsWith(e.os, "external_id", caseIDA); len(as) != 1 || as[0]["global_id"] != acceptedGID {
		t.Errorf("case A in OSCaR: %v", as)
	}
	n := clientsWith(e.os, "global_id", ngoGID)
	if len(n) != 1 || n[0]["external_id"] != caseN["case_id"] {
		t.Fatalf("NGO client not linked: %v", n)
	}
	if svc := list(n[0]["services"]); len(svc) != 1 || svc[0]["referral_status"] != "Accepted" {
		t.Errorf("NGO referral status in OSCaR: %v", svc)
	}
	if refs := e.os.Referrals(); len(refs) != 2 {
		t.Errorf("OSCaR has %d referrals, want 2", len(refs))
	}
	if len(e.ib.all()) != 1 {
		t.Errorf("inbox posts after recovery: %d", len(e.ib.all()))
	}
	e.noSecrets()
}

func TestBadInput(t *testing.T) {
	t.Run("Primero login fails", func(t *testing.T) {
		e := newEnv(t)
		e.referToOscar("Aicha", "family_based_care_long_term_foster_care", nil)
		e.advance(time.Hour)
		e.creds["primero"]["password"] = "wrong-" + primeroPass
		before := e.snapshot()
		res := e.run(syncWF)
		if res.Status != runtime.StatusFailed || res.Error.Step != "f1-j1-getPrimeroCases" || res.Error.StatusCode != 401 ||
			!strings.Contains(res.Error.Message, "Primero login failed") || res.Error.Transient() {
			t.Fatalf("%s %+v", res.Status, res.Error)
		}
		if e.cursors[syncWF] != nil || !reflect.DeepEqual(before, e.snapshot()) || len(e.os.Requests()) != 0 {
			t.Errorf("a failed login moved the cursor or wrote something")
		}
		e.noSecrets()
		if strings.Contains(res.Error.Message, "wrong-"+primeroPass) {
			t.Errorf("the wrong password is in the error")
		}
	})

	t.Run("OSCaR sign-in fails", func(t *testing.T) {
		e := newEnv(t)
		e.referToOscar("Aicha", "family_based_care_long_term_foster_care", nil)
		e.advance(time.Hour)
		e.creds["oscar"]["password"] = "wrong-" + oscarPass
		before := e.snapshot()
		res := e.run(syncWF)
		if res.Status != runtime.StatusFailed || res.Error.Step != "f1-j2-casesToOscar" || res.Error.StatusCode != 401 || res.Error.Transient() {
			t.Fatalf("%s %+v", res.Status, res.Error)
		}
		if e.cursors[syncWF] != nil || !reflect.DeepEqual(before, e.snapshot()) {
			t.Errorf("a failed sign-in moved the cursor or wrote something")
		}
		if posts := e.ib.all(); len(posts) != 1 {
			t.Errorf("catch job posts: %v", posts)
		}
		e.noSecrets()
	})

	t.Run("records OSCaR cannot take", func(t *testing.T) {
		e := newEnv(t)
		// A legacy Primero record without case_id: a proxy drops it from the
		// case list, as an old Primero export would send it.
		target, _ := url.Parse(e.ps.URL())
		proxy := httputil.NewSingleHostReverseProxy(target)
		proxy.ModifyResponse = func(r *http.Response) error {
			if r.Request.Method != "GET" || r.Request.URL.Path != "/api/v2/cases" {
				return nil
			}
			b, _ := io.ReadAll(r.Body)
			var body map[string]any
			if json.Unmarshal(b, &body) == nil {
				for _, c := range list(body["data"]) {
					if c["name_first"] == "Noid" {
						delete(c, "case_id")
					}
				}
				b, _ = json.Marshal(body)
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
			r.ContentLength = int64(len(b))
			r.Header.Del("Content-Length")
			return nil
		}
		front := httptest.NewServer(proxy)
		defer front.Close()
		e.creds["primero"]["url"] = front.URL

		_, good := e.referToOscar("Aicha", "family_based_care_long_term_foster_care", nil)
		e.referToOscar("Noid", "family_based_care_kinship_care", nil)
		_, unmapped := e.referToOscar("Unmapped", "family_based_care_space_travel", nil)
		_, risky := e.referToOscar("Risky", "family_based_care_kinship_care", map[string]any{"risk_level": "extreme"})
		e.advance(time.Hour)

		final := e.mustSucceed(syncWF)
		rej := list(final["rejected"])
		reasons := map[string]string{}
		for _, r := range rej {
			reasons[r["record"].(string)] = r["reason"].(string)
		}
		if len(rej) != 3 {
			t.Errorf("rejected %v", rej)
		}
		var noID, noMap, refused bool
		for rec, why := range reasons {
			noID = noID || (strings.Contains(why, "no case_id") && strings.HasPrefix(rec, "Primero case "))
			noMap = noMap || (strings.Contains(rec, unmapped) && strings.Contains(why, `"family_based_care_space_travel" is not in the service map`))
			refused = refused || (strings.Contains(rec, risky) && strings.Contains(why, "OSCaR refused the record (422)"))
		}
		if !noID || !noMap || !refused {
			t.Errorf("reasons %v", reasons)
		}
		// The rest of the batch went through: exactly the good referral.
		refs := e.os.Referrals()
		if len(refs) != 1 || refs[0]["external_id"] != good {
			t.Errorf("OSCaR referrals %v", refs)
		}
		if e.cursor(syncWF)["lastRunDateTime"] == nil {
			t.Errorf("per-record rejections must not block the cursor")
		}
		e.noSecrets()
	})

	t.Run("NGO client in an unknown province", func(t *testing.T) {
		e := newEnv(t)
		e.os.SeedClient(map[string]any{"given_name": "Sok", "family_name": "Dara", "gender": "male", "date_of_birth": "2012-01-01",
			"location_current_village_code": "99010101", "organization_name": "unknownngo", "is_referred": true,
			"services": []any{map[string]any{"uuid": "osc-svc-1", "name": "Trauma counselling", "referral_id": 601, "referral_status": "Referred"}}})
		ok := e.referToPrimero()
		e.advance(time.Hour)
		final := e.mustSucceed(syncWF)
		rej := list(final["rejected"])
		if len(rej) != 1 || !strings.Contains(rej[0]["reason"].(string), `Province user not found for province "99"`) {
			t.Errorf("rejected %v", rej)
		}
		if len(e.ps.Cases()) != 1 || len(casesWith(e.ps, "oscar_number", ok)) != 1 {
			t.Errorf("the mappable client should still reach Primero: %d cases", len(e.ps.Cases()))
		}
	})
}

// BenchmarkSyncHour measures one hour of the two-way sync (6 jobs, ~90
// requests) over 20 Primero referrals and 20 NGO clients, re-run from the
// first cursor each time: every write is then an idempotent update.
func BenchmarkSyncHour(b *testing.B) {
	e := newEnv(b)
	for i := 0; i < 20; i++ {
		e.referToOscar(fmt.Sprintf("Child%02d", i), "family_based_care_long_term_foster_care", nil)
		e.os.SeedClient(map[string]any{"given_name": fmt.Sprint("Ngo", i), "family_name": "Client", "gender": "female",
			"date_of_birth": "2013-03-03", "location_current_village_code": "12010101", "organization_name": "cif", "is_referred": true,
			"services": []any{map[string]any{"uuid": fmt.Sprint("osc-", i), "name": "Kinship care", "referral_id": 700 + i, "referral_status": "Referred"}}})
	}
	e.advance(time.Hour)
	e.mustSucceed(syncWF)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		delete(e.cursors, syncWF)
		e.exchanges, e.logs = nil, nil
		e.mustSucceed(syncWF)
	}
	b.StopTimer()
	if n := len(e.ps.Cases()); n != 40 {
		b.Fatalf("Primero has %d cases after %d re-syncs, want 40", n, b.N+1)
	}
}
