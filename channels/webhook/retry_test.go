package webhook

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/channels/queue"
	"github.com/jobmediator/jobmediator/mediator"
	"github.com/jobmediator/jobmediator/store"
	"github.com/jobmediator/jobmediator/workflow"
)

func boltStore(t *testing.T) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// fixtureWithStore is newFixture with a real embedded store, history and a
// completer, and retries due at once.
func fixtureWithStore(t *testing.T) (*fixture, store.Store, *completer) {
	st := boltStore(t)
	comp := &completer{updates: map[string]map[string]any{}, done: make(chan struct{})}
	f := newFixture(t, func(o *testOptions) {
		o.Store = st
		o.Completer = comp
		o.Observer = &workflow.History{Store: st}
	})
	for _, wf := range f.x.Project().Workflows {
		wf.Options.Retry.MaxAttempts = 3
		wf.Options.Retry.InitialBackoff = time.Millisecond
		wf.Options.Retry.MaxBackoff = time.Millisecond
	}
	return f, st, comp
}

func TestTransientFailureIsRetriedAndTransactionCompleted(t *testing.T) {
	f, st, comp := fixtureWithStore(t)
	f.up.Set(503, 0)
	w := f.do(call{path: "/echo", contentType: "application/json", body: `{"id":1}`, tx: "5f00000000000000000000c1"})
	if env := envelopeOf(t, w); env.Status != mediator.StatusFailed || env.Error == nil {
		t.Fatalf("first attempt: %+v", env)
	}
	f.up.Set(201, 0) // the upstream recovers
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	workers := queue.New(f.x, queue.Options{Store: st, Completer: comp, Workers: 1, Poll: 5 * time.Millisecond, Lease: 5 * time.Second})
	if err := workers.Start(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-comp.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the retry never completed the OpenHIM transaction")
	}
	if err := workers.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if u := comp.updates["5f00000000000000000000c1"]; u["status"] != mediator.StatusSuccessful {
		t.Fatalf("completion: %v", u)
	}
	if len(f.up.Got()) != 2 {
		t.Fatalf("want the failed attempt and one retry upstream, got %d", len(f.up.Got()))
	}
	runs, _ := st.ListRuns(context.Background(), store.RunFilter{TransactionID: "5f00000000000000000000c1"})
	if len(runs) != 2 || runs[0].Status != store.RunSuccess || runs[1].Status != store.RunFailed {
		t.Fatalf("history must hold both runs, newest first: %+v", runs)
	}
	for _, r := range runs {
		if strings.Contains(string(r.Input)+string(r.Output)+r.Error, secret) {
			t.Fatalf("secret in run history: %+v", r)
		}
	}
}

func TestRetryStandsDownAfterSuccessfulRerun(t *testing.T) {
	f, st, comp := fixtureWithStore(t)
	f.up.Set(503, 0)
	f.do(call{path: "/echo", contentType: "application/json", body: `{"id":2}`, tx: "5f00000000000000000000c2"})
	f.up.Set(201, 0)
	// The operator reruns the transaction from the console before our retry
	// is due: core sends a new transaction id with parentid.
	w := f.do(call{path: "/echo", contentType: "application/json", body: `{"id":2}`, tx: "5f00000000000000000000c3",
		extra: map[string]string{"parentid": "5f00000000000000000000c2", "taskid": "t9"}})
	if env := envelopeOf(t, w); env.Status != mediator.StatusSuccessful {
		t.Fatalf("rerun: %+v", env)
	}
	// Play the worker's part synchronously on the queued retry.
	ctx := context.Background()
	m, err := st.Claim(ctx, "test-owner", 5*time.Second, time.Now().Add(time.Second))
	if err != nil || m.Kind != store.KindRetry {
		t.Fatalf("the transient failure must have queued a retry: %v %+v", err, m)
	}
	queue.New(f.x, queue.Options{Store: st, Completer: comp, Owner: "test-owner", Lease: 5 * time.Second}).Process(ctx, m)
	if got, _ := st.GetMessage(ctx, m.ID); got.Status != store.MsgDone {
		t.Fatalf("superseded retry must be done, is %s", got.Status)
	}
	if len(f.up.Got()) != 2 {
		t.Fatalf("upstream must see the failed attempt and the rerun only, got %d deliveries", len(f.up.Got()))
	}
	if len(comp.updates) != 0 {
		t.Fatalf("a superseded retry must not touch the transaction: %v", comp.updates)
	}
}

// A retry that keeps failing moves to the dead letters and the queue's
// Dead hook (notifications) hears of it once, with the workflow and why.
func TestGivingUpTellsTheDeadHook(t *testing.T) {
	f, st, _ := fixtureWithStore(t)
	f.up.Set(503, 0)
	if w := f.do(call{path: "/echo", contentType: "application/json", body: `{"id":2}`, tx: "5f00000000000000000000d1"}); w.Code != http.StatusBadGateway {
		t.Fatalf("routed answer %d", w.Code)
	}
	type death struct{ workflow, reason string }
	deaths := make(chan death, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	workers := queue.New(f.x, queue.Options{Store: st, Workers: 1, Poll: 5 * time.Millisecond, Lease: 5 * time.Second,
		Dead: func(wf, reason string) { deaths <- death{wf, reason} }})
	if err := workers.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var d death
	select {
	case d = <-deaths:
	case <-time.After(10 * time.Second):
		t.Fatal("the dead hook never heard")
	}
	workers.Stop(context.Background())
	if d.workflow != "echo" || !strings.Contains(d.reason, "gave up after 3 attempts") || strings.Contains(d.reason, secret) {
		t.Fatalf("dead hook got %+v", d)
	}
	if dead, _ := st.ListDead(context.Background(), 10); len(dead) != 1 || len(deaths) != 0 {
		t.Fatalf("%d dead letters, %d more hook calls", len(dead), len(deaths))
	}
}
