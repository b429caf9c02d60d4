package schedule

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/jobmediator/jobmediator/channels/queue"
	"github.com/jobmediator/jobmediator/channels/webhook"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/mediator"
	"github.com/jobmediator/jobmediator/runtime"
	"github.com/jobmediator/jobmediator/sim/openhim"
	"github.com/jobmediator/jobmediator/store"
	"github.com/jobmediator/jobmediator/workflow"
)

// recordsAPI is an upstream that upserts records by idempotency key. In
// "commit then fail" mode it stores the record and still answers 503: the
// classic lost-answer case where a naive retry duplicates data.
type recordsAPI struct {
	srv      *httptest.Server
	mu       sync.Mutex
	records  map[string]json.RawMessage
	calls    int
	failNext bool
}

func newRecordsAPI(t *testing.T) *recordsAPI {
	a := &recordsAPI{records: map[string]json.RawMessage{}}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m struct {
			Key string `json:"key"`
		}
		json.Unmarshal(b, &m)
		a.mu.Lock()
		a.calls++
		if m.Key != "" {
			a.records[m.Key] = b
		}
		fail := a.failNext
		a.failNext = false
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if fail {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":"try again"}`))
			return
		}
		w.WriteHeader(http.StatusCreated)
		w.Write(b)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *recordsAPI) count() (records, calls int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.records), a.calls
}

func hostPort(t *testing.T, url string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(url[len("http://"):])
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return h, n
}

// e2e is a mediator behind the OpenHIM core simulator.
type e2e struct {
	core *openhim.Core
	h    *Scheduler
	api  *recordsAPI
	st   interface{ Close() error }
	chs  map[string]string // workflow → channel id
}

func newE2E(t *testing.T, clock *FakeClock) (*e2e, *schedFixture) {
	t.Helper()
	core := openhim.New(openhim.Options{DisablePolling: true})
	if err := core.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(core.Close)
	api := newRecordsAPI(t)
	st := openStore(t, t.TempDir())
	t.Cleanup(func() { st.Close() })

	p := loadSchedProject(t)
	creds := config.NewCredentials(map[string]map[string]any{
		"upstream": {"baseUrl": api.srv.URL, "username": "demo", "password": secret},
	})
	red := redact.New()
	red.AddValues(creds.SecretValues()...)
	client, err := mediator.NewClient(mediator.ClientOptions{APIURL: core.APIURL(), Username: openhim.RootEmail, Password: openhim.RootPassword})
	if err != nil {
		t.Fatal(err)
	}
	x, err := workflow.New(p, workflow.Options{URN: "urn:mediator:test", Runner: workflow.NewLocal(runtime.New(runtime.Options{})), Credentials: creds.Get,
		Redactor: red, Observer: &workflow.History{Store: st, Redactor: red}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	h := New(x, Options{Store: st, Completer: client})
	q := queue.New(x, queue.Options{Store: st, Completer: client})
	r := mux.NewRouter()
	h.Register(r)
	webhook.New(x, q, webhook.Options{Completer: client}).Register(r)
	med := httptest.NewServer(r)
	t.Cleanup(med.Close)
	host, port := hostPort(t, med.URL)

	e := &e2e{core: core, h: h, api: api, st: st, chs: map[string]string{}}
	for _, wf := range []string{"ingest", "pull"} {
		id, err := core.AddChannel(map[string]any{"name": wf, "urlPattern": "^/" + wf + "$", "methods": []any{"POST"},
			"type": "http", "authType": "public",
			"routes": []any{map[string]any{"name": wf, "host": host, "port": float64(port), "primary": true, "type": "http"}}})
		if err != nil {
			t.Fatal(err)
		}
		e.chs[wf] = id
	}
	f := &schedFixture{x: x, h: h, router: r, store: st, clock: clock, ticks: make(chan TickReport, 64)}
	return e, f
}

// Route → the upstream commits but fails → rerun from the console after
// recovery → still one record upstream, and the two transactions linked.
func TestOpenHIMRerunAfterUpstreamFailure(t *testing.T) {
	e, f := newE2E(t, NewFakeClock(t0))
	e.api.failNext = true
	resp, err := http.Post(e.core.RouterURL()+"/ingest", "application/json", bytes.NewReader([]byte(`{"caseId":"c-1"}`)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("routed request answered %d, want 502", resp.StatusCode)
	}
	e.core.Wait()
	txs := e.core.Transactions()
	orig := txs[len(txs)-1]
	if orig.Status != mediator.StatusFailed {
		t.Fatalf("original transaction %s", orig.Status)
	}

	taskID, err := e.core.Rerun(orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.core.WaitTask(taskID, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	e.core.Wait()
	parent, _ := e.core.Transaction(orig.ID)
	if len(parent.ChildIDs) != 1 || !parent.WasRerun {
		t.Fatalf("parent = %+v", parent)
	}
	child, _ := e.core.Transaction(parent.ChildIDs[0])
	if child.ParentID != orig.ID || child.Status != mediator.StatusSuccessful || child.Properties["rerun_of"] != orig.ID {
		t.Errorf("child = %+v", child)
	}
	records, calls := e.api.count()
	if records != 1 || calls != 2 {
		t.Errorf("upstream has %d records after %d calls, want 1 after 2", records, calls)
	}
	runs, _ := f.store.ListRuns(context.Background(), store.RunFilter{ParentID: orig.ID})
	if len(runs) != 1 || runs[0].TransactionID != child.ID {
		t.Errorf("history does not link the rerun: %+v", runs)
	}
}

// A scheduled pull recorded in core (POST/PUT /transactions with the real
// client) and rerun from the console runs the same window again.
func TestOpenHIMRerunOfScheduledPull(t *testing.T) {
	clock := NewFakeClock(t0)
	e, f := newE2E(t, clock)
	client, _ := mediator.NewClient(mediator.ClientOptions{APIURL: e.core.APIURL(), Username: openhim.RootEmail, Password: openhim.RootPassword})
	f.start(t, "a", func(o *Options) {
		o.Transactions = client
		o.ChannelID = func(wf string) string { return e.chs[wf] }
	})
	advance(t, clock, 2, 30*time.Minute)
	if r := f.tick(t, "pull"); r.Status != "success" {
		t.Fatalf("tick 1 = %+v", r)
	}
	advance(t, clock, 2, time.Hour)
	if r := f.tick(t, "pull"); r.Status != "success" {
		t.Fatalf("tick 2 = %+v", r)
	}
	var pulls []openhim.Transaction
	for _, tx := range e.core.Transactions() {
		if tx.ChannelID == e.chs["pull"] {
			pulls = append(pulls, tx)
		}
	}
	if len(pulls) != 2 || pulls[0].Status != mediator.StatusSuccessful || len(pulls[0].Orchestrations) != 1 {
		t.Fatalf("scheduled transactions in core = %+v", pulls)
	}
	_, version := cursorOf(t, f.store, StateCursorKey("pull"))
	_, callsBefore := e.api.count()

	taskID, err := e.core.Rerun(pulls[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.core.WaitTask(taskID, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	e.core.Wait()
	parent, _ := e.core.Transaction(pulls[0].ID)
	if len(parent.ChildIDs) != 1 {
		t.Fatalf("rerun made no child: %+v", parent)
	}
	child, _ := e.core.Transaction(parent.ChildIDs[0])
	if child.Status != mediator.StatusSuccessful {
		t.Errorf("child = %s %v", child.Status, child.Response)
	}
	records, calls := e.api.count()
	if calls != callsBefore+1 || records != 2 {
		t.Errorf("upstream: %d records after %d calls; the rerun must upsert window 1's record", records, calls)
	}
	e.api.mu.Lock()
	var got map[string]any
	json.Unmarshal(e.api.records[pulls[0].ID], &got)
	e.api.mu.Unlock()
	if got["since"] != nil || got["until"] != "2026-03-01T01:00:00Z" {
		t.Errorf("rerun window = %v, want window 1", got)
	}
	if _, v := cursorOf(t, f.store, StateCursorKey("pull")); v != version {
		t.Error("the rerun moved the live cursor")
	}
}
