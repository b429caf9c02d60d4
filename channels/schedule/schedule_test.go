package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // zones without the system database

	"github.com/gorilla/mux"

	_ "github.com/jobmediator/jobmediator/adaptors/all"
	"github.com/jobmediator/jobmediator/channels/internal/chantest"
	"github.com/jobmediator/jobmediator/channels/queue"
	"github.com/jobmediator/jobmediator/channels/webhook"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/mediator"
	"github.com/jobmediator/jobmediator/runtime"
	"github.com/jobmediator/jobmediator/store"
	"github.com/jobmediator/jobmediator/workflow"
)

// t0 is half an hour before the first hourly tick.
var t0 = time.Date(2026, 3, 1, 0, 30, 0, 0, time.UTC)

// schedFixture is one mediator instance (a replica) over a shared store.
type schedFixture struct {
	x      *workflow.Executor
	h      *Scheduler
	router *mux.Router
	store  store.Store
	clock  *FakeClock
	up     *chantest.Upstream
	ticks  chan TickReport
	txs    *fakeRecorder
	stop   func()
}

const secret = chantest.Secret

var (
	openStore = chantest.OpenStore
	noSecrets = chantest.NoSecrets
)

func loadSchedProject(t testing.TB) *config.Project {
	t.Helper()
	p, err := config.LoadProject("testdata/schedule")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newSched builds an HTTP over st (shared between replicas) with the real
// runtime and run history.
func newSched(t testing.TB, st store.Store, up *chantest.Upstream, clock *FakeClock, p *config.Project) *schedFixture {
	t.Helper()
	if p == nil {
		p = loadSchedProject(t)
	}
	creds := config.NewCredentials(map[string]map[string]any{
		"upstream": {"baseUrl": up.Srv.URL, "username": "demo", "password": secret},
	})
	red := redact.New()
	red.AddValues(creds.SecretValues()...)
	x, err := workflow.New(p, workflow.Options{
		URN: "urn:mediator:test", Runner: workflow.NewLocal(runtime.New(runtime.Options{})), Credentials: creds.Get,
		Redactor: red, Observer: &workflow.History{Store: st, Redactor: red}, Now: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	h := New(x, Options{Store: st})
	r := mux.NewRouter()
	h.Register(r)
	webhook.New(x, queue.New(x, queue.Options{Store: st}), webhook.Options{}).Register(r)
	return &schedFixture{x: x, h: h, router: r, store: st, clock: clock, up: up, ticks: make(chan TickReport, 64), txs: &fakeRecorder{}}
}

func (f *schedFixture) start(t *testing.T, owner string, mut func(*Options)) {
	t.Helper()
	cur := f.h.options()
	o := Options{Store: cur.Store, Completer: cur.Completer, BodyLimit: cur.BodyLimit, RouteAuth: cur.RouteAuth,
		Owner: owner, Clock: f.clock, OnTick: func(r TickReport) { f.ticks <- r },
		Transactions: f.txs, ChannelID: func(string) string { return "5f0000000000000000000001" }}
	if mut != nil {
		mut(&o)
	}
	f.h.setOptions(o)
	if err := f.h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := f.h.Stop(ctx); err != nil {
			t.Error("scheduler did not stop")
		}
	}
	t.Cleanup(f.stop)
}

// tick waits for the report of workflow's next tick.
func (f *schedFixture) tick(t *testing.T, workflow string) TickReport {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case r := <-f.ticks:
			if r.Workflow == workflow {
				return r
			}
		case <-deadline:
			t.Fatalf("no tick for %s", workflow)
		}
	}
}

// advance moves the clock once every scheduler loop is waiting.
func advance(t *testing.T, c *FakeClock, loops int, d time.Duration) {
	t.Helper()
	if !c.BlockUntil(loops, 10*time.Second) {
		t.Fatalf("only %d of %d scheduler loops are waiting", c.Waiters(), loops)
	}
	c.Advance(d)
}

func cursorOf(t *testing.T, st store.Store, key string) (CursorValue, int64) {
	t.Helper()
	c, err := st.GetCursor(context.Background(), key)
	if errors.Is(err, store.ErrNotFound) {
		return CursorValue{}, 0
	}
	if err != nil {
		t.Fatal(err)
	}
	var cv CursorValue
	if err := json.Unmarshal(c.Value, &cv); err != nil {
		t.Fatal(err)
	}
	return cv, c.Version
}

func stateOf(t *testing.T, cv CursorValue) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(cv.State, &m); err != nil {
		t.Fatalf("cursor state %s: %v", cv.State, err)
	}
	return m
}

// fakeRecorder is an OpenHIM core that records POST/PUT /transactions.
type fakeRecorder struct {
	mu      sync.Mutex
	created []map[string]any
	updates map[string][]map[string]any
	fail    bool
}

func (r *fakeRecorder) CreateTransaction(_ context.Context, doc mediator.Transaction) error {
	tx := chantest.Wire(doc)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return errors.New("core is down")
	}
	r.created = append(r.created, tx)
	return nil
}

func (r *fakeRecorder) UpdateTransaction(_ context.Context, id string, update mediator.TransactionUpdate) error {
	u := chantest.Wire(update)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.updates == nil {
		r.updates = map[string][]map[string]any{}
	}
	r.updates[id] = append(r.updates[id], u)
	return nil
}

func (r *fakeRecorder) snapshot() ([]map[string]any, map[string][]map[string]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// copies: a scheduler still running (a cron tick) may record more
	// while the test reads what it has
	updates := make(map[string][]map[string]any, len(r.updates))
	for id, us := range r.updates {
		updates[id] = append([]map[string]any(nil), us...)
	}
	return append([]map[string]any(nil), r.created...), updates
}

func TestParseSchedule(t *testing.T) {
	pp, err := time.LoadLocation("Asia/Phnom_Penh")
	if err != nil {
		t.Fatal(err) // time/tzdata is linked into this test
	}
	sat := time.Date(2026, 3, 7, 12, 0, 0, 0, time.UTC) // a Saturday
	for _, tc := range []struct {
		expr string
		loc  *time.Location
		from time.Time
		want []time.Time
	}{
		{"0 * * * *", time.UTC, t0, []time.Time{t0.Add(30 * time.Minute), t0.Add(90 * time.Minute)}},
		{"@hourly", time.UTC, t0, []time.Time{t0.Add(30 * time.Minute)}},
		{"@every 90s", time.UTC, t0, []time.Time{t0.Add(90 * time.Second), t0.Add(180 * time.Second)}},
		{"*/15 9-10 ? * MON-FRI", time.UTC, sat, []time.Time{time.Date(2026, 3, 9, 9, 0, 0, 0, time.UTC), time.Date(2026, 3, 9, 9, 15, 0, 0, time.UTC)}},
		// 09:00 in Phnom Penh (UTC+7) is 02:00 UTC.
		{"0 9 * * *", pp, t0, []time.Time{time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)}},
		// 7 is Sunday, alone and in ranges.
		{"0 0 * * 7", time.UTC, sat, []time.Time{time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)}},
		{"0 0 * * 5-7", time.UTC, sat, []time.Time{time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 13, 0, 0, 0, 0, time.UTC)}},
		{"0 0 * * 1/3", time.UTC, sat, []time.Time{time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 12, 0, 0, 0, 0, time.UTC)}}, // 1,4,7
	} {
		s, err := config.ParseCron(tc.expr, tc.loc)
		if err != nil {
			t.Errorf("%q: %v", tc.expr, err)
			continue
		}
		at := tc.from
		for i, want := range tc.want {
			at = s.Next(at)
			if !at.Equal(want) {
				t.Errorf("%q in %s: tick %d = %s, want %s", tc.expr, tc.loc, i, at.UTC(), want)
				break
			}
		}
	}
	for expr, want := range map[string]string{
		"61 * * * *":       "minute field",
		"@fortnightly":     "unknown descriptor",
		"* * *":            "has 3 fields",
		"@every soon":      "not a duration",
		"0 0 * * 8":        "out of range",
		"":                 "empty",
		"0 0 31 FOO * ":    "month field",
		"0 0 * * MON-SUNX": "day of week",
	} {
		if _, err := config.ParseCron(expr, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config.ParseCron(%q) error = %v, want it to mention %q", expr, err, want)
		}
	}
}

// The Done-when case: an http workflow runs hourly under a compressed
// clock; its cursor advances after each success and not after a failure,
// and the next window starts where the last success ended.
func TestSchedulerHourlyCursor(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	up := chantest.NewUpstream(t)
	f := newSched(t, st, up, NewFakeClock(t0), nil)
	f.start(t, "replica-a", nil)
	const loops = 2 // pull (hourly) and legacy-pull (@every 30m); polled is core's

	// 01:00 — first run: no watermark yet, count starts at 1.
	advance(t, f.clock, loops, 30*time.Minute)
	r1 := f.tick(t, "pull")
	if r1.Outcome != TickRan || r1.Status != "success" || !r1.Advanced {
		t.Fatalf("tick 1 = %+v", r1)
	}
	cv, v1 := cursorOf(t, st, StateCursorKey("pull"))
	if cv.Watermark == nil || !cv.Watermark.Equal(t0.Add(30*time.Minute)) || stateOf(t, cv)["count"] != 1.0 {
		t.Fatalf("cursor after tick 1 = %+v (%s)", cv, cv.State)
	}
	noSecrets(t, "cursor", mustJSON(cv))

	// 02:00 — upstream fails: the run fails, the cursor stays.
	up.Set(503, 0)
	advance(t, f.clock, loops, time.Hour)
	if r := f.tick(t, "pull"); r.Outcome != TickRan || r.Status == "success" || r.Advanced {
		t.Fatalf("tick 2 = %+v", r)
	}
	if cv2, v2 := cursorOf(t, st, StateCursorKey("pull")); v2 != v1 || !cv2.Watermark.Equal(*cv.Watermark) {
		t.Fatalf("a failed run moved the cursor: v%d → v%d, %+v", v1, v2, cv2)
	}

	// 03:00 — recovered: the window covers 01:00–03:00, count continues.
	up.Set(201, 0)
	advance(t, f.clock, loops, time.Hour)
	if r := f.tick(t, "pull"); r.Outcome != TickRan || r.Status != "success" {
		t.Fatalf("tick 3 = %+v", r)
	}
	posts := up.Posts(t, "pull")
	if len(posts) != 3 {
		t.Fatalf("upstream got %d posts, want 3", len(posts))
	}
	if posts[0]["since"] != nil || posts[0]["until"] != "2026-03-01T01:00:00Z" || posts[0]["count"] != 1.0 {
		t.Errorf("first window = %v", posts[0])
	}
	if posts[2]["since"] != "2026-03-01T01:00:00Z" || posts[2]["until"] != "2026-03-01T03:00:00Z" || posts[2]["count"] != 2.0 {
		t.Errorf("window after the failure = %v, want since 01:00 until 03:00 count 2", posts[2])
	}
	if posts[0]["key"] == posts[2]["key"] || posts[0]["key"] == "" {
		t.Errorf("idempotency keys %v and %v should differ per window", posts[0]["key"], posts[2]["key"])
	}
	cv3, _ := cursorOf(t, st, StateCursorKey("pull"))
	if !cv3.Watermark.Equal(t0.Add(150*time.Minute)) || stateOf(t, cv3)["count"] != 2.0 {
		t.Errorf("cursor after tick 3 = %+v (%s)", cv3, cv3.State)
	}
	if _, has := stateOf(t, cv3)["openhim"]; has {
		t.Error("state.openhim was carried in the cursor")
	}

	// Run history names the trigger and keeps all three runs.
	runs, err := st.ListRuns(context.Background(), store.RunFilter{Workflow: "pull"})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 3 || runs[0].Trigger != "cron" || runs[1].Status != store.RunFailed {
		t.Errorf("history = %d runs, newest trigger %q, middle %q", len(runs), runs[0].Trigger, runs[1].Status)
	}

	// Each tick was recorded in OpenHIM: Processing first, then the outcome.
	created, updates := f.txs.snapshot()
	var pulls []map[string]any
	for _, c := range created {
		if c["properties"].(map[string]any)["workflow"] == "pull" {
			pulls = append(pulls, c)
		}
	}
	if len(pulls) != 3 {
		t.Fatalf("%d pull transactions recorded, want 3", len(pulls))
	}
	req := pulls[0]["request"].(map[string]any)
	if pulls[0]["status"] != mediator.StatusProcessing || pulls[0]["channelID"] != "5f0000000000000000000001" ||
		req["headers"].(map[string]any)["x-jobmediator-trigger"] != "cron" || req["path"] != "/pull" {
		t.Errorf("transaction = %v", pulls[0])
	}
	want := []string{mediator.StatusSuccessful, mediator.StatusFailed, mediator.StatusSuccessful}
	for i, c := range pulls {
		u := updates[c["_id"].(string)]
		if len(u) != 1 || u[0]["status"] != want[i] {
			t.Errorf("transaction %d update = %v, want status %s", i, u, want[i])
			continue
		}
		if _, ok := u[0]["$push"]; !ok {
			t.Errorf("transaction %d has no orchestrations", i)
		}
		noSecrets(t, "transaction update", mustJSON(u[0]))
	}
	noSecrets(t, "transaction", mustJSON(pulls))
}

// OpenFn v1: the next input carries lastRunDateTime = the start of the
// last successful run.
func TestSchedulerLegacyLastRunDateTime(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	f := newSched(t, st, chantest.NewUpstream(t), NewFakeClock(t0), nil)
	f.start(t, "a", nil)
	advance(t, f.clock, 2, 30*time.Minute)
	if r := f.tick(t, "legacy-pull"); r.Status != "success" {
		t.Fatalf("tick 1 = %+v", r)
	}
	advance(t, f.clock, 2, 30*time.Minute)
	if r := f.tick(t, "legacy-pull"); r.Status != "success" {
		t.Fatalf("tick 2 = %+v", r)
	}
	cv, _ := cursorOf(t, st, StateCursorKey("legacy-pull"))
	s := stateOf(t, cv)
	if s["seen"] != "2026-03-01T01:00:00.000Z" || s["runs"] != 2.0 || cv.LastRunDateTime != "2026-03-01T01:30:00.000Z" {
		t.Errorf("legacy cursor = %+v state %v", cv, s)
	}
	if _, has := s["configuration"]; has {
		t.Error("configuration was carried in the cursor")
	}
}

func TestCursorSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	up := chantest.NewUpstream(t)
	clock := NewFakeClock(t0)
	st := openStore(t, dir)
	a := newSched(t, st, up, clock, nil)
	a.start(t, "a", nil)
	advance(t, clock, 2, 30*time.Minute)
	if r := a.tick(t, "pull"); !r.Advanced {
		t.Fatalf("tick = %+v", r)
	}
	a.stop()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st2 := openStore(t, dir)
	defer st2.Close()
	// A new process: a new clock (the stopped loops' waiters stay behind
	// on the old one), at the same time.
	clock = NewFakeClock(clock.Now())
	b := newSched(t, st2, up, clock, nil)
	b.start(t, "b", nil)
	advance(t, clock, 2, time.Hour)
	if r := b.tick(t, "pull"); !r.Advanced {
		t.Fatalf("tick after restart = %+v", r)
	}
	posts := up.Posts(t, "pull")
	if len(posts) != 2 || posts[1]["since"] != "2026-03-01T01:00:00Z" || posts[1]["count"] != 2.0 {
		t.Errorf("after restart the window/state did not continue: %v", posts)
	}
}

// Two replicas on one store: every tick runs exactly once.
func TestTwoReplicasOneRunPerTick(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	up := chantest.NewUpstream(t)
	clock := NewFakeClock(t0)
	a := newSched(t, st, up, clock, nil)
	b := newSched(t, st, up, clock, nil)
	reports := make(chan TickReport, 64)
	a.start(t, "replica-a", func(o *Options) { o.OnTick = func(r TickReport) { reports <- r } })
	b.start(t, "replica-b", func(o *Options) { o.OnTick = func(r TickReport) { reports <- r } })
	for i := 0; i < 3; i++ {
		d := time.Hour
		if i == 0 {
			d = 30 * time.Minute
		}
		advance(t, clock, 4, d)
		outcomes := map[TickOutcome]int{}
		for n := 0; n < 2; {
			select {
			case r := <-reports:
				if r.Workflow == "pull" {
					outcomes[r.Outcome]++
					n++
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("tick %d: only %d reports", i, n)
			}
		}
		if outcomes[TickRan] != 1 || outcomes[TickClaimed] != 1 {
			t.Errorf("tick %d outcomes = %v, want one ran and one claimed", i, outcomes)
		}
	}
	if n := len(up.Posts(t, "pull")); n != 3 {
		t.Errorf("upstream got %d pulls for 3 ticks", n)
	}
	if cv, _ := cursorOf(t, st, StateCursorKey("pull")); stateOf(t, cv)["count"] != 3.0 {
		t.Errorf("cursor = %s", cv.State)
	}
}

func TestOverlap(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	f := newSched(t, st, chantest.NewUpstream(t), NewFakeClock(t0), nil)
	ctx := context.Background()
	wf := f.x.Project().Workflow("pull")
	o := f.h.options()

	t.Run("skip while running here", func(t *testing.T) {
		release, err := f.h.acquire(ctx, wf, false)
		if err != nil {
			t.Fatal(err)
		}
		if r := f.h.runTick(ctx, wf, t0.Add(time.Hour), o); r.Outcome != TickBusy {
			t.Errorf("tick during a run = %+v, want busy", r)
		}
		release()
		if r := f.h.runTick(ctx, wf, t0.Add(2*time.Hour), o); r.Outcome != TickRan {
			t.Errorf("tick after the run = %+v", r)
		}
	})
	t.Run("skip while another replica runs it", func(t *testing.T) {
		ok, err := st.AcquireLease(ctx, runLeaseName("pull"), "other-replica", time.Hour, f.clock.Now())
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		if r := f.h.runTick(ctx, wf, t0.Add(3*time.Hour), o); r.Outcome != TickBusy {
			t.Errorf("tick = %+v, want busy", r)
		}
		st.ReleaseLease(ctx, runLeaseName("pull"), "other-replica")
	})
	t.Run("queue runs after, and coalesces", func(t *testing.T) {
		wf.Options.Overlap = config.OverlapQueue
		defer func() { wf.Options.Overlap = "" }()
		release, err := f.h.acquire(ctx, wf, false)
		if err != nil {
			t.Fatal(err)
		}
		queued := make(chan TickReport, 1)
		go func() { queued <- f.h.runTick(ctx, wf, t0.Add(4*time.Hour), o) }()
		// Wait until the tick is queued, then a further one coalesces.
		deadline := time.Now().Add(5 * time.Second)
		for {
			st := f.h
			st.mu.Lock()
			q := st.locks["pull"].queued
			st.mu.Unlock()
			if q == 1 || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if r := f.h.runTick(ctx, wf, t0.Add(5*time.Hour), o); r.Outcome != TickBusy {
			t.Errorf("second queued tick = %+v, want coalesced (busy)", r)
		}
		select {
		case r := <-queued:
			t.Fatalf("queued tick ran while the run was going: %+v", r)
		default:
		}
		release()
		select {
		case r := <-queued:
			if r.Outcome != TickRan {
				t.Errorf("queued tick = %+v", r)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("queued tick never ran")
		}
	})
}

func TestStartSchedulerErrors(t *testing.T) {
	p := loadSchedProject(t)
	x, err := workflow.New(p, workflow.Options{Runner: workflow.NewLocal(runtime.New(runtime.Options{}))})
	if err != nil {
		t.Fatal(err)
	}
	if err := New(x, Options{}).Start(context.Background()); err == nil || !strings.Contains(err.Error(), "needs a store") {
		t.Errorf("no store: %v", err)
	}
	st := openStore(t, t.TempDir())
	defer st.Close()
	for name, mut := range map[string]func(*config.Project){
		"bad cron": func(p *config.Project) { p.Workflow("pull").Triggers[0].CronExpression = "0 25 * * *" },
		"bad zone": func(p *config.Project) { p.Workflow("pull").Options.TimeZone = "Nowhere/City" },
	} {
		p := loadSchedProject(t)
		mut(p)
		x, _ := workflow.New(p, workflow.Options{Runner: workflow.NewLocal(runtime.New(runtime.Options{}))})
		if err := New(x, Options{Store: st}).Start(context.Background()); err == nil || !strings.Contains(err.Error(), "workflow pull") {
			t.Errorf("%s: error = %v, want one naming workflow pull", name, err)
		}
	}
}

// A rerun of a recorded scheduled transaction runs the same window again,
// links to the original, reuses its idempotency key and leaves the live
// cursor alone.
func TestRerunOfScheduledTransaction(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	up := chantest.NewUpstream(t)
	f := newSched(t, st, up, NewFakeClock(t0), nil)
	f.start(t, "a", nil)
	advance(t, f.clock, 2, 30*time.Minute)
	f.tick(t, "pull")
	advance(t, f.clock, 2, time.Hour)
	f.tick(t, "pull")
	_, version := cursorOf(t, st, StateCursorKey("pull"))

	created, _ := f.txs.snapshot()
	var first map[string]any
	for _, c := range created {
		if c["properties"].(map[string]any)["workflow"] == "pull" {
			first = c
			break
		}
	}
	req := first["request"].(map[string]any)
	parent := first["_id"].(string)
	child := mediator.NewObjectID()
	// What core's rerun server sends: the stored method, path, headers and
	// body, plus parentid/taskid (lower-case) and a new transaction id.
	httpReq := httptest.NewRequest(req["method"].(string), req["path"].(string), strings.NewReader(req["body"].(string)))
	for k, v := range req["headers"].(map[string]any) {
		httpReq.Header.Set(k, v.(string))
	}
	httpReq.Header.Set("parentid", parent)
	httpReq.Header.Set("taskid", "6a0000000000000000000001")
	httpReq.Header.Set("X-OpenHIM-TransactionID", child)
	rec := httptest.NewRecorder()
	f.router.ServeHTTP(rec, httpReq)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != mediator.ContentType {
		t.Fatalf("rerun answered %d %s: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	var env mediator.Response
	json.Unmarshal(rec.Body.Bytes(), &env)
	if env.Status != mediator.StatusSuccessful || env.Properties["rerun_of"] != parent {
		t.Errorf("envelope = %+v", env)
	}
	posts := up.Posts(t, "pull")
	if len(posts) != 3 {
		t.Fatalf("%d posts", len(posts))
	}
	if posts[2]["since"] != posts[0]["since"] || posts[2]["until"] != posts[0]["until"] || posts[2]["count"] != posts[0]["count"] {
		t.Errorf("rerun window %v differs from the original %v", posts[2], posts[0])
	}
	if posts[2]["key"] != parent || posts[0]["key"] != parent {
		t.Errorf("idempotency keys original %v rerun %v, want both %s", posts[0]["key"], posts[2]["key"], parent)
	}
	if _, v := cursorOf(t, st, StateCursorKey("pull")); v != version {
		t.Errorf("the rerun moved the live cursor (v%d → v%d)", version, v)
	}
	runs, _ := st.ListRuns(context.Background(), store.RunFilter{ParentID: parent})
	if len(runs) != 1 || runs[0].TransactionID != child || runs[0].Trigger != "cron" {
		t.Errorf("history link = %+v", runs)
	}

	// A replay whose body is not a recorded window is refused clearly.
	for name, body := range map[string]string{"not json": "{", "no window": `{"workflow":"pull","state":{}}`, "other workflow": `{"workflow":"polled","window":{"until":"2026-03-01T01:00:00Z"}}`} {
		r := httptest.NewRequest("POST", "/pull", strings.NewReader(body))
		r.Header.Set(TriggerHeader, "cron")
		rec := httptest.NewRecorder()
		f.router.ServeHTTP(rec, r)
		if rec.Code != 400 {
			t.Errorf("%s: %d %s", name, rec.Code, rec.Body)
		}
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte("null")
	}
	return b
}
