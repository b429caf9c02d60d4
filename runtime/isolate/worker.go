package isolate

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	goruntime "runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/hugepage"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/runtime"
)

// OptionsEnv carries WorkerOptions (JSON) from the mediator to a worker.
const OptionsEnv = "JM_WORKER_OPTIONS"

// Caps on what one run may send back, so a job that logs in a loop cannot
// make the mediator hold its output: the worker's memory is the run's
// budget, the mediator's is everyone's.
const (
	maxLogLine    = 64 << 10
	maxLogBytes   = 8 << 20
	maxStepOutput = 64 << 20 // step outputs kept for history, in total
)

// gcBallast is how much the heap may grow between collections beyond
// twice the live heap (see Serve).
const gcBallast = 16 << 20

// Runner runs one run of a workflow. The worker walks workflows with the
// workflow layer's walker over its own engine (workflow.NewLocal), which
// its caller hands in: the runtime imports nothing above it.
type Runner interface {
	Run(ctx context.Context, req runtime.RunRequest) *runtime.Result
}

// Serve is the worker process: it reads run requests from in, runs them one
// at a time in its own engine (warm VMs, compiled programs cached) with the
// runner walk makes of it, and writes log lines, exchanges and results to
// out. It returns when in is closed (the mediator went away) or after a run
// went over its memory budget (the mediator starts a fresh worker).
//
// side, when o.SideBudget is set, is the side pipe for log and exchange
// frames (frame.go); nil, they go to out.
func Serve(in io.Reader, out, side io.Writer, o WorkerOptions, walk func(*runtime.Engine) Runner) error {
	batchScheduling()
	hugepage.Reserve(hugepage.Size)
	eng := runtime.New(runtime.Options{Compat: o.Compat, PoolSize: 2, MaxStateBytes: o.MaxStateBytes, MaxInputBytes: o.MaxStateBytes})
	for _, w := range o.Warm {
		// A failure here shows again, with a proper error, in the run
		// that uses the adaptor.
		_ = eng.Warm(w.Adaptor, w.Compat)
	}
	// A worker's live heap is small (2-3 MB: compiled programs, warm VMs),
	// so with GOGC=100 the collector ran every 2 MB allocated, every few
	// runs, and cost more than the framing. The ballast counts as live
	// heap and moves the next goal up by its size; it is never written, so
	// it takes address space but no resident memory.
	ballast := make([]byte, gcBallast)
	defer goruntime.KeepAlive(ballast)
	wk := &worker{eng: eng, walker: walk(eng), w: bufio.NewWriterSize(out, 64<<10), wfs: map[uint64]*config.Workflow{}}
	if side != nil && o.SideBudget > 0 {
		wk.side, wk.sideBudget = bufio.NewWriterSize(side, 64<<10), o.SideBudget
	}
	if err := wk.send(kindHello, helloMsg{PID: os.Getpid(), Mem: memoryInUse()}); err != nil {
		return err
	}
	frames := make(chan frame, 4)
	readErr := make(chan error, 1)
	go func() {
		r := bufio.NewReaderSize(in, 64<<10)
		for {
			f, err := readFrame(r)
			if err != nil {
				close(frames)
				readErr <- err
				return
			}
			frames <- f
		}
	}()
	// Runs go to one long-lived goroutine: its stack, grown once to the
	// depth a job's VM needs, stays grown, where a goroutine per run grew a
	// fresh 8 KB stack by copying on every run (6% of a worker's CPU).
	type job struct {
		ctx    context.Context
		cancel context.CancelFunc
		m      runMsg
		input  json.RawMessage
	}
	jobs := make(chan job)
	done := make(chan bool, 1) // after each run: recycle the worker?
	defer close(jobs)
	go func() {
		for j := range jobs {
			recycle := wk.run(j.ctx, j.cancel, j.m, j.input)
			j.cancel()
			done <- recycle
		}
	}()
	var (
		cancel  context.CancelFunc
		running bool
	)
	for {
		select {
		case recycle := <-done:
			running, cancel = false, nil
			if recycle {
				return nil
			}
		case f, ok := <-frames:
			if !ok {
				if cancel != nil {
					cancel()
				}
				err := <-readErr
				if err == io.EOF {
					return nil
				}
				return err
			}
			switch f.kind {
			case kindWorkflow:
				var m workflowMsg
				if err := json.Unmarshal(f.hdr, &m); err != nil {
					return fmt.Errorf("workflow frame: %w", err)
				}
				wk.wfs[m.ID] = m.Workflow
			case kindCancel:
				if cancel != nil {
					cancel()
				}
			case kindRun:
				if running {
					// The mediator sends the next run as soon as it has read
					// the last one's result, which may be before we noticed.
					// (running and cancel are set for the new run below.)
					if <-done {
						return nil
					}
				}
				m, err := decodeRun(f.hdr)
				if err != nil {
					return fmt.Errorf("run frame: %w", err)
				}
				var input json.RawMessage
				if len(f.blobs) > 0 {
					input = f.blobs[0]
				}
				if len(f.blobs) > 1 && f.blobs[1] != nil {
					var c runContext
					if err := json.Unmarshal(f.blobs[1], &c); err != nil {
						return fmt.Errorf("run context: %w", err)
					}
					wk.creds, wk.red = c.Creds, redact.FromSnapshot(c.Secrets)
				}
				ctx, c := context.WithCancel(context.Background())
				if !m.Deadline.IsZero() {
					ctx, c = context.WithDeadline(context.Background(), m.Deadline)
				}
				cancel, running = c, true
				jobs <- job{ctx: ctx, cancel: c, m: m, input: input}
			}
		}
	}
}

type worker struct {
	eng    *runtime.Engine
	walker Runner
	wmu    sync.Mutex
	w      *bufio.Writer
	wfs    map[uint64]*config.Workflow
	// side is the side pipe (nil: none); sideUnread counts the bytes
	// written there since the last frame on the main pipe, before which the
	// mediator reads it all.
	side       *bufio.Writer
	sideBudget int
	sideUnread int
	// creds and red are the last run context sent (runContext): a run
	// frame without one reuses them.
	creds map[string]map[string]any
	red   *redact.Redactor
}

func (wk *worker) send(kind byte, hdr any, blobs ...[]byte) error {
	h, err := json.Marshal(hdr)
	if err != nil {
		return err
	}
	return wk.sendRaw(kind, h, blobs...)
}

// sendRaw sends a frame on the main pipe, its header encoded.
func (wk *worker) sendRaw(kind byte, h []byte, blobs ...[]byte) error {
	wk.wmu.Lock()
	defer wk.wmu.Unlock()
	wk.sideUnread = 0
	return writeFrameHeader(wk.w, kind, h, blobs...)
}

// sendDone reports a run's result.
func (wk *worker) sendDone(d doneMsg, blobs ...[]byte) error {
	h, err := encodeDone(d)
	if err != nil { // an error's details that are not JSON
		h, _ = encodeDone(doneMsg{Status: runtime.StatusCrashed, Recycle: d.Recycle, Mem: d.Mem, Error: &runtime.Error{Name: "WorkerError", Severity: "crash", Source: "runtime",
			Message: "the run's result could not be encoded: " + err.Error()}})
		blobs = nil
	}
	return wk.sendRaw(kindDone, h, blobs...)
}

// stream sends a log line or an exchange: on the side pipe when there is
// one, with a nudge first when the pipe may be filling up (the mediator
// reads it then, while this frame is written).
func (wk *worker) stream(kind byte, h []byte) error {
	if wk.side == nil {
		return wk.sendRaw(kind, h)
	}
	wk.wmu.Lock()
	defer wk.wmu.Unlock()
	n := frameSize(h)
	if wk.sideUnread > 0 && wk.sideUnread+n > wk.sideBudget {
		if err := writeFrame(wk.w, kindNudge, struct{}{}); err != nil {
			return err
		}
		wk.sideUnread = 0
	}
	wk.sideUnread += n
	return writeFrameHeader(wk.side, kind, h)
}

// run executes one run and reports it; it returns true when the worker
// must exit afterwards.
func (wk *worker) run(ctx context.Context, cancel context.CancelFunc, m runMsg, input json.RawMessage) bool {
	wf := wk.wfs[m.Workflow]
	if wf == nil {
		_ = wk.sendDone(doneMsg{Status: runtime.StatusCrashed, Error: &runtime.Error{Name: "WorkerError", Severity: "crash", Source: "runtime",
			Message: "the worker was not sent the workflow definition"}})
		return false
	}
	// The run's redactor learns its steps' configuration: a clone, so
	// nothing of this run's stays for the next.
	var red *redact.Redactor
	if wk.red != nil {
		red = wk.red.Clone()
	} else {
		red = redact.New()
	}
	creds := wk.creds
	rec := recorder.NewRecorder(red)
	rec.OnAdd = func(ex recorder.Exchange) { _ = wk.stream(kindExchange, encodeExchange(ex)) }
	var logBytes atomic.Int64
	var logCut atomic.Bool
	g := guard(m.Limit, cancel)
	res := wk.walker.Run(ctx, runtime.RunRequest{
		Workflow: wf, Compat: m.Compat, Trigger: m.Trigger, Start: m.Start, Input: input, RunID: m.RunID,
		Credential: func(key string) (map[string]any, bool) { c, ok := creds[key]; return c, ok },
		HTTP:       recorder.NewClient(nil, rec),
		Redactor:   red,
		Log: func(l runtime.LogLine) {
			if len(l.Message) > maxLogLine {
				l.Message = l.Message[:maxLogLine] + fmt.Sprintf("… [%d bytes cut by jobmediator]", len(l.Message)-maxLogLine)
			}
			if logBytes.Add(int64(len(l.Message))) > maxLogBytes {
				if logCut.CompareAndSwap(false, true) {
					l = runtime.LogLine{Time: l.Time, Level: "warn", Step: l.Step,
						Message: fmt.Sprintf("the run logged more than %d MB; further lines are dropped", maxLogBytes>>20)}
				} else {
					return
				}
			}
			_ = wk.stream(kindLog, encodeLog(l))
		},
	})
	over := g.stop()
	d := doneMsg{Status: res.Status, Steps: res.Steps, Error: res.Error, Props: rec.Properties(), Mem: memoryInUse()}
	if over {
		d.Status, d.Error, d.Recycle = runtime.StatusCrashed, MemoryLimitError(m.Limit), true
		if n := len(d.Steps); n > 0 {
			e := *d.Error
			e.Step = d.Steps[n-1].ID
			d.Steps[n-1].Status, d.Steps[n-1].Error = runtime.StatusCrashed, &e
			d.Error.Step = e.Step
		}
		d.Props = nil
		res.State = nil
		res.Reached = nil
	}
	blobs := [][]byte{res.State}
	kept := 0
	for i, s := range res.Steps {
		out := []byte(s.Output)
		if kept += len(out); kept > maxStepOutput {
			out = nil
		}
		blobs = append(blobs, out)
		if s.Reached != nil && res.Reached != nil && d.Reached == 0 {
			d.Reached = i + 1
		}
	}
	// The state the failing operation was handed (what `jobmediator run`
	// writes when there is no final state), under the same budget as the
	// step outputs.
	if d.Reached > 0 {
		if kept += len(res.Reached); kept > maxStepOutput {
			d.Reached = 0
		} else {
			blobs = append(blobs, []byte(res.Reached))
		}
	}
	_ = wk.sendDone(d, blobs...)
	return over
}

// MemoryLimitError is how a run over its memory budget ends.
func MemoryLimitError(limit int64) *runtime.Error {
	return &runtime.Error{Name: "MemoryLimitError", Severity: "kill", Source: "runtime",
		Message: fmt.Sprintf("run used more than %s; raise `memory_limit` for this workflow", formatBytes(limit))}
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%d MB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// memGuard watches the worker's heap while a run is going. The worker runs
// one run at a time, so everything the heap grew by since the run started
// is the run's.
//
// It is a timer that re-arms itself rather than a goroutine with a ticker:
// a routed run is over long before the first check, and then nothing was
// started, woken or waited for (a goroutine, its ticker and the channel
// handshake at stop cost every run a scheduler round trip).
type memGuard struct {
	base, limit int64
	cancel      context.CancelFunc
	mu          sync.Mutex // check against stop
	t           *time.Timer
	stopped     bool
	over        atomic.Bool
}

// guardEvery is how often a run's heap is checked (a variable for a test).
var guardEvery = 5 * time.Millisecond

var heapSample = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}

var memSample = []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}

// memoryInUse is what the Go runtime holds of the OS's memory and has not
// given back, less the ballast (never written, so never resident): the
// worker's resident memory as the mediator's backstop sees it, without
// the mediator reading /proc before every run.
func memoryInUse() int64 {
	sampleMu.Lock()
	defer sampleMu.Unlock()
	metrics.Read(memSample)
	n := int64(memSample[0].Value.Uint64()) - int64(memSample[1].Value.Uint64()) - gcBallast //nolint:gosec // G115: byte counts of this process
	return max(n, 0)
}

var sampleMu sync.Mutex

// lastASLimit is the run budget the address-space limit was last set for
// (runs are one at a time, so no lock).
var lastASLimit int64

func heapObjects() int64 {
	sampleMu.Lock()
	defer sampleMu.Unlock()
	metrics.Read(heapSample)
	return int64(heapSample[0].Value.Uint64()) //nolint:gosec // G115: a count of heap objects
}

// guard sets Go's soft memory limit and the OS address-space limit for a
// run that may use limit bytes, and cancels the run when its heap passes
// the limit. Allocations too big to make at all (a 1 TB ArrayBuffer) hit the
// address-space limit instead; the Go runtime then ends the worker, and the
// mediator reports the same MemoryLimitError.
func guard(limit int64, cancel context.CancelFunc) *memGuard {
	g := &memGuard{limit: limit, cancel: cancel}
	if limit <= 0 {
		return g
	}
	// No GC here: it would cost every routed request milliseconds. The base
	// then includes the last run's garbage, which only makes it generous.
	g.base = heapObjects()
	// The GC works harder as the heap nears the budget, so a run that
	// churns garbage stays under it; only live data can pass it.
	debug.SetMemoryLimit(g.base + 2*limit)
	if limit != lastASLimit {
		setAddressSpaceLimit(limit)
		lastASLimit = limit
	}
	// under the lock: a check that fires before g.t is set (a worker
	// descheduled for 5 ms on a busy machine) waits for it
	g.mu.Lock()
	g.t = time.AfterFunc(guardEvery, g.check)
	g.mu.Unlock()
	return g
}

// check runs on the timer's goroutine: it cancels the run whose live heap
// passed the limit, or checks again later.
func (g *memGuard) check() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return
	}
	if heapObjects()-g.base > g.limit {
		goruntime.GC() // garbage is not usage: count what is live
		if heapObjects()-g.base > g.limit {
			g.over.Store(true)
			g.cancel()
			return
		}
	}
	g.t.Reset(guardEvery)
}

// stop ends the watch and says whether the run went over its limit. A check
// under way finishes first (the lock), so none runs after stop returns.
func (g *memGuard) stop() bool {
	g.mu.Lock()
	g.stopped = true
	if g.t != nil {
		g.t.Stop()
	}
	g.mu.Unlock()
	return g.over.Load()
}
