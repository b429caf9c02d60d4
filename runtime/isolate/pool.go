// Package isolate runs workflows in worker processes, so that no job can
// take the mediator down: each worker is the same binary (`jobmediator
// worker`), runs one run at a time with an OS address-space limit and a Go
// memory limit, keeps its compiled programs and warm VMs between runs, and
// makes the adaptors' HTTP and SQL calls itself. A run that goes over its
// memory budget ends as MemoryLimitError, alone; a worker that dies is
// replaced; every other run in flight goes on in its own worker.
//
// The mediator talks to a worker over two pipes with the framing in
// frame.go: state travels once, as the JSON bytes both sides already have.
package isolate

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/procstat"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/runtime"
)

// Options configure a Pool. Zero values mean the documented defaults.
type Options struct {
	// Command starts a worker; default: this executable with "worker".
	Command []string
	// Env is added to the worker's environment.
	Env []string
	// Size is how many runs may go at once (one worker each); default 10,
	// the default routed (8) plus scheduled (2) lanes.
	Size int
	// Warm is how many workers are started ahead of the first run and kept
	// ready; default 2.
	Warm int
	// Worker configures each worker's engine.
	Worker WorkerOptions
	// MemoryLimit is a run's budget when its workflow sets none; default
	// 512 MiB.
	MemoryLimit int64
	// Redactor is used when a request brings none.
	Redactor *redact.Redactor
	Logger   logrus.FieldLogger
}

// Pool is a supervised set of worker processes; it implements the
// channels' Runner.
type Pool struct {
	o     Options
	slots chan struct{} // one per run in flight
	// idle workers, the one used last on top: a run goes to the worker
	// whose caches (CPU, its VMs' pages, its keep-alive connections
	// upstream) are warmest, and under light load most workers rest.
	idleMu sync.Mutex
	idle   []*proc
	wfMu   sync.Mutex
	wfIDs  map[*config.Workflow]uint64
	wfSeq  uint64

	closed atomic.Bool
	mu     sync.Mutex
	all    map[*proc]struct{}
}

// New starts the warm workers and returns the pool. An error means no
// worker could start (a broken binary, no fork allowed): the mediator must
// not start.
func New(o Options) (*Pool, error) {
	if len(o.Command) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("isolate: finding the worker binary: %w", err)
		}
		o.Command = []string{exe, "worker"}
	}
	if o.Size <= 0 {
		o.Size = 10
	}
	if o.Warm <= 0 {
		o.Warm = 2
	}
	if o.Warm > o.Size {
		o.Warm = o.Size
	}
	if o.MemoryLimit <= 0 {
		o.MemoryLimit = config.DefaultMemoryLimit
	}
	if o.Redactor == nil {
		o.Redactor = redact.New()
	}
	if o.Logger == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		o.Logger = l
	}
	p := &Pool{o: o, slots: make(chan struct{}, o.Size),
		wfIDs: map[*config.Workflow]uint64{}, all: map[*proc]struct{}{}}
	for i := 0; i < o.Warm; i++ {
		w, err := p.spawn()
		if err != nil {
			_ = p.Close() // the spawn error is the one to report
			return nil, err
		}
		p.putIdle(w)
	}
	return p, nil
}

// closeGrace is how long Close waits for workers to exit on their own.
const closeGrace = 2 * time.Second

// Close stops every worker. Runs still in flight end as crashed. Workers
// are told first (their request pipe closes, as when the mediator dies)
// and given closeGrace to exit, so they end cleanly (a worker's CPU
// profile is written then); those still there are killed.
func (p *Pool) Close() error {
	p.closed.Store(true)
	p.mu.Lock()
	ws := make([]*proc, 0, len(p.all))
	for w := range p.all {
		ws = append(ws, w)
	}
	p.mu.Unlock()
	for _, w := range ws {
		w.wmu.Lock()
		_ = w.to.Close()
		w.wmu.Unlock()
	}
	grace := time.NewTimer(closeGrace)
	defer grace.Stop()
	for _, w := range ws {
		select {
		case <-w.exited:
		case <-grace.C:
			grace.Reset(0) // the rest are killed without waiting
		}
		w.kill()
		w.side.close()
	}
	return nil
}

// Workers is how many worker processes are alive (metrics, tests).
func (p *Pool) Workers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.all)
}

func (p *Pool) take() (*proc, error) {
	for {
		p.idleMu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.idleMu.Unlock()
			return p.spawn()
		}
		w := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.idleMu.Unlock()
		if w.alive() {
			return w, nil
		}
		p.forget(w)
	}
}

// putIdle keeps w for the next run; false when Size workers are idle
// already (a replacement raced a spawn).
func (p *Pool) putIdle(w *proc) bool {
	p.idleMu.Lock()
	defer p.idleMu.Unlock()
	if len(p.idle) >= p.o.Size {
		return false
	}
	p.idle = append(p.idle, w)
	return true
}

func (p *Pool) forget(w *proc) {
	p.mu.Lock()
	delete(p.all, w)
	p.mu.Unlock()
	w.side.close()
}

// replace starts a worker in the background to keep Warm workers ready
// after one died.
func (p *Pool) replace() {
	if p.closed.Load() || p.Workers() >= p.o.Warm {
		return
	}
	go func() {
		w, err := p.spawn()
		if err != nil {
			p.o.Logger.WithError(err).Warn("could not start a replacement worker; the next run starts one")
			return
		}
		if !p.putIdle(w) {
			w.kill()
			p.forget(w)
		}
	}()
}

// Run executes a workflow in a worker; it implements workflow.Runner and
// never panics: every failure, including the worker's death, is a Result.
func (p *Pool) Run(ctx context.Context, req runtime.RunRequest) *runtime.Result {
	select {
	case p.slots <- struct{}{}:
		defer func() { <-p.slots }()
	case <-ctx.Done():
		return crashed(&runtime.Error{Name: "CancelledError", Severity: "kill", Source: "runtime", Message: "the run was cancelled while waiting for a worker"}, nil)
	}
	if req.Workflow == nil || len(req.Workflow.Jobs) == 0 {
		return crashed(&runtime.Error{Name: "ValidationError", Severity: "crash", Source: "runtime", Message: "the workflow has no jobs"}, nil)
	}
	w, err := p.take()
	if err != nil {
		return crashed(&runtime.Error{Name: "WorkerError", Severity: "crash", Source: "runtime", Message: "could not start a worker process: " + err.Error()}, nil)
	}
	res, healthy := p.runIn(ctx, w, req)
	if healthy && !p.closed.Load() && p.putIdle(w) {
		return res
	}
	w.kill()
	p.forget(w)
	p.replace()
	return res
}

func crashed(e *runtime.Error, logs []runtime.LogLine) *runtime.Result {
	return &runtime.Result{Status: runtime.StatusCrashed, Error: e, Logs: logs}
}

// workflowID numbers each workflow definition once; a worker is sent a
// definition the first time it runs it. The map is bounded: workflows made
// per run (reruns from a step) would otherwise grow it for ever.
func (p *Pool) workflowID(wf *config.Workflow) (uint64, bool) {
	p.wfMu.Lock()
	defer p.wfMu.Unlock()
	if id, ok := p.wfIDs[wf]; ok {
		return id, false
	}
	if len(p.wfIDs) >= 4096 {
		p.wfIDs = map[*config.Workflow]uint64{}
	}
	p.wfSeq++
	p.wfIDs[wf] = p.wfSeq
	return p.wfSeq, true
}

// grace is how long a worker may take to report after the run's deadline
// or a cancel before it is killed.
const grace = 10 * time.Second

func (p *Pool) runIn(ctx context.Context, w *proc, req runtime.RunRequest) (*runtime.Result, bool) {
	wf := req.Workflow
	limit := wf.Options.MemoryLimit
	if limit <= 0 {
		limit = p.o.MemoryLimit
	}
	id, _ := p.workflowID(wf)
	if !w.wfs[id] {
		if err := w.send(kindWorkflow, workflowMsg{ID: id, Workflow: wf}); err != nil {
			return p.died(w, limit, nil), false
		}
		w.wfs[id] = true
	}
	red := req.Redactor
	if red == nil {
		red = p.o.Redactor
	}
	m := runMsg{Workflow: id, Compat: req.Compat, Trigger: req.Trigger, Start: req.Start, RunID: req.RunID, Limit: limit}
	if dl, ok := ctx.Deadline(); ok {
		m.Deadline = dl
	}
	var creds map[string]map[string]any
	if req.Credential != nil {
		for _, j := range wf.Jobs {
			if j.Credential == "" {
				continue
			}
			if c, ok := req.Credential(j.Credential); ok {
				if creds == nil {
					creds = map[string]map[string]any{}
				}
				creds[j.Credential] = c
			}
		}
	}
	credsJSON, err := json.Marshal(creds)
	if err != nil {
		return crashed(&runtime.Error{Name: "CredentialError", Severity: "crash", Source: "runtime", Message: "the run's credentials are not JSON: " + err.Error()}, nil), true
	}
	// The secrets snapshot (every form of every secret) is only taken and
	// encoded when the redactor's fingerprint differs from what this
	// worker was sent last; a new worker has seen nothing.
	var rcJSON []byte
	if fp := red.Fingerprint(); w.rcSent == nil || fp != w.redSent || !bytes.Equal(credsJSON, w.credsSent) {
		if rcJSON, err = json.Marshal(runContext{Secrets: red.Snapshot(), Creds: creds}); err != nil {
			return crashed(&runtime.Error{Name: "CredentialError", Severity: "crash", Source: "runtime", Message: "the run's credentials are not JSON: " + err.Error()}, nil), true
		}
		if bytes.Equal(rcJSON, w.rcSent) {
			rcJSON = nil // equal after all (a secret past the form cache)
		} else {
			w.rcSent = rcJSON
		}
		w.redSent, w.credsSent = fp, credsJSON
	}
	if err := w.sendRaw(kindRun, encodeRun(m), req.Input, rcJSON); err != nil {
		return p.died(w, limit, nil), false
	}
	var logs []runtime.LogLine
	// The worker enforces the budget itself; this is the backstop for a
	// worker too busy to (a GC death spiral): twice the budget in resident
	// memory, plus the runtime's own (and what it does not count: code,
	// the ballast's page tables), above what the worker held at its last
	// report.
	rssCap := w.mem + 2*limit + 256<<20
	// stream passes on a log line or an exchange as it comes, from either
	// pipe.
	stream := func(f frame) {
		switch f.kind {
		case kindLog:
			if l, err := decodeLog(f.hdr); err == nil {
				logs = append(logs, l)
				if req.Log != nil {
					req.Log(l)
				}
			}
		case kindExchange:
			if req.HTTP != nil && req.HTTP.Rec != nil {
				if ex, err := decodeExchange(f.hdr); err == nil {
					req.HTTP.Rec.AddRedacted(ex)
				}
			}
		}
	}
	// drain reads what the worker wrote on the side pipe so far: before a
	// frame of the main pipe (the worker wrote those first), on every tick
	// (the console streams a long run's logs), after a death.
	drain := func() {
		if w.side == nil {
			return
		}
		w.sideBuf = w.side.read(w.sideBuf)
		fs, rest, err := splitFrames(w.sideBuf)
		for _, f := range fs {
			stream(f)
		}
		if err != nil {
			p.o.Logger.WithError(err).WithField("pid", w.cmd.Process.Pid).Error("unreadable frame on a worker's side pipe; the worker is stopped")
			w.side.close()
			w.kill()
			rest = nil
		}
		if len(rest) == 0 && cap(w.sideBuf) > 1<<20 {
			w.sideBuf = nil // a run that logged megabytes: do not keep its buffer
			return
		}
		w.sideBuf = append(w.sideBuf[:0], rest...)
	}
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	done := ctx.Done()
	var killAt <-chan time.Time
	for {
		select {
		case f, ok := <-w.frames:
			if !ok {
				w.waitExit()
				drain()
				return p.died(w, limit, logs), false
			}
			drain()
			switch f.kind {
			case kindLog, kindExchange:
				stream(f)
			case kindDone:
				d, err := decodeDone(f.hdr)
				if err != nil {
					return crashed(&runtime.Error{Name: "WorkerError", Severity: "crash", Source: "runtime", Message: "unreadable result from the worker: " + err.Error()}, logs), false
				}
				res := &runtime.Result{Status: d.Status, Steps: d.Steps, Error: d.Error, Logs: logs}
				if len(f.blobs) > 0 && f.blobs[0] != nil {
					res.State = json.RawMessage(f.blobs[0])
				}
				for i := range res.Steps {
					if i+1 < len(f.blobs) && f.blobs[i+1] != nil {
						res.Steps[i].Output = json.RawMessage(f.blobs[i+1])
					}
				}
				if r := len(res.Steps) + 1; d.Reached > 0 && d.Reached <= len(res.Steps) && r < len(f.blobs) && f.blobs[r] != nil {
					res.Reached = json.RawMessage(f.blobs[r])
					res.Steps[d.Reached-1].Reached = res.Reached
				}
				if req.HTTP != nil && req.HTTP.Rec != nil {
					for k, v := range d.Props {
						req.HTTP.Rec.SetProperty(k, v)
					}
				}
				w.mem = d.Mem
				if d.Recycle {
					p.o.Logger.WithFields(logrus.Fields{"run": req.RunID, "workflow": wf.Key, "pid": w.cmd.Process.Pid}).
						Warn("run went over its memory limit; its worker is replaced")
				}
				return res, !d.Recycle
			}
		case <-tick.C:
			drain()
			if _, rss, ok := procstat.Statm(w.pidStr); ok && rss > rssCap {
				w.overMemory.Store(true)
				w.kill()
			}
		case <-done:
			done = nil
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				// The worker has the deadline itself; only a cancel is news.
				_ = w.send(kindCancel, struct{}{})
			}
			killAt = time.After(grace)
		case <-killAt:
			w.kill()
			w.waitExit()
			drain() // what it logged since the last tick
			e := &runtime.Error{Name: "TimeoutError", Severity: "kill", Source: "runtime",
				Message: fmt.Sprintf("the run did not stop within %s of its deadline; its worker was stopped", grace)}
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				e = &runtime.Error{Name: "CancelledError", Severity: "kill", Source: "runtime", Message: "the run was cancelled"}
			}
			return crashed(e, logs), false
		}
	}
}

// died turns a worker's death during a run into the run's result: over
// its memory budget (the OS or the Go runtime refused an allocation, or the
// backstop killed it) it is MemoryLimitError, anything else a WorkerCrash.
func (p *Pool) died(w *proc, limit int64, logs []runtime.LogLine) *runtime.Result {
	w.waitExit()
	tail := w.stderr.String()
	if w.overMemory.Load() || outOfMemory(tail) {
		p.o.Logger.WithFields(logrus.Fields{"pid": w.cmd.Process.Pid}).Warn("a run went over its memory limit and ended its worker; the worker is replaced")
		return crashed(MemoryLimitError(limit), logs)
	}
	first := firstLine(tail)
	p.o.Logger.WithFields(logrus.Fields{"pid": w.cmd.Process.Pid, "exit": w.cmd.ProcessState.String(), "stderr": first}).Error("a worker died during a run; it is replaced")
	msg := "the worker process running this job exited unexpectedly (" + w.cmd.ProcessState.String() + ")"
	if first != "" {
		msg += ": " + first
	}
	return crashed(&runtime.Error{Name: "WorkerCrash", Severity: "crash", Source: "runtime", Message: msg}, logs)
}

func outOfMemory(stderr string) bool {
	for _, s := range []string{"out of memory", "cannot allocate memory", "goroutine stack exceeds"} {
		if strings.Contains(stderr, s) {
			return true
		}
	}
	return false
}

func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

// proc is one worker process.
type proc struct {
	cmd        *exec.Cmd
	pidStr     string
	wmu        sync.Mutex
	w          *bufio.Writer
	to         *os.File
	frames     chan frame
	exited     chan struct{}
	stderr     *tail
	wfs        map[uint64]bool
	overMemory atomic.Bool
	// The fields below belong to the run in flight (one at a time).
	mem       int64       // memoryInUse the worker last reported
	rcSent    []byte      // the runContext it was sent last
	redSent   uint64      // the fingerprint of the redactor it came from
	credsSent []byte      // and its credentials, encoded
	side      *sideReader // nil: log and exchange frames come on the main pipe
	sideBuf   []byte      // side pipe bytes read but not yet a whole frame
}

func (p *Pool) spawn() (*proc, error) {
	if p.closed.Load() {
		return nil, errors.New("the worker pool is closed")
	}
	toR, toW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	fromR, fromW, err := os.Pipe()
	if err != nil {
		toR.Close()
		toW.Close()
		return nil, err
	}
	files := []*os.File{toR, fromW} // fd 3: requests, fd 4: replies
	wo := p.o.Worker
	side, sideW, capacity, err := sidePipe()
	if err == nil {
		files = append(files, sideW) // fd 5: log and exchange frames
		wo.SideBudget = capacity / sideShare
	}
	closeAll := func() {
		for _, f := range append([]*os.File{toW, fromR}, files...) {
			f.Close()
		}
		side.close()
	}
	opts, err := json.Marshal(wo)
	if err != nil {
		closeAll()
		return nil, err
	}
	cmd := exec.Command(p.o.Command[0], p.o.Command[1:]...)
	cmd.Env = append(append(os.Environ(), p.o.Env...), OptionsEnv+"="+string(opts))
	cmd.ExtraFiles = files
	st := &tail{max: 8 << 10}
	cmd.Stderr = st
	cmd.SysProcAttr = workerSysProcAttr()
	if err := cmd.Start(); err != nil {
		closeAll()
		return nil, fmt.Errorf("starting worker %s: %w", p.o.Command[0], err)
	}
	for _, f := range files { // the worker's ends
		f.Close()
	}
	w := &proc{cmd: cmd, pidStr: strconv.Itoa(cmd.Process.Pid), w: bufio.NewWriterSize(toW, 64<<10), to: toW,
		frames: make(chan frame, 64), exited: make(chan struct{}), stderr: st, wfs: map[uint64]bool{}, side: side}
	go func() {
		r := bufio.NewReaderSize(fromR, 64<<10)
		for {
			f, err := readFrame(r)
			if err != nil {
				break
			}
			w.frames <- f
		}
		close(w.frames)
		fromR.Close()
	}()
	go func() {
		_ = cmd.Wait()
		toW.Close()
		close(w.exited)
	}()
	select {
	case f, ok := <-w.frames:
		var h helloMsg
		if !ok || f.kind != kindHello || json.Unmarshal(f.hdr, &h) != nil {
			w.kill()
			<-w.exited
			return nil, fmt.Errorf("worker %s did not start: %s", p.o.Command[0], firstLine(st.String()))
		}
		w.mem = h.Mem
	case <-time.After(60 * time.Second):
		w.kill()
		return nil, errors.New("worker did not report ready within 60s")
	}
	p.mu.Lock()
	p.all[w] = struct{}{}
	p.mu.Unlock()
	return w, nil
}

func (w *proc) send(kind byte, hdr any, blobs ...[]byte) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	return writeFrame(w.w, kind, hdr, blobs...)
}

func (w *proc) sendRaw(kind byte, h []byte, blobs ...[]byte) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	return writeFrameHeader(w.w, kind, h, blobs...)
}

// waitExit waits for a worker that closed its pipe to exit.
func (w *proc) waitExit() {
	select {
	case <-w.exited:
	case <-time.After(2 * time.Second): // closed its pipe but lingers
		w.kill()
		<-w.exited
	}
}

func (w *proc) alive() bool {
	select {
	case <-w.exited:
		return false
	default:
		return true
	}
}

func (w *proc) kill() {
	if w.cmd.Process != nil {
		_ = w.cmd.Process.Kill()
	}
}

// tail keeps the last max bytes written to it (a worker's stderr: the Go
// runtime's last words when it dies).
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > t.max {
		// keep the head too: "fatal error: out of memory" comes first
		t.buf = append(t.buf[:t.max/2:t.max/2], t.buf[len(t.buf)-t.max/2:]...)
	}
	return len(b), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.Clone(t.buf))
}
