// Package storetest is the contract every store.Store implementation must
// meet. Each implementation's tests call Run with a function that opens it;
// the same cases then run against the embedded store and MongoDB (FerretDB),
// which is what keeps the two behaving the same.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/internal/backoff"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/store"
)

// OpenFunc opens the store for namespace ns (a data directory, a database).
// Opening the same ns again within one test must see the same data; different
// ns must not share data. cfg carries the suite's settings (MaxStateBytes,
// Redactor, Now); the implementation adds its location fields.
type OpenFunc func(t *testing.T, ns string, cfg store.Config) store.Store

// Clock is a settable clock for cfg.Now.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *Clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// T0 is the suite's reference time.
var T0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// secret is registered with the suite's redactor; it must never be stored.
const secret = "hunter2-very-secret"

// env is one test's store plus its clock.
type env struct {
	t     *testing.T
	s     store.Store
	clock *Clock
	ns    string
	open  OpenFunc
	cfg   store.Config
	ctx   context.Context
}

func newEnv(t *testing.T, open OpenFunc) *env {
	t.Helper()
	red := redact.New()
	red.AddValues(secret)
	clock := &Clock{t: T0}
	cfg := store.Config{MaxStateBytes: 4096, Redactor: red, Now: clock.Now}
	ns := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	e := &env{t: t, clock: clock, ns: ns, open: open, cfg: cfg, ctx: context.Background()}
	e.s = open(t, ns, cfg)
	t.Cleanup(func() {
		// A test that closed the store itself (restart tests) gets
		// ErrClosed here; any other failure to close is one.
		if err := e.s.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
			t.Errorf("closing the store: %v", err)
		}
	})
	return e
}

// reopen closes the store and opens the same namespace again.
func (e *env) reopen() {
	e.t.Helper()
	if err := e.s.Close(); err != nil {
		e.t.Fatalf("close: %v", err)
	}
	e.s = e.open(e.t, e.ns, e.cfg)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

// Option tunes Run.
type Option func(*options)

type options struct{ raceMessages int }

// RaceMessages sets how many messages the ClaimRace case enqueues (default
// 200). Only for a backend too slow for the default under the race
// detector (the in-process FerretDB scans the whole collection per claim).
func RaceMessages(n int) Option { return func(o *options) { o.raceMessages = n } }

// Run executes the whole contract against open.
func Run(t *testing.T, open OpenFunc, opts ...Option) {
	o := options{raceMessages: 200}
	for _, fn := range opts {
		fn(&o)
	}
	cases := []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"RunRoundTrip", testRunRoundTrip},
		{"RunValidation", testRunValidation},
		{"ListRuns", testListRuns},
		{"FindRunByTransaction", testFindRunByTransaction},
		{"StateCap", testStateCap},
		{"SecretsNeverStored", testSecretsNeverStored},
		{"Logs", testLogs},
		{"Cursor", testCursor},
		{"EnqueueIdempotent", testEnqueueIdempotent},
		{"EnqueueValidation", testEnqueueValidation},
		{"ClaimOrderAndLanes", testClaimOrderAndLanes},
		{"LeaseExpiryReclaim", testLeaseExpiryReclaim},
		{"ClaimRace", func(t *testing.T, e *env) { testClaimRace(t, e, o.raceMessages) }},
		{"FailBackoffDeadLetter", testFailBackoffDeadLetter},
		{"DeadLetterAndRequeue", testDeadLetterAndRequeue},
		{"CountQueue", testCountQueue},
		{"ScheduleLease", testScheduleLease},
		{"Cull", testCull},
		{"RestartPersistence", testRestartPersistence},
		{"RecordRunJournal", testRecordRunJournal},
		{"RecordCleanRun", testRecordCleanRun},
	}
	cases = append(cases, accountCases...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, newEnv(t, open)) })
	}
}

func sampleRun(id, wf string, started time.Time) *store.Run {
	return &store.Run{
		ID: id, Workflow: wf, Trigger: "webhook", Status: store.RunRunning,
		TransactionID: "tx-" + id, Input: json.RawMessage(`{"data":{"n":1,"list":[1,2.5,"x"]}}`),
		Started: started, Attempt: 1, Version: "sha256:abc",
	}
}

func testRunRoundTrip(t *testing.T, e *env) {
	r := sampleRun("", "wf", T0.Add(1500*time.Microsecond)) // sub-ms precision is dropped
	must(t, e.s.CreateRun(e.ctx, r))
	if r.ID == "" {
		t.Fatal("CreateRun did not assign an ID")
	}
	got, err := e.s.GetRun(e.ctx, r.ID)
	must(t, err)
	if !got.Started.Equal(T0.Add(time.Millisecond)) {
		t.Fatalf("started = %v, want millisecond precision %v", got.Started, T0.Add(time.Millisecond))
	}
	assertJSONEqual(t, "input", got.Input, r.Input)
	if got.Workflow != "wf" || got.Status != store.RunRunning || got.TransactionID != "tx-" || got.Attempt != 1 || got.Version != "sha256:abc" {
		t.Fatalf("round trip mismatch: %+v", got)
	}
	wantErr(t, e.s.CreateRun(e.ctx, &store.Run{ID: r.ID, Workflow: "wf", Started: T0}), store.ErrDuplicate)

	// Finish it: output, steps, orchestrations, rerun ids.
	r.Status, r.Finished = store.RunFailed, T0.Add(2*time.Second)
	r.Output = json.RawMessage(`{"data":{"ok":false}}`)
	r.Error, r.ParentID, r.TaskID, r.Orchestrations = "upstream said 503", "parent-1", "task-1", 2
	r.Steps = []store.StepRecord{
		{ID: "a", Job: "a", Name: "Fetch", Status: store.RunSuccess, Started: T0, Finished: T0.Add(time.Second), Output: json.RawMessage(`{"x":1}`)},
		{ID: "b", Job: "b", Status: store.RunFailed, Started: T0.Add(time.Second), Finished: T0.Add(2 * time.Second), Error: "HTTP 503"},
		// the last step's output is usually the run's (stored once)
		{ID: "c", Status: store.RunSuccess, Started: T0, Output: r.Output},
	}
	must(t, e.s.UpdateRun(e.ctx, r))
	got, err = e.s.GetRun(e.ctx, r.ID)
	must(t, err)
	if got.Status != store.RunFailed || got.ParentID != "parent-1" || got.TaskID != "task-1" || got.Orchestrations != 2 ||
		got.Error != "upstream said 503" || !got.Finished.Equal(T0.Add(2*time.Second)) {
		t.Fatalf("update not stored: %+v", got)
	}
	if len(got.Steps) != 3 || got.Steps[0].Name != "Fetch" || got.Steps[1].Error != "HTTP 503" || !got.Steps[1].Finished.Equal(T0.Add(2*time.Second)) {
		t.Fatalf("steps = %+v", got.Steps)
	}
	assertJSONEqual(t, "step output", got.Steps[0].Output, json.RawMessage(`{"x":1}`))
	if got.Steps[1].Output != nil {
		t.Fatalf("absent step output stored as %q", got.Steps[1].Output)
	}
	assertJSONEqual(t, "output of the step sharing the run's", got.Steps[2].Output, r.Output)

	wantErr(t, e.s.UpdateRun(e.ctx, &store.Run{ID: "nope", Workflow: "wf", Started: T0}), store.ErrNotFound)
	_, err = e.s.GetRun(e.ctx, "nope")
	wantErr(t, err, store.ErrNotFound)
}

func testRunValidation(t *testing.T, e *env) {
	cases := []struct {
		name string
		run  *store.Run
		msg  string
	}{
		{"nil", nil, "nil"},
		{"no workflow", &store.Run{Started: T0}, "workflow is required"},
		{"bad status", &store.Run{Workflow: "w", Status: "done", Started: T0}, `unknown status "done"`},
		{"no start", &store.Run{Workflow: "w"}, "started time is required"},
		{"bad input", &store.Run{Workflow: "w", Started: T0, Input: json.RawMessage(`{"a":`)}, "input is not valid JSON"},
		{"bad output", &store.Run{Workflow: "w", Started: T0, Output: json.RawMessage(`nope`)}, "output is not valid JSON"},
		{"bad step", &store.Run{Workflow: "w", Started: T0, Steps: []store.StepRecord{{ID: "s", Status: "weird"}}}, `step "s": unknown status`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := e.s.CreateRun(e.ctx, c.run)
			wantErr(t, err, store.ErrInvalid)
			if !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %q does not mention %q", err, c.msg)
			}
		})
	}
	wantErr(t, e.s.UpdateRun(e.ctx, &store.Run{Workflow: "w", Started: T0}), store.ErrInvalid)
	runs, err := e.s.ListRuns(e.ctx, store.RunFilter{})
	must(t, err)
	if len(runs) != 0 {
		t.Fatalf("invalid runs were stored: %d", len(runs))
	}
}

func ids(runs []*store.Run) []string {
	out := []string{}
	for _, r := range runs {
		out = append(out, r.ID)
	}
	return out
}

func testListRuns(t *testing.T, e *env) {
	// r0..r9, one minute apart; r5 and r6 share a start time (ID breaks the tie).
	for i := 0; i < 10; i++ {
		started := T0.Add(time.Duration(i) * time.Minute)
		if i == 6 {
			started = T0.Add(5 * time.Minute)
		}
		wf, status := "alpha", store.RunSuccess
		if i%2 == 1 {
			wf = "beta"
		}
		if i%3 == 0 {
			status = store.RunFailed
		}
		r := sampleRun(fmt.Sprintf("r%d", i), wf, started)
		r.Status = status
		if i >= 8 {
			r.ParentID = "orig"
		}
		must(t, e.s.CreateRun(e.ctx, r))
	}
	cases := []struct {
		name string
		f    store.RunFilter
		want []string
	}{
		{"all newest first", store.RunFilter{}, []string{"r9", "r8", "r7", "r6", "r5", "r4", "r3", "r2", "r1", "r0"}},
		{"limit", store.RunFilter{Limit: 3}, []string{"r9", "r8", "r7"}},
		{"workflow", store.RunFilter{Workflow: "beta"}, []string{"r9", "r7", "r5", "r3", "r1"}},
		{"status", store.RunFilter{Status: store.RunFailed}, []string{"r9", "r6", "r3", "r0"}},
		{"workflow and status", store.RunFilter{Workflow: "alpha", Status: store.RunFailed}, []string{"r6", "r0"}},
		{"transaction", store.RunFilter{TransactionID: "tx-r4"}, []string{"r4"}},
		{"parent", store.RunFilter{ParentID: "orig"}, []string{"r9", "r8"}},
		{"since", store.RunFilter{Since: T0.Add(7 * time.Minute)}, []string{"r9", "r8", "r7"}},
		{"until is exclusive", store.RunFilter{Until: T0.Add(2 * time.Minute)}, []string{"r1", "r0"}},
		{"window", store.RunFilter{Since: T0.Add(3 * time.Minute), Until: T0.Add(6 * time.Minute)}, []string{"r6", "r5", "r4", "r3"}},
		{"page after r6", store.RunFilter{Before: "r6", Limit: 3}, []string{"r5", "r4", "r3"}},
		{"page after r5 tie", store.RunFilter{Before: "r7", Limit: 2}, []string{"r6", "r5"}},
		{"page with filter", store.RunFilter{Before: "r7", Workflow: "beta"}, []string{"r5", "r3", "r1"}},
		{"nothing", store.RunFilter{Workflow: "gamma"}, []string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runs, err := e.s.ListRuns(e.ctx, c.f)
			must(t, err)
			if got := ids(runs); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
	_, err := e.s.ListRuns(e.ctx, store.RunFilter{Before: "missing"})
	wantErr(t, err, store.ErrNotFound)

	// Updating a run's status moves it between status filters.
	r, err := e.s.GetRun(e.ctx, "r0")
	must(t, err)
	r.Status = store.RunSuccess
	must(t, e.s.UpdateRun(e.ctx, r))
	runs, err := e.s.ListRuns(e.ctx, store.RunFilter{Status: store.RunFailed})
	must(t, err)
	if got := ids(runs); !reflect.DeepEqual(got, []string{"r9", "r6", "r3"}) {
		t.Fatalf("after update: %v", got)
	}
}

func testFindRunByTransaction(t *testing.T, e *env) {
	a := sampleRun("a", "wf", T0)
	a.TransactionID = "tx-1"
	b := sampleRun("b", "wf", T0.Add(time.Minute))
	b.TransactionID = "tx-1" // same transaction delivered again (retry)
	c := sampleRun("c", "wf", T0.Add(2*time.Minute))
	c.TransactionID = "tx-10" // shares a prefix
	for _, r := range []*store.Run{a, b, c} {
		must(t, e.s.CreateRun(e.ctx, r))
	}
	got, err := e.s.FindRunByTransaction(e.ctx, "tx-1")
	must(t, err)
	if got.ID != "b" {
		t.Fatalf("got %s, want newest run b", got.ID)
	}
	got, err = e.s.FindRunByTransaction(e.ctx, "tx-10")
	must(t, err)
	if got.ID != "c" {
		t.Fatalf("got %s, want c", got.ID)
	}
	_, err = e.s.FindRunByTransaction(e.ctx, "tx-2")
	wantErr(t, err, store.ErrNotFound)
	_, err = e.s.FindRunByTransaction(e.ctx, "")
	wantErr(t, err, store.ErrInvalid)
}

func testStateCap(t *testing.T, e *env) {
	big := `{"data":"` + strings.Repeat("é", 4000) + `"}` // > 4096 bytes
	r := sampleRun("big", "wf", T0)
	r.Input = json.RawMessage(big)
	r.Output = json.RawMessage(`{"small":true}`)
	r.Steps = []store.StepRecord{{ID: "s", Status: store.RunSuccess, Started: T0, Output: json.RawMessage(big)}}
	must(t, e.s.CreateRun(e.ctx, r))
	got, err := e.s.GetRun(e.ctx, "big")
	must(t, err)
	for name, st := range map[string]json.RawMessage{"input": got.Input, "step output": got.Steps[0].Output} {
		m, ok := store.IsTruncated(st)
		if !ok {
			t.Fatalf("%s not truncated: %d bytes", name, len(st))
		}
		if m.Truncated.Bytes != len(big) || len(m.Truncated.SHA256) != 64 || !strings.HasPrefix(big, m.Truncated.Head) || m.Truncated.Head == "" {
			t.Fatalf("%s marker = %+v", name, m.Truncated)
		}
		if len(st) > 4096 {
			t.Fatalf("%s marker is %d bytes, over the cap", name, len(st))
		}
	}
	if _, ok := store.IsTruncated(got.Output); ok {
		t.Fatal("small output was truncated")
	}
	assertJSONEqual(t, "output", got.Output, json.RawMessage(`{"small":true}`))
}

func testSecretsNeverStored(t *testing.T, e *env) {
	r := sampleRun("sec", "wf", T0)
	r.Input = json.RawMessage(`{"configuration":{"password":"pw-by-key-123","url":"https://x"},"data":{"note":"uses ` + secret + `"}}`)
	r.Error = "login failed for " + secret
	r.Steps = []store.StepRecord{{ID: "s", Status: store.RunFailed, Started: T0, Error: "401 with " + secret, Output: json.RawMessage(`{"access_token":"tok-abcdef"}`)}}
	must(t, e.s.CreateRun(e.ctx, r))
	must(t, e.s.AppendLogs(e.ctx, "sec", []store.LogLine{{Time: T0, Level: "info", Message: "token is " + secret}}))
	must(t, e.s.Enqueue(e.ctx, &store.Message{ID: "m", Kind: store.KindRetry, Workflow: "wf"}))
	m, err := e.s.Claim(e.ctx, "w1", time.Minute, T0)
	must(t, err)
	_, err = e.s.Fail(e.ctx, m.ID, "w1", "upstream rejected "+secret, T0.Add(time.Minute))
	must(t, err)

	got, err := e.s.GetRun(e.ctx, "sec")
	must(t, err)
	logs, err := e.s.Logs(e.ctx, "sec")
	must(t, err)
	msg, err := e.s.GetMessage(e.ctx, "m")
	must(t, err)
	blob, _ := json.Marshal([]any{got, logs, msg})
	for _, leak := range []string{secret, "pw-by-key-123", "tok-abcdef"} {
		if strings.Contains(string(blob), leak) {
			t.Fatalf("secret %q stored: %s", leak, blob)
		}
	}
	if !strings.Contains(string(blob), redact.Mask) {
		t.Fatalf("no mask in stored records: %s", blob)
	}
}

func testLogs(t *testing.T, e *env) {
	must(t, e.s.AppendLogs(e.ctx, "run-1", []store.LogLine{
		{Time: T0, Level: "info", Step: "a", Message: "one"},
		{Time: T0, Level: "debug", Step: "a", Message: "two"},
	}))
	must(t, e.s.AppendLogs(e.ctx, "run-2", []store.LogLine{{Time: T0, Level: "info", Message: "other run"}}))
	must(t, e.s.AppendLogs(e.ctx, "run-1", []store.LogLine{{Time: T0.Add(time.Second), Level: "error", Step: "b", Message: "three"}}))
	must(t, e.s.AppendLogs(e.ctx, "run-1", nil))
	got, err := e.s.Logs(e.ctx, "run-1")
	must(t, err)
	var msgs []string
	for _, l := range got {
		msgs = append(msgs, l.Level+":"+l.Step+":"+l.Message)
	}
	if want := []string{"info:a:one", "debug:a:two", "error:b:three"}; !reflect.DeepEqual(msgs, want) {
		t.Fatalf("logs = %v, want %v", msgs, want)
	}
	if !got[2].Time.Equal(T0.Add(time.Second)) {
		t.Fatalf("time = %v", got[2].Time)
	}
	none, err := e.s.Logs(e.ctx, "run-3")
	must(t, err)
	if len(none) != 0 {
		t.Fatalf("unknown run has logs: %v", none)
	}
	wantErr(t, e.s.AppendLogs(e.ctx, "", []store.LogLine{{Message: "x"}}), store.ErrInvalid)
	long := strings.Repeat("x", 20000)
	must(t, e.s.AppendLogs(e.ctx, "run-4", []store.LogLine{{Time: T0, Level: "info", Message: long}}))
	got, err = e.s.Logs(e.ctx, "run-4")
	must(t, err)
	if len(got[0].Message) >= len(long) || !strings.HasSuffix(got[0].Message, "[truncated]") {
		t.Fatalf("long log line not capped: %d bytes", len(got[0].Message))
	}
}

func testCursor(t *testing.T, e *env) {
	_, err := e.s.GetCursor(e.ctx, "wf:last")
	wantErr(t, err, store.ErrNotFound)

	c := &store.Cursor{Key: "wf:last", Value: json.RawMessage(`{"lastRunDateTime":"2026-03-01T00:00:00Z"}`)}
	must(t, e.s.PutCursor(e.ctx, c))
	if c.Version != 1 || !c.Updated.Equal(T0) {
		t.Fatalf("after first put: version %d updated %v", c.Version, c.Updated)
	}
	got, err := e.s.GetCursor(e.ctx, "wf:last")
	must(t, err)
	if got.Version != 1 || !got.Updated.Equal(T0) {
		t.Fatalf("stored cursor = %+v", got)
	}
	assertJSONEqual(t, "cursor", got.Value, c.Value)

	// A run that read version 1 moves it to 2; an overlapping run that also
	// read version 1 (or thinks it is new) must not move it back.
	next := &store.Cursor{Key: "wf:last", Value: json.RawMessage(`{"lastRunDateTime":"2026-03-02T00:00:00Z"}`), Version: 1}
	must(t, e.s.PutCursor(e.ctx, next))
	cases := []struct {
		name    string
		version int64
	}{{"stale", 1}, {"as new", 0}, {"future", 7}}
	for _, cc := range cases {
		t.Run(cc.name, func(t *testing.T) {
			err := e.s.PutCursor(e.ctx, &store.Cursor{Key: "wf:last", Value: json.RawMessage(`{"old":true}`), Version: cc.version})
			wantErr(t, err, store.ErrConflict)
		})
	}
	got, err = e.s.GetCursor(e.ctx, "wf:last")
	must(t, err)
	if got.Version != 2 {
		t.Fatalf("version = %d, want 2", got.Version)
	}
	assertJSONEqual(t, "cursor", got.Value, next.Value)
	wantErr(t, e.s.PutCursor(e.ctx, &store.Cursor{Key: "other", Value: json.RawMessage(`x`)}), store.ErrInvalid)
	wantErr(t, e.s.PutCursor(e.ctx, &store.Cursor{Value: json.RawMessage(`1`)}), store.ErrInvalid)
	wantErr(t, e.s.PutCursor(e.ctx, &store.Cursor{Key: "x", Value: json.RawMessage(`1`), Version: -1}), store.ErrInvalid)
	wantErr(t, e.s.PutCursor(e.ctx, nil), store.ErrInvalid)
}

func testEnqueueIdempotent(t *testing.T, e *env) {
	m := &store.Message{Kind: store.KindAsync, Workflow: "wf", Lane: "http", IdempotencyKey: "tx-1", Payload: json.RawMessage(`{"body":1}`)}
	must(t, e.s.Enqueue(e.ctx, m))
	if m.ID == "" || m.Status != store.MsgPending || m.MaxAttempts != store.DefaultMaxAttempts || !m.Due.Equal(T0) {
		t.Fatalf("enqueued = %+v", m)
	}
	first := m.ID
	dup := &store.Message{Kind: store.KindAsync, Workflow: "wf", IdempotencyKey: "tx-1"}
	err := e.s.Enqueue(e.ctx, dup)
	wantErr(t, err, store.ErrDuplicate)
	if dup.ID != first {
		t.Fatalf("duplicate reported id %q, want existing %q", dup.ID, first)
	}
	wantErr(t, e.s.Enqueue(e.ctx, &store.Message{ID: first, Kind: store.KindRetry, Workflow: "wf"}), store.ErrDuplicate)

	// Still a duplicate once the first delivery is done.
	c, err := e.s.Claim(e.ctx, "w", time.Minute, T0)
	must(t, err)
	must(t, e.s.Complete(e.ctx, c.ID, "w"))
	wantErr(t, e.s.Enqueue(e.ctx, &store.Message{Kind: store.KindAsync, Workflow: "wf", IdempotencyKey: "tx-1"}), store.ErrDuplicate)

	// Messages without a key never clash with each other.
	for i := 0; i < 3; i++ {
		must(t, e.s.Enqueue(e.ctx, &store.Message{Kind: store.KindRetry, Workflow: "wf"}))
	}
	got, err := e.s.GetMessage(e.ctx, first)
	must(t, err)
	if got.Status != store.MsgDone || got.Lane != "http" || string(got.Payload) != `{"body":1}` || got.IdempotencyKey != "tx-1" {
		t.Fatalf("stored message = %+v", got)
	}
	_, err = e.s.GetMessage(e.ctx, "missing")
	wantErr(t, err, store.ErrNotFound)
}

func testEnqueueValidation(t *testing.T, e *env) {
	cases := []struct {
		name string
		m    *store.Message
	}{
		{"nil", nil},
		{"no kind", &store.Message{Workflow: "wf"}},
		{"bad kind", &store.Message{Kind: "later", Workflow: "wf"}},
		{"no workflow", &store.Message{Kind: store.KindRetry}},
		{"bad payload", &store.Message{Kind: store.KindRetry, Workflow: "wf", Payload: json.RawMessage(`{`)}},
		{"payload too large", &store.Message{Kind: store.KindRetry, Workflow: "wf",
			Payload: json.RawMessage(`"` + strings.Repeat("x", store.MaxPayloadBytes) + `"`)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { wantErr(t, e.s.Enqueue(e.ctx, c.m), store.ErrInvalid) })
	}
	_, err := e.s.Claim(e.ctx, "", time.Minute, T0)
	wantErr(t, err, store.ErrInvalid)
	_, err = e.s.Claim(e.ctx, "w", 0, T0)
	wantErr(t, err, store.ErrInvalid)
}

func enqueue(t *testing.T, e *env, id, lane string, due time.Time) {
	t.Helper()
	must(t, e.s.Enqueue(e.ctx, &store.Message{ID: id, Kind: store.KindRetry, Workflow: "wf", Lane: lane, Due: due}))
}

func testClaimOrderAndLanes(t *testing.T, e *env) {
	_, err := e.s.Claim(e.ctx, "w", time.Minute, T0)
	wantErr(t, err, store.ErrNoMessage)
	enqueue(t, e, "late", "http", T0.Add(3*time.Minute))
	enqueue(t, e, "early", "cron", T0.Add(time.Minute))
	enqueue(t, e, "middle", "http", T0.Add(2*time.Minute))
	enqueue(t, e, "future", "http", T0.Add(time.Hour))

	_, err = e.s.Claim(e.ctx, "w", time.Minute, T0)
	wantErr(t, err, store.ErrNoMessage) // nothing due yet
	now := T0.Add(10 * time.Minute)
	m, err := e.s.Claim(e.ctx, "w", time.Minute, now, "http")
	must(t, err)
	if m.ID != "middle" {
		t.Fatalf("http lane claimed %s, want middle (earliest due in lane)", m.ID)
	}
	if m.Status != store.MsgClaimed || m.Owner != "w" || m.Attempts != 1 || !m.LeaseUntil.Equal(now.Add(time.Minute)) {
		t.Fatalf("claimed message = %+v", m)
	}
	var order []string
	for {
		m, err := e.s.Claim(e.ctx, "w", time.Minute, now)
		if errors.Is(err, store.ErrNoMessage) {
			break
		}
		must(t, err)
		order = append(order, m.ID)
	}
	if want := []string{"early", "late"}; !reflect.DeepEqual(order, want) {
		t.Fatalf("claim order %v, want %v", order, want)
	}
	_, err = e.s.Claim(e.ctx, "w", time.Minute, now, "nolane")
	wantErr(t, err, store.ErrNoMessage)
}

func testLeaseExpiryReclaim(t *testing.T, e *env) {
	enqueue(t, e, "m", "", T0)
	m, err := e.s.Claim(e.ctx, "a", time.Minute, T0)
	must(t, err)
	_, err = e.s.Claim(e.ctx, "b", time.Minute, T0.Add(30*time.Second))
	wantErr(t, err, store.ErrNoMessage) // a's lease still runs

	// a extends its lease; b still cannot take it at the old expiry.
	must(t, e.s.ExtendLease(e.ctx, m.ID, "a", time.Minute, T0.Add(50*time.Second)))
	_, err = e.s.Claim(e.ctx, "b", time.Minute, T0.Add(61*time.Second))
	wantErr(t, err, store.ErrNoMessage)
	wantErr(t, e.s.ExtendLease(e.ctx, m.ID, "b", time.Minute, T0), store.ErrLeaseLost)

	// a crashes; after the lease expires b reclaims it.
	m2, err := e.s.Claim(e.ctx, "b", time.Minute, T0.Add(111*time.Second))
	must(t, err)
	if m2.ID != "m" || m2.Owner != "b" || m2.Attempts != 2 {
		t.Fatalf("reclaimed = %+v", m2)
	}
	wantErr(t, e.s.Complete(e.ctx, "m", "a"), store.ErrLeaseLost)
	_, err = e.s.Fail(e.ctx, "m", "a", "late failure", T0)
	wantErr(t, err, store.ErrLeaseLost)
	must(t, e.s.Complete(e.ctx, "m", "b"))
	wantErr(t, e.s.Complete(e.ctx, "m", "b"), store.ErrLeaseLost) // already done
	_, err = e.s.Claim(e.ctx, "c", time.Minute, T0.Add(time.Hour))
	wantErr(t, err, store.ErrNoMessage)
	wantErr(t, e.s.Complete(e.ctx, "missing", "b"), store.ErrNotFound)
}

func testClaimRace(t *testing.T, e *env, n int) {
	start := time.Now()
	for i := 0; i < n; i++ {
		enqueue(t, e, fmt.Sprintf("m%03d", i), "", T0.Add(time.Duration(i%7)*time.Millisecond))
	}
	enqueued := time.Since(start)
	owners := []string{"replica-a", "replica-b"}
	var mu sync.Mutex
	claims := map[string][]string{}
	var wg sync.WaitGroup
	errs := make(chan error, len(owners))
	now := T0.Add(time.Second)
	for _, owner := range owners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, err := e.s.Claim(e.ctx, owner, time.Hour, now)
				if errors.Is(err, store.ErrNoMessage) {
					return
				}
				if err != nil {
					errs <- fmt.Errorf("%s claim: %w", owner, err)
					return
				}
				mu.Lock()
				claims[m.ID] = append(claims[m.ID], owner)
				mu.Unlock()
				if err := e.s.Complete(e.ctx, m.ID, owner); err != nil {
					errs <- fmt.Errorf("%s complete %s: %w", owner, m.ID, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(claims) != n {
		t.Fatalf("%d distinct messages claimed, want %d", len(claims), n)
	}
	per := map[string]int{}
	for id, who := range claims {
		if len(who) != 1 {
			t.Fatalf("message %s claimed %d times: %v", id, len(who), who)
		}
		per[who[0]]++
	}
	t.Logf("claims per owner: %v (enqueue %s, claim+complete %s)", per, enqueued.Round(time.Millisecond), (time.Since(start) - enqueued).Round(time.Millisecond))
}

func testFailBackoffDeadLetter(t *testing.T, e *env) {
	must(t, e.s.Enqueue(e.ctx, &store.Message{ID: "m", Kind: store.KindRetry, Workflow: "wf", MaxAttempts: 3, Due: T0}))
	now := T0
	for attempt := 1; attempt <= 3; attempt++ {
		m, err := e.s.Claim(e.ctx, "w", time.Minute, now)
		must(t, err)
		if m.Attempts != attempt {
			t.Fatalf("attempt %d: Attempts = %d", attempt, m.Attempts)
		}
		next := now.Add(backoff.Delay(attempt, time.Second, time.Minute, func() float64 { return 0.5 }))
		e.clock.Set(now)
		got, err := e.s.Fail(e.ctx, "m", "w", fmt.Sprintf("HTTP 503 #%d", attempt), next)
		must(t, err)
		if attempt < 3 {
			if got.Status != store.MsgPending || !got.Due.Equal(ms(next)) || got.Owner != "" || got.LastError != fmt.Sprintf("HTTP 503 #%d", attempt) {
				t.Fatalf("after fail %d: %+v", attempt, got)
			}
			_, err = e.s.Claim(e.ctx, "w", time.Minute, next.Add(-time.Millisecond))
			wantErr(t, err, store.ErrNoMessage) // not before the backoff
			now = next
			continue
		}
		if got.Status != store.MsgDead {
			t.Fatalf("after max attempts status = %s, want dead", got.Status)
		}
	}
	_, err := e.s.Claim(e.ctx, "w", time.Minute, now.Add(time.Hour))
	wantErr(t, err, store.ErrNoMessage)
	dead, err := e.s.ListDead(e.ctx, 10)
	must(t, err)
	if len(dead) != 1 || dead[0].ID != "m" || dead[0].LastError != "HTTP 503 #3" || dead[0].Attempts != 3 {
		t.Fatalf("dead letters = %+v", dead)
	}
}

func ms(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

func testDeadLetterAndRequeue(t *testing.T, e *env) {
	enqueue(t, e, "a", "", T0)
	enqueue(t, e, "b", "", T0.Add(time.Second))
	enqueue(t, e, "c", "", T0.Add(2*time.Second))
	m, err := e.s.Claim(e.ctx, "w", time.Minute, T0.Add(time.Minute))
	must(t, err)
	wantErr(t, e.s.DeadLetter(e.ctx, m.ID, "other", "nope"), store.ErrLeaseLost)
	e.clock.Set(T0.Add(time.Minute))
	must(t, e.s.DeadLetter(e.ctx, m.ID, "w", "validation failed: no patient id"))
	e.clock.Set(T0.Add(2 * time.Minute))
	must(t, e.s.DeadLetter(e.ctx, "b", "", "operator: poison message")) // pending, operator action
	wantErr(t, e.s.DeadLetter(e.ctx, "b", "", "again"), store.ErrConflict)
	wantErr(t, e.s.DeadLetter(e.ctx, "missing", "", "x"), store.ErrNotFound)

	dead, err := e.s.ListDead(e.ctx, 0)
	must(t, err)
	var got []string
	for _, d := range dead {
		got = append(got, d.ID+":"+d.LastError)
	}
	if want := []string{"b:operator: poison message", "a:validation failed: no patient id"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("dead = %v, want %v (most recent first)", got, want)
	}
	dead, err = e.s.ListDead(e.ctx, 1)
	must(t, err)
	if len(dead) != 1 {
		t.Fatalf("limit ignored: %d", len(dead))
	}

	e.clock.Set(T0.Add(5 * time.Minute))
	must(t, e.s.Requeue(e.ctx, "a"))
	wantErr(t, e.s.Requeue(e.ctx, "a"), store.ErrConflict)
	wantErr(t, e.s.Requeue(e.ctx, "c"), store.ErrConflict)
	wantErr(t, e.s.Requeue(e.ctx, "missing"), store.ErrNotFound)
	a, err := e.s.GetMessage(e.ctx, "a")
	must(t, err)
	if a.Status != store.MsgPending || a.Attempts != 0 || !a.Due.Equal(T0.Add(5*time.Minute)) {
		t.Fatalf("requeued = %+v", a)
	}
	// c (due earlier) comes first, then the requeued a.
	var order []string
	for {
		m, err := e.s.Claim(e.ctx, "w", time.Minute, T0.Add(6*time.Minute))
		if errors.Is(err, store.ErrNoMessage) {
			break
		}
		must(t, err)
		order = append(order, m.ID)
	}
	if want := []string{"c", "a"}; !reflect.DeepEqual(order, want) {
		t.Fatalf("order after requeue = %v, want %v", order, want)
	}
	dead, err = e.s.ListDead(e.ctx, 0)
	must(t, err)
	if len(dead) != 1 || dead[0].ID != "b" {
		t.Fatalf("dead after requeue = %v", dead)
	}
}

// testCountQueue follows messages through every status: pending and
// claimed count as pending, done as nothing, dead as dead.
func testCountQueue(t *testing.T, e *env) {
	count := func(step string, want store.QueueCounts) {
		t.Helper()
		got, err := e.s.CountQueue(e.ctx)
		must(t, err)
		if got != want {
			t.Fatalf("%s: CountQueue = %+v, want %+v", step, got, want)
		}
	}
	count("empty", store.QueueCounts{})
	enqueue(t, e, "a", "", T0)
	enqueue(t, e, "b", "", T0.Add(time.Second))
	enqueue(t, e, "c", "", T0.Add(time.Hour)) // not due yet: still pending
	enqueue(t, e, "d", "", T0.Add(2*time.Second))
	count("enqueued", store.QueueCounts{Pending: 4})
	// Duplicates are not added.
	wantErr(t, e.s.Enqueue(e.ctx, &store.Message{ID: "a", Kind: store.KindRetry, Workflow: "wf", Due: T0}), store.ErrDuplicate)
	count("duplicate", store.QueueCounts{Pending: 4})

	a, err := e.s.Claim(e.ctx, "w", time.Minute, T0.Add(time.Minute))
	must(t, err)
	count("claimed", store.QueueCounts{Pending: 4})
	must(t, e.s.Complete(e.ctx, a.ID, "w"))
	count("done", store.QueueCounts{Pending: 3})

	b, err := e.s.Claim(e.ctx, "w", time.Minute, T0.Add(time.Minute))
	must(t, err)
	_, err = e.s.Fail(e.ctx, b.ID, "w", "HTTP 503", T0.Add(2*time.Minute))
	must(t, err)
	count("failed, retrying", store.QueueCounts{Pending: 3})
	must(t, e.s.DeadLetter(e.ctx, b.ID, "", "operator"))
	must(t, e.s.DeadLetter(e.ctx, "d", "", "operator"))
	count("dead", store.QueueCounts{Pending: 1, Dead: 2})
	must(t, e.s.Requeue(e.ctx, "d"))
	count("requeued", store.QueueCounts{Pending: 2, Dead: 1})

	e.reopen()
	count("after restart", store.QueueCounts{Pending: 2, Dead: 1})
}

func testScheduleLease(t *testing.T, e *env) {
	ok := func(name, owner string, at time.Time) bool {
		t.Helper()
		got, err := e.s.AcquireLease(e.ctx, name, owner, time.Minute, at)
		must(t, err)
		return got
	}
	if !ok("cron:wf", "a", T0) {
		t.Fatal("a could not take a free lease")
	}
	if ok("cron:wf", "b", T0.Add(30*time.Second)) {
		t.Fatal("b took a lease a holds")
	}
	if !ok("cron:other", "b", T0) {
		t.Fatal("leases are not independent by name")
	}
	if !ok("cron:wf", "a", T0.Add(50*time.Second)) {
		t.Fatal("a could not renew its own lease")
	}
	if ok("cron:wf", "b", T0.Add(70*time.Second)) {
		t.Fatal("renewal did not extend the lease")
	}
	if !ok("cron:wf", "b", T0.Add(111*time.Second)) {
		t.Fatal("b could not take an expired lease")
	}
	must(t, e.s.ReleaseLease(e.ctx, "cron:wf", "a")) // not a's any more: no-op
	if ok("cron:wf", "a", T0.Add(120*time.Second)) {
		t.Fatal("release by a non-owner freed the lease")
	}
	must(t, e.s.ReleaseLease(e.ctx, "cron:wf", "b"))
	if !ok("cron:wf", "a", T0.Add(121*time.Second)) {
		t.Fatal("a could not take a released lease")
	}
	must(t, e.s.ReleaseLease(e.ctx, "never", "a"))
	_, err := e.s.AcquireLease(e.ctx, "", "a", time.Minute, T0)
	wantErr(t, err, store.ErrInvalid)
	_, err = e.s.AcquireLease(e.ctx, "x", "a", 0, T0)
	wantErr(t, err, store.ErrInvalid)

	// Racing replicas: exactly one wins a free lease.
	var wg sync.WaitGroup
	var mu sync.Mutex
	winners := 0
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := e.s.AcquireLease(e.ctx, "race", fmt.Sprintf("r%d", i), time.Minute, T0)
			if err != nil {
				t.Error(err)
			}
			if got {
				mu.Lock()
				winners++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if winners != 1 {
		t.Fatalf("%d replicas won one lease", winners)
	}
}

func testCull(t *testing.T, e *env) {
	for i := 0; i < 6; i++ {
		r := sampleRun(fmt.Sprintf("r%d", i), "wf", T0.AddDate(0, 0, -10+i)) // r0 10 days old … r5 5 days old
		must(t, e.s.CreateRun(e.ctx, r))
		must(t, e.s.AppendLogs(e.ctx, r.ID, []store.LogLine{{Time: r.Started, Level: "info", Message: "x"}}))
	}
	// By age: older than 7 days → r0, r1, r2.
	n, err := e.s.Cull(e.ctx, T0.AddDate(0, 0, -7), 0)
	must(t, err)
	if n != 3 {
		t.Fatalf("culled %d by age, want 3", n)
	}
	runs, err := e.s.ListRuns(e.ctx, store.RunFilter{})
	must(t, err)
	if got := ids(runs); !reflect.DeepEqual(got, []string{"r5", "r4", "r3"}) {
		t.Fatalf("left %v", got)
	}
	logs, err := e.s.Logs(e.ctx, "r0")
	must(t, err)
	if len(logs) != 0 {
		t.Fatal("logs of a culled run survived")
	}
	// By count: keep the newest 1.
	n, err = e.s.Cull(e.ctx, time.Time{}, 1)
	must(t, err)
	if n != 2 {
		t.Fatalf("culled %d by count, want 2", n)
	}
	runs, err = e.s.ListRuns(e.ctx, store.RunFilter{})
	must(t, err)
	if got := ids(runs); !reflect.DeepEqual(got, []string{"r5"}) {
		t.Fatalf("left %v", got)
	}
	if logs, _ := e.s.Logs(e.ctx, "r5"); len(logs) != 1 {
		t.Fatal("logs of a kept run were culled")
	}
	n, err = e.s.Cull(e.ctx, time.Time{}, 0)
	must(t, err)
	if n != 0 {
		t.Fatalf("no retention culled %d", n)
	}

	// Done messages older than the cut-off go; dead letters and pending stay.
	e.clock.Set(T0.AddDate(0, 0, -9))
	enqueue(t, e, "done-old", "", T0.AddDate(0, 0, -9))
	enqueue(t, e, "dead-old", "", T0.AddDate(0, 0, -9).Add(time.Second))
	m, err := e.s.Claim(e.ctx, "w", time.Minute, T0.AddDate(0, 0, -9).Add(time.Minute))
	must(t, err)
	must(t, e.s.Complete(e.ctx, m.ID, "w"))
	must(t, e.s.DeadLetter(e.ctx, "dead-old", "", "bad"))
	e.clock.Set(T0)
	enqueue(t, e, "pending-new", "", T0)
	_, err = e.s.Cull(e.ctx, T0.AddDate(0, 0, -7), 0)
	must(t, err)
	_, err = e.s.GetMessage(e.ctx, "done-old")
	wantErr(t, err, store.ErrNotFound)
	for _, id := range []string{"dead-old", "pending-new"} {
		_, err := e.s.GetMessage(e.ctx, id)
		must(t, err)
	}

	// With no age retention, done messages still expire after DoneMessageRetention.
	e.clock.Set(T0.Add(-store.DoneMessageRetention - time.Hour))
	enqueue(t, e, "done-week", "", e.clock.Now())
	enqueue(t, e, "done-recent", "", e.clock.Now().Add(time.Second))
	for _, at := range []time.Time{e.clock.Now(), T0} {
		e.clock.Set(at)
		m, err := e.s.Claim(e.ctx, "w", time.Minute, at.Add(time.Minute))
		must(t, err)
		must(t, e.s.Complete(e.ctx, m.ID, "w"))
	}
	_, err = e.s.Cull(e.ctx, time.Time{}, 0)
	must(t, err)
	_, err = e.s.GetMessage(e.ctx, "done-week")
	wantErr(t, err, store.ErrNotFound)
	_, err = e.s.GetMessage(e.ctx, "done-recent")
	must(t, err)

	// StartCuller applies retention in the background and stops with ctx.
	must(t, e.s.CreateRun(e.ctx, sampleRun("ancient", "wf", time.Now().AddDate(0, 0, -400))))
	ctx, cancel := context.WithCancel(e.ctx)
	done := store.StartCuller(ctx, e.s, store.Retention{Days: 30}, time.Hour, nil)
	deadline := time.After(10 * time.Second)
	for {
		if _, err := e.s.GetRun(e.ctx, "ancient"); errors.Is(err, store.ErrNotFound) {
			break
		}
		select {
		case <-deadline:
			t.Fatal("culler did not remove the ancient run")
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	<-done
}

func testRestartPersistence(t *testing.T, e *env) {
	must(t, e.s.CreateRun(e.ctx, sampleRun("r", "wf", T0)))
	must(t, e.s.AppendLogs(e.ctx, "r", []store.LogLine{{Time: T0, Level: "info", Message: "before restart"}}))
	c := &store.Cursor{Key: "k", Value: json.RawMessage(`{"page":3}`)}
	must(t, e.s.PutCursor(e.ctx, c))
	enqueue(t, e, "async-1", "http", T0)
	enqueue(t, e, "async-2", "http", T0.Add(time.Second))
	// async-1 was in flight when the process died.
	_, err := e.s.Claim(e.ctx, "old-process", time.Minute, T0.Add(time.Second))
	must(t, err)

	e.reopen()
	if err := e.s.Ping(e.ctx); err != nil {
		t.Fatal(err)
	}
	r, err := e.s.GetRun(e.ctx, "r")
	must(t, err)
	if r.Workflow != "wf" {
		t.Fatalf("run after restart = %+v", r)
	}
	logs, err := e.s.Logs(e.ctx, "r")
	must(t, err)
	if len(logs) != 1 || logs[0].Message != "before restart" {
		t.Fatalf("logs after restart = %v", logs)
	}
	got, err := e.s.GetCursor(e.ctx, "k")
	must(t, err)
	if got.Version != 1 {
		t.Fatalf("cursor after restart = %+v", got)
	}
	// Pending work is finished after the restart; the in-flight one once its lease expires.
	m, err := e.s.Claim(e.ctx, "new-process", time.Minute, T0.Add(2*time.Second))
	must(t, err)
	if m.ID != "async-2" {
		t.Fatalf("claimed %s, want async-2", m.ID)
	}
	m, err = e.s.Claim(e.ctx, "new-process", time.Minute, T0.Add(2*time.Minute))
	must(t, err)
	if m.ID != "async-1" || m.Attempts != 2 {
		t.Fatalf("reclaimed %+v", m)
	}
	wantErr(t, e.s.Enqueue(e.ctx, &store.Message{ID: "async-1", Kind: store.KindAsync, Workflow: "wf"}), store.ErrDuplicate)

	// After Close every call fails cleanly.
	must(t, e.s.Close())
	if _, err := e.s.GetRun(e.ctx, "r"); err == nil {
		t.Fatal("GetRun after Close succeeded")
	}
	if err := e.s.Ping(e.ctx); err == nil {
		t.Fatal("Ping after Close succeeded")
	}
}

func assertJSONEqual(t *testing.T, what string, got, want json.RawMessage) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: stored value is not JSON: %v (%q)", what, err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: bad expectation: %v", what, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s = %s, want %s", what, got, want)
	}
}

// testRecordRunJournal: history queued with RecordRun (group commit) is
// what a reader sees right after (read-your-writes), keeps each run's log
// lines apart and in order, reports a duplicate run to its callback only,
// is redacted like CreateRun, and is on disk after Close.
func testRecordRunJournal(t *testing.T, e *env) {
	const n = 120
	var wg sync.WaitGroup
	var mu sync.Mutex
	var cbErrs []error
	onErr := func(err error) { mu.Lock(); cbErrs = append(cbErrs, err); mu.Unlock() }
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				r := sampleRun(fmt.Sprintf("jr-%03d", i), "wf", T0.Add(time.Duration(i)*time.Second))
				r.Input = json.RawMessage(`{"password":"` + secret + `"}`)
				logs := []store.LogLine{
					{Time: T0, Level: "info", Step: "a", Message: fmt.Sprintf("run %d first", i)},
					{Time: T0, Level: "info", Step: "a", Message: fmt.Sprintf("run %d second %s", i, secret)},
				}
				if err := store.RecordRun(e.ctx, e.s, r, logs, onErr); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("jr-%03d", i)
		r, err := e.s.GetRun(e.ctx, id)
		must(t, err)
		if strings.Contains(string(r.Input), secret) {
			t.Fatalf("%s: secret stored in input: %s", id, r.Input)
		}
		logs, err := e.s.Logs(e.ctx, id)
		must(t, err)
		if len(logs) != 2 || logs[0].Message != fmt.Sprintf("run %d first", i) || strings.Contains(logs[1].Message, secret) {
			t.Fatalf("%s: logs = %+v", id, logs)
		}
	}
	runs, err := e.s.ListRuns(e.ctx, store.RunFilter{Workflow: "wf", Limit: 1000})
	must(t, err)
	if len(runs) != n {
		t.Fatalf("ListRuns right after RecordRun: %d runs, want %d", len(runs), n)
	}
	// a duplicate ID fails alone, through the callback
	must(t, store.RecordRun(e.ctx, e.s, sampleRun("jr-000", "wf", T0), nil, onErr))
	must(t, store.RecordRun(e.ctx, e.s, sampleRun("jr-new", "wf", T0), nil, onErr))
	if _, err := e.s.GetRun(e.ctx, "jr-new"); err != nil {
		t.Fatalf("run queued with a duplicate: %v", err)
	}
	mu.Lock()
	if len(cbErrs) != 1 || !errors.Is(cbErrs[0], store.ErrDuplicate) {
		t.Fatalf("callback errors = %v, want one ErrDuplicate", cbErrs)
	}
	mu.Unlock()
	// built on the writer: recorded; a nil run records nothing; a build
	// that panics fails alone and the journal goes on
	built := func(id string) func() (*store.Run, []store.LogLine) {
		return func() (*store.Run, []store.LogLine) {
			r := sampleRun(id, "wf", T0)
			r.Output = json.RawMessage(`{"data":{"token":"t-1","note":"` + secret + `"}}`)
			r.Steps = []store.StepRecord{{ID: "a", Status: store.RunSuccess, Started: T0, Output: json.RawMessage(`{"x":1}`)},
				{ID: "b", Status: store.RunSuccess, Started: T0, Output: r.Output}}
			return r, []store.LogLine{{Time: T0, Level: "info", Message: "built " + id}}
		}
	}
	must(t, store.RecordRunFunc(e.ctx, e.s, func() (*store.Run, []store.LogLine) { panic("boom") }, onErr))
	must(t, store.RecordRunFunc(e.ctx, e.s, func() (*store.Run, []store.LogLine) { return nil, nil }, onErr))
	must(t, store.RecordRunFunc(e.ctx, e.s, built("jb-1"), onErr))
	logs, err := e.s.Logs(e.ctx, "jb-1")
	must(t, err)
	if len(logs) != 1 || logs[0].Message != "built jb-1" {
		t.Fatalf("RecordRunFunc logs = %+v", logs)
	}
	jb, err := e.s.GetRun(e.ctx, "jb-1")
	must(t, err)
	cleaned := json.RawMessage(`{"data":{"token":"***","note":"***"}}`)
	assertJSONEqual(t, "built run's output", jb.Output, cleaned)
	if len(jb.Steps) != 2 {
		t.Fatalf("built run's steps = %+v", jb.Steps)
	}
	assertJSONEqual(t, "built run's first step output", jb.Steps[0].Output, json.RawMessage(`{"x":1}`))
	assertJSONEqual(t, "built run's last step output (the run's)", jb.Steps[1].Output, cleaned)
	mu.Lock()
	if len(cbErrs) != 2 || !strings.Contains(cbErrs[1].Error(), "panicked: boom") {
		t.Fatalf("callback errors = %v, want the duplicate then the panic", cbErrs)
	}
	mu.Unlock()
	// orchestrations are queued too and read back at once
	must(t, e.s.PutOrchestrations(e.ctx, "jb-1", []store.Orchestration{{Name: "post", Method: "POST", URL: "http://x/records", Status: 201}}))
	orch, err := e.s.Orchestrations(e.ctx, "jb-1")
	must(t, err)
	if len(orch) != 1 || orch[0].Status != 201 {
		t.Fatalf("orchestrations right after PutOrchestrations: %+v", orch)
	}
	wantErr(t, e.s.PutOrchestrations(e.ctx, "", nil), store.ErrInvalid)
	// queued then closed: written by Close
	for i := 0; i < 20; i++ {
		must(t, store.RecordRun(e.ctx, e.s, sampleRun(fmt.Sprintf("jc-%02d", i), "closing", T0), nil, onErr))
	}
	e.reopen()
	runs, err = e.s.ListRuns(e.ctx, store.RunFilter{Workflow: "closing"})
	must(t, err)
	if len(runs) != 20 {
		t.Fatalf("after Close and reopen: %d runs, want 20", len(runs))
	}
}

// testRecordCleanRun: a run its writer has already redacted (with a
// redactor covering the store's) is stored as handed, not redacted again
// (the whitespace the store's redaction would drop stays), yet still
// refused when a state is not JSON and capped when it is too big; its
// log lines keep the store's length cap.
func testRecordCleanRun(t *testing.T, e *env) {
	var mu sync.Mutex
	var cbErrs []error
	onErr := func(err error) { mu.Lock(); cbErrs = append(cbErrs, err); mu.Unlock() }
	clean := func(r *store.Run, logs []store.LogLine) func() (*store.Run, []store.LogLine) {
		return func() (*store.Run, []store.LogLine) { return r, logs }
	}
	r := sampleRun("clean-1", "wf", T0)
	r.Input = json.RawMessage(`{"data": {"n": 1}}`)
	r.Output = json.RawMessage(`{"data": {"n": 2}}`)
	r.Steps = []store.StepRecord{{ID: "a", Status: store.RunSuccess, Started: T0, Output: r.Output}}
	long := strings.Repeat("x", 20<<10)
	must(t, store.RecordCleanRunFunc(e.ctx, e.s, clean(r, []store.LogLine{{Time: T0, Level: "info", Message: long}}), onErr))
	big := sampleRun("clean-big", "wf", T0)
	big.Output = json.RawMessage(`{"blob":"` + strings.Repeat("y", 8000) + `"}`)
	must(t, store.RecordCleanRunFunc(e.ctx, e.s, clean(big, nil), onErr))
	bad := sampleRun("clean-bad", "wf", T0)
	bad.Output = json.RawMessage(`{"a":`)
	must(t, store.RecordCleanRunFunc(e.ctx, e.s, clean(bad, nil), onErr))

	got, err := e.s.GetRun(e.ctx, "clean-1")
	must(t, err)
	if string(got.Input) != `{"data": {"n": 1}}` || string(got.Output) != `{"data": {"n": 2}}` || string(got.Steps[0].Output) != `{"data": {"n": 2}}` {
		t.Fatalf("clean run's states were rewritten: input %s output %s step %s", got.Input, got.Output, got.Steps[0].Output)
	}
	logs, err := e.s.Logs(e.ctx, "clean-1")
	must(t, err)
	if len(logs) != 1 || len(logs[0].Message) >= len(long) || !strings.HasSuffix(logs[0].Message, "[truncated]") {
		t.Fatalf("clean run's long log line not capped: %d bytes", len(logs[0].Message))
	}
	got, err = e.s.GetRun(e.ctx, "clean-big")
	must(t, err)
	if _, ok := store.IsTruncated(got.Output); !ok {
		t.Fatalf("clean run's oversized output not capped: %d bytes", len(got.Output))
	}
	_, err = e.s.GetRun(e.ctx, "clean-bad")
	wantErr(t, err, store.ErrNotFound)
	mu.Lock()
	defer mu.Unlock()
	if len(cbErrs) != 1 || !errors.Is(cbErrs[0], store.ErrInvalid) {
		t.Fatalf("callback errors = %v, want one ErrInvalid for the run whose output is not JSON", cbErrs)
	}
}
