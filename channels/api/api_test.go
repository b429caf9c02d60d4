package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"

	_ "github.com/jobmediator/jobmediator/adaptors/all"
	"github.com/jobmediator/jobmediator/channels/internal/chantest"
	"github.com/jobmediator/jobmediator/channels/queue"
	"github.com/jobmediator/jobmediator/channels/schedule"
	"github.com/jobmediator/jobmediator/channels/webhook"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/runtime"
	"github.com/jobmediator/jobmediator/store"
	"github.com/jobmediator/jobmediator/workflow"
)

// t0 is half an hour before the first hourly tick.
var t0 = time.Date(2026, 3, 1, 0, 30, 0, 0, time.UTC)

var noSecrets = chantest.NoSecrets

// apiFixture is the operator API over a real scheduler (manual runs) and
// the embedded store, with the workflow routes behind it.
type apiFixture struct {
	x     *workflow.Executor
	sched *schedule.Scheduler
	web   *webhook.Webhook
	st    store.Store
}

func newAPIFixture(t *testing.T, st store.Store) *apiFixture {
	t.Helper()
	p, err := config.LoadProject("../schedule/testdata/schedule")
	if err != nil {
		t.Fatal(err)
	}
	up := chantest.NewUpstream(t)
	creds := config.NewCredentials(map[string]map[string]any{
		"upstream": {"baseUrl": up.Srv.URL, "username": "demo", "password": chantest.Secret},
	})
	red := redact.New()
	red.AddValues(creds.SecretValues()...)
	clock := schedule.NewFakeClock(t0)
	x, err := workflow.New(p, workflow.Options{URN: "urn:mediator:test", Runner: workflow.NewLocal(runtime.New(runtime.Options{})),
		Credentials: creds.Get, Redactor: red, Observer: &workflow.History{Store: st, Redactor: red}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &apiFixture{x: x, sched: schedule.New(x, schedule.Options{Store: st}),
		web: webhook.New(x, queue.New(x, queue.Options{Store: st}), webhook.Options{}), st: st}
}

// register adds the API with token, then the scheduler's and the workflow
// routes, as the daemon does.
func (f *apiFixture) register(r *mux.Router, token string) {
	New(f.x, Options{Token: token, Store: f.st, CursorKeys: schedule.CursorKeys,
		RunManual: func(ctx context.Context, wf string, cursor, state json.RawMessage) (*ManualResult, error) {
			res, err := f.sched.RunManual(ctx, wf, schedule.ManualRun{Cursor: cursor, State: state})
			if err != nil {
				return nil, err
			}
			return &ManualResult{RunID: res.RunID, TransactionID: res.TransactionID, Window: res.Window,
				Advanced: res.Advanced, Result: res.Result, Output: res.Output}, nil
		}}).Register(r)
	f.sched.Register(r)
	f.web.Register(r)
}

func TestAPI(t *testing.T) {
	st := chantest.OpenStore(t, t.TempDir())
	defer st.Close()
	f := newAPIFixture(t, st)
	// Two tokens, as while one is rotated: both work.
	const token, oldToken = "api-token-123", "api-token-old"
	r := mux.NewRouter()
	f.register(r, token+", "+oldToken)
	call := func(method, path, auth, body string) (int, map[string]any, string) {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		var m map[string]any
		json.Unmarshal(rec.Body.Bytes(), &m)
		noSecrets(t, method+" "+path, rec.Body.Bytes())
		return rec.Code, m, rec.Body.String()
	}
	bearer := "Bearer " + token

	for _, auth := range []string{"", "Bearer wrong", "Basic " + token, token, "Bearer ", "Bearer " + token + ", " + oldToken} {
		if code, m, _ := call("GET", "/api/runs", auth, ""); code != 401 || m["error"] == nil {
			t.Errorf("auth %q: %d %v", auth, code, m)
		}
	}
	if code, _, body := call("GET", "/api/runs", "Bearer "+oldToken, ""); code != 200 {
		t.Errorf("the previous token during rotation: %d %s", code, body)
	}
	// The scheme is case-insensitive (RFC 9110), as curl users and
	// libraries write it.
	for _, scheme := range []string{"bearer ", "BEARER ", "BeArEr  "} {
		if code, _, body := call("GET", "/api/runs", scheme+token, ""); code != 200 {
			t.Errorf("%q: %d %s", scheme, code, body)
		}
	}
	code, m, body := call("POST", "/api/workflows/pull/run", bearer, `{"cursor": {"count": 7}}`)
	if code != 200 || m["status"] != "success" || m["cursor_advanced"] != true {
		t.Fatalf("run: %d %s", code, body)
	}
	runID := m["run_id"].(string)
	if code, m, body := call("POST", "/api/workflows/pull/run", bearer, ""); code != 200 || m["status"] != "success" {
		t.Errorf("run without body: %d %s", code, body)
	}
	for name, tc := range map[string]struct {
		path, body string
		want       int
	}{
		"unknown workflow": {"/api/workflows/nope/run", "", 404},
		"unknown field":    {"/api/workflows/pull/run", `{"cursr": {}}`, 400},
		"not json":         {"/api/workflows/pull/run", `cursor`, 400},
		"cursor array":     {"/api/workflows/pull/run", `{"cursor": [1]}`, 400},
	} {
		if code, _, body := call("POST", tc.path, bearer, tc.body); code != tc.want {
			t.Errorf("%s: %d %s", name, code, body)
		}
	}

	code, m, body = call("GET", "/api/runs?workflow=pull&status=success&limit=1", bearer, "")
	runs, _ := m["runs"].([]any)
	if code != 200 || len(runs) != 1 {
		t.Fatalf("runs: %d %s", code, body)
	}
	if code, m, _ := call("GET", "/api/runs?workflow=pull", bearer, ""); code != 200 || len(m["runs"].([]any)) != 2 {
		t.Errorf("all runs: %d %v", code, m)
	}
	for _, q := range []string{"status=bogus", "limit=0", "limit=abc", "limit=5000", "before=nope"} {
		if code, _, body := call("GET", "/api/runs?"+q, bearer, ""); code != 400 {
			t.Errorf("%s: %d %s", q, code, body)
		}
	}
	code, m, body = call("GET", "/api/runs/"+runID, bearer, "")
	if code != 200 || m["run"].(map[string]any)["id"] != runID || m["logs"] == nil {
		t.Errorf("run detail: %d %s", code, body)
	}
	if code, _, _ := call("GET", "/api/runs/nope", bearer, ""); code != 404 {
		t.Errorf("unknown run: %d", code)
	}
	code, m, body = call("GET", "/api/cursors/pull", bearer, "")
	cur, _ := m["cursors"].(map[string]any)
	if code != 200 || cur["state"] == nil {
		t.Errorf("cursors: %d %s", code, body)
	}
	if code, _, _ := call("GET", "/api/cursors/nope", bearer, ""); code != 404 {
		t.Errorf("unknown workflow cursors: %d", code)
	}
	if code, _, _ := call("GET", "/api/whatever", bearer, ""); code != 404 {
		t.Errorf("unknown API route: %d", code)
	}

	// No token: the API is off.
	off := mux.NewRouter()
	f.register(off, "")
	for _, p := range []string{"/api/runs", "/api/cursors/pull"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", p, nil)
		req.Header.Set("Authorization", bearer)
		off.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotFound {
			t.Errorf("disabled API %s: %d", p, rec.Code)
		}
	}

	// Dead letters: listed without their payload, requeued once.
	ctx := context.Background()
	msg := &store.Message{ID: "dead-1", Kind: store.KindRetry, Workflow: "pull", Payload: json.RawMessage(`{"patient":"Private Person"}`),
		Status: store.MsgPending, MaxAttempts: 1, Due: t0, Created: t0}
	if err := st.Enqueue(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if err := st.DeadLetter(ctx, "dead-1", "", "upstream 503 after 1 attempt"); err != nil {
		t.Fatal(err)
	}
	code, _, body = call("GET", "/api/dead", bearer, "")
	if code != 200 || !strings.Contains(body, `"id":"dead-1"`) || !strings.Contains(body, "upstream 503") || strings.Contains(body, "Private Person") {
		t.Fatalf("GET /api/dead: %d %s", code, body)
	}
	if code, _, body := call("GET", "/api/dead?limit=0", bearer, ""); code != 400 {
		t.Errorf("bad limit: %d %s", code, body)
	}
	if code, _, body := call("POST", "/api/dead/dead-1/requeue", bearer, ""); code != 200 {
		t.Fatalf("requeue: %d %s", code, body)
	}
	if got, err := st.GetMessage(ctx, "dead-1"); err != nil || got.Status == store.MsgDead || got.Attempts != 0 {
		t.Fatalf("after requeue: %+v %v", got, err)
	}
	for path, want := range map[string]int{"/api/dead/dead-1/requeue": 409, "/api/dead/nope/requeue": 404} {
		if code, _, body := call("POST", path, bearer, ""); code != want {
			t.Errorf("POST %s: %d %s, want %d", path, code, body, want)
		}
	}
	if code, _, _ := call("GET", "/api/dead", "", ""); code != 401 {
		t.Errorf("dead letters without a token: %d", code)
	}
}
