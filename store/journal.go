package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Run history leaves the request path through a journal: RecordRun queues
// a finished run with its log lines and returns at once; one writer
// goroutine commits whatever has queued up in a single write (one bbolt
// transaction and fsync, or one InsertMany per collection on MongoDB), so
// no request waits for a disk write of its history.
//
// A commit costs nearly the same for one run as for fifty (bbolt rewrites
// the same few pages and syncs once), so the writer does not commit the
// moment a run arrives: it lingers up to JournalLinger after the first run
// of a batch is queued, or until JournalBatch runs have queued, whichever
// comes first. Under routed load (~1,000 runs/s) a commit then carries
// about twenty runs instead of one or two, which is most of what history
// costs per run: a commit's two fdatasyncs and the fifteen-odd pages it
// rewrites (each history bucket's branch pages and last leaf, the root)
// cost the writer ~250 us of CPU however few runs it carries. Anyone who must see the queued history (a read, a queue
// transition, Close) cuts the linger short instead of waiting it out.
//
// What a crash can lose is only history of runs whose answer has gone out
// while their commit was still queued or in flight: the runs answered in
// the last JournalLinger plus one commit (normally ~20-25 ms), at most
// JournalMax, and only for synchronous routed runs, which OpenHIM core
// records anyway. Nothing else is deferred: queue messages (an async
// request's 202 is sent after its Enqueue has committed), cursors and
// leases are written synchronously, and every queue transition (Complete,
// Fail, DeadLetter) first waits for the history queued before it, so a
// message is never marked done ahead of its run's history.
//
// Reads wait for the history queued before them (read-your-writes): a
// client that got its answer and then asks GET /api/runs finds its run.

// JournalLinger is how long the journal's writer waits, from the first run
// of a batch, for more runs before it commits them: the bound on how much
// synchronous-run history a crash can lose, on top of the commit in flight.
// It was 10 ms: at 20 ms the writer commits half as often, which took
// ~10% off the daemon's CPU per routed request (hello-upstream, jobs in
// workers, closed loop 16: median 202 -> 177 us over six paired runs).
const JournalLinger = 20 * time.Millisecond

// JournalMax is how many finished runs may wait for their commit; RecordRun
// blocks beyond it, so a store that cannot keep up slows the answers down
// instead of growing the queue without bound.
const JournalMax = 4096

// JournalBatch is how many queued runs make the writer commit without
// waiting out JournalLinger (a commit of this many already costs little
// per run).
const JournalBatch = 256

// batchRecorder is implemented by stores that write many runs at once.
// It sets rec.err for a run that could not be written (e.g. a duplicate
// ID) and returns an error only when the whole batch failed.
type batchRecorder interface {
	recordRuns(ctx context.Context, recs []*runRecord) error
}

type runRecord struct {
	// orchRun, when set, makes this a PutOrchestrations of orch instead
	// of a run (the console's record of a run's outbound calls).
	orchRun string
	orch    []Orchestration

	build func() (*Run, []LogLine) // when set, makes run and logs on the writer
	// clean: the writer redacted run and logs with a redactor covering
	// the store's (RecordCleanRunFunc)
	clean bool
	run   *Run
	logs  []LogLine
	onErr func(error)
	err   error
}

// batch is one generation of the journal: done is closed once every run
// queued in it has been written (or has failed).
type batch struct {
	recs  []*runRecord
	first time.Time // when its first run was queued
	done  chan struct{}
}

// journal wraps a Store with the run history queue; every other method
// passes through.
type journal struct {
	Store

	mu       sync.Mutex
	space    *sync.Cond
	cur      *batch // collecting
	inflight *batch // being written
	closed   bool
	// hurry: someone waits for cur (a read, a queue transition), so the
	// writer commits it without lingering
	hurry   bool
	linger  time.Duration
	errLog  func(error) // hears about queued writes without a callback of their own
	wake    chan struct{}
	stopped chan struct{}
}

func newJournal(s Store, linger time.Duration) *journal {
	j := &journal{Store: s, cur: &batch{done: make(chan struct{})}, linger: linger, wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	j.space = sync.NewCond(&j.mu)
	go j.writer()
	return j
}

// RecordRun stores a finished run and its log lines, as run history does.
// On a store opened by Open it returns once the run is queued: the run is
// written by the next group commit, and onErr (may be nil) hears about a
// run that could not be written. Other stores write it before returning.
func RecordRun(ctx context.Context, s Store, r *Run, logs []LogLine, onErr func(error)) error {
	if j, ok := s.(*journal); ok {
		return j.record(r, logs, onErr)
	}
	if err := s.CreateRun(ctx, r); err != nil {
		return err
	}
	if len(logs) == 0 {
		return nil
	}
	return s.AppendLogs(ctx, r.ID, logs)
}

// RecordRunFunc is RecordRun with the run built by build: a journal calls
// it on its writer goroutine, right before the commit, so whatever build
// costs (cleaning and redacting states) is off the caller's path. build
// must only read what no longer changes; a nil run records nothing.
func RecordRunFunc(ctx context.Context, s Store, build func() (*Run, []LogLine), onErr func(error)) error {
	if j, ok := s.(*journal); ok {
		return j.enqueue(&runRecord{build: build, onErr: onErr})
	}
	r, logs := build()
	if r == nil {
		return nil
	}
	return RecordRun(ctx, s, r, logs, onErr)
}

// RecordCleanRunFunc is RecordRunFunc for a run whose states, error texts
// and log lines build has already redacted with a redactor that covers the
// store's: the store's own (Config.Redactor) or a Clone of it that also
// knows the run's secrets, as the executor's run redactor is. The journal
// then does not redact them a second time (the store's pass over a routed
// run's states was a seventh of the isolated daemon's CPU): it still
// checks that the states are JSON and caps them. Every other way in
// (CreateRun, UpdateRun, AppendLogs, RecordRun, RecordRunFunc, and the
// run-by-run retry of a failed batch) keeps the store's redaction.
func RecordCleanRunFunc(ctx context.Context, s Store, build func() (*Run, []LogLine), onErr func(error)) error {
	if j, ok := s.(*journal); ok {
		return j.enqueue(&runRecord{build: build, clean: true, onErr: onErr})
	}
	return RecordRunFunc(ctx, s, build, onErr)
}

func (j *journal) record(r *Run, logs []LogLine, onErr func(error)) error {
	if r == nil {
		return invalid("run is nil")
	}
	if r.ID == "" {
		r.ID = NewID()
	}
	return j.enqueue(&runRecord{run: r, logs: logs, onErr: onErr})
}

func (j *journal) enqueue(rec *runRecord) error {
	j.mu.Lock()
	for len(j.cur.recs) >= JournalMax && !j.closed {
		j.space.Wait()
	}
	if j.closed {
		j.mu.Unlock()
		return ErrClosed
	}
	j.cur.recs = append(j.cur.recs, rec)
	n := len(j.cur.recs)
	if n == 1 {
		j.cur.first = time.Now()
	}
	j.mu.Unlock()
	// The writer needs waking only to start a linger or to end one early:
	// waking it for every run would cost a goroutine switch per run.
	if n == 1 || n == JournalBatch {
		j.poke()
	}
	return nil
}

func (j *journal) poke() {
	select {
	case j.wake <- struct{}{}:
	default:
	}
}

// flush waits until every run queued before the call has been written.
func (j *journal) flush(ctx context.Context) error {
	j.mu.Lock()
	var wait *batch
	hurry := false
	switch {
	case len(j.cur.recs) > 0:
		wait = j.cur
		hurry, j.hurry = true, true
	case j.inflight != nil:
		wait = j.inflight
	}
	j.mu.Unlock()
	if wait == nil {
		return nil
	}
	if hurry {
		j.poke()
	}
	select {
	case <-wait.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (j *journal) writer() {
	defer close(j.stopped)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	for {
		j.mu.Lock()
		for len(j.cur.recs) == 0 && !j.closed {
			j.mu.Unlock()
			<-j.wake
			j.mu.Lock()
		}
		if len(j.cur.recs) == 0 && j.closed {
			j.mu.Unlock()
			return
		}
		if !j.closed && !j.hurry && len(j.cur.recs) < JournalBatch {
			if wait := j.linger - time.Since(j.cur.first); wait > 0 {
				j.mu.Unlock()
				linger.Reset(wait)
				select {
				case <-linger.C:
				case <-j.wake:
					linger.Stop()
				}
				continue
			}
		}
		b := j.cur
		j.cur = &batch{done: make(chan struct{})}
		j.hurry = false
		j.inflight = b
		j.space.Broadcast()
		j.mu.Unlock()

		j.write(b.recs)

		j.mu.Lock()
		j.inflight = nil
		j.mu.Unlock()
		close(b.done)
	}
}

// write commits one batch: all at once when the store can, else (or when
// the batch as a whole failed) run by run, so one bad run costs only itself.
func (j *journal) write(all []*runRecord) {
	ctx := context.Background()
	recs := all[:0:0]
	for _, rec := range all {
		if rec.orchRun != "" {
			recs = append(recs, rec)
			continue
		}
		if rec.build != nil {
			if err := rec.runBuild(); err != nil {
				j.report(rec, err)
				continue
			}
			if rec.run == nil {
				continue
			}
			if rec.run.ID == "" {
				rec.run.ID = NewID()
			}
		}
		recs = append(recs, rec)
	}
	if br, ok := j.Store.(batchRecorder); ok {
		if err := br.recordRuns(ctx, recs); err == nil {
			for _, rec := range recs {
				if rec.err != nil {
					j.report(rec, rec.err)
				}
			}
			return
		}
		for _, rec := range recs {
			rec.err = nil
		}
	}
	for _, rec := range recs {
		var err error
		if rec.orchRun != "" {
			err = j.Store.PutOrchestrations(ctx, rec.orchRun, rec.orch)
		} else {
			err = j.Store.CreateRun(ctx, rec.run)
			if err == nil && len(rec.logs) > 0 {
				err = j.Store.AppendLogs(ctx, rec.run.ID, rec.logs)
			}
		}
		if err != nil && !errors.Is(err, ErrDuplicate) {
			j.report(rec, err)
		}
	}
}

// report hands a failed queued write to its callback, or to the journal's
// error log.
func (j *journal) report(rec *runRecord, err error) {
	switch {
	case rec.onErr != nil:
		rec.onErr(err)
	case j.errLog != nil:
		j.errLog(err)
	}
}

// OnJournalError sets who hears about queued writes that failed and had no
// callback of their own (the console's orchestrations): the daemon's log.
// It does nothing for a store not opened by Open.
func OnJournalError(s Store, fn func(error)) {
	if j, ok := s.(*journal); ok {
		j.mu.Lock()
		j.errLog = fn
		j.mu.Unlock()
	}
}

// PutOrchestrations is queued like run history (the console records every
// routed run's outbound calls: a commit of its own per request would put
// an fsync back in the request path). Orchestrations reads wait for it.
func (j *journal) PutOrchestrations(ctx context.Context, runID string, o []Orchestration) error {
	if runID == "" {
		return invalid("orchestrations need a run id")
	}
	return j.enqueue(&runRecord{orchRun: runID, orch: o})
}

func (j *journal) Orchestrations(ctx context.Context, runID string) ([]Orchestration, error) {
	if err := j.flush(ctx); err != nil {
		return nil, err
	}
	return j.Store.Orchestrations(ctx, runID)
}

// Close writes what is queued, then closes the store.
func (j *journal) Close() error {
	j.mu.Lock()
	already := j.closed
	j.closed = true
	j.space.Broadcast()
	j.mu.Unlock()
	if !already {
		j.poke()
		<-j.stopped
	}
	return j.Store.Close()
}

// Reads and writes that must see (or follow) the queued history wait for
// it first; the wait is nothing when the queue is empty.

func (j *journal) CreateRun(ctx context.Context, r *Run) error {
	if err := j.flush(ctx); err != nil {
		return err
	}
	return j.Store.CreateRun(ctx, r)
}

func (j *journal) UpdateRun(ctx context.Context, r *Run) error {
	if err := j.flush(ctx); err != nil {
		return err
	}
	return j.Store.UpdateRun(ctx, r)
}

func (j *journal) GetRun(ctx context.Context, id string) (*Run, error) {
	if err := j.flush(ctx); err != nil {
		return nil, err
	}
	return j.Store.GetRun(ctx, id)
}

func (j *journal) ListRuns(ctx context.Context, f RunFilter) ([]*Run, error) {
	if err := j.flush(ctx); err != nil {
		return nil, err
	}
	return j.Store.ListRuns(ctx, f)
}

func (j *journal) FindRunByTransaction(ctx context.Context, txID string) (*Run, error) {
	if err := j.flush(ctx); err != nil {
		return nil, err
	}
	return j.Store.FindRunByTransaction(ctx, txID)
}

func (j *journal) AppendLogs(ctx context.Context, runID string, lines []LogLine) error {
	if err := j.flush(ctx); err != nil {
		return err
	}
	return j.Store.AppendLogs(ctx, runID, lines)
}

func (j *journal) Logs(ctx context.Context, runID string) ([]LogLine, error) {
	if err := j.flush(ctx); err != nil {
		return nil, err
	}
	return j.Store.Logs(ctx, runID)
}

func (j *journal) Complete(ctx context.Context, id, owner string) error {
	if err := j.flush(ctx); err != nil {
		return err
	}
	return j.Store.Complete(ctx, id, owner)
}

func (j *journal) Fail(ctx context.Context, id, owner, errMsg string, next time.Time) (*Message, error) {
	if err := j.flush(ctx); err != nil {
		return nil, err
	}
	return j.Store.Fail(ctx, id, owner, errMsg, next)
}

func (j *journal) DeadLetter(ctx context.Context, id, owner, reason string) error {
	if err := j.flush(ctx); err != nil {
		return err
	}
	return j.Store.DeadLetter(ctx, id, owner, reason)
}

func (j *journal) Cull(ctx context.Context, olderThan time.Time, keepMax int) (int, error) {
	if err := j.flush(ctx); err != nil {
		return 0, err
	}
	return j.Store.Cull(ctx, olderThan, keepMax)
}

func (j *journal) Ping(ctx context.Context) error { return j.Store.Ping(ctx) }

// CullAccounts drops the orchestrations of runs missing from the history:
// queued runs must be there first.
func (j *journal) CullAccounts(ctx context.Context, now time.Time) (int, error) {
	if err := j.flush(ctx); err != nil {
		return 0, err
	}
	return j.Store.CullAccounts(ctx, now)
}

// prepareBatch sanitises the runs of a batch for recordRuns (orchestration
// records are left to the store): the runs that can be
// written, their cleaned log lines, and an error per run whose log lines
// were refused (the run itself is still written, as CreateRun then
// AppendLogs would). A run refused outright gets rec.err and is left out.
func prepareBatch(san sanitizer, recs []*runRecord) (ready []*runRecord, logs [][]LogLine, logErrs []error) {
	for _, rec := range recs {
		if rec.orchRun != "" {
			continue
		}
		z := san
		if rec.clean {
			z = san.redacted()
		}
		if rec.err = z.run(rec.run); rec.err != nil {
			continue
		}
		l, err := z.logs(rec.run.ID, rec.logs)
		ready, logs, logErrs = append(ready, rec), append(logs, l), append(logErrs, err)
	}
	return ready, logs, logErrs
}

// runBuild calls build; a panic in it fails this run, not the writer (and
// with it the process).
func (rec *runRecord) runBuild() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: building the run record panicked: %v", p)
		}
	}()
	rec.run, rec.logs = rec.build()
	return nil
}
