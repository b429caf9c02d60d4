package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"

	"github.com/jobmediator/jobmediator/adaptors"
	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/hugepage"
	"github.com/jobmediator/jobmediator/internal/redact"
)

// Engine runs jobs and workflows. It is safe for concurrent use; each run
// takes its own VM from a pool for every step.
type Engine struct {
	opts  Options
	mu    sync.Mutex
	pools map[poolKey]*pool
	// red is the default redactor, built once: redact.New is not cheap and
	// every run clones a redactor anyway.
	red *redact.Redactor
	// native counts declarative steps by how they ended (NativeCounts)
	native struct{ ran, replayed, declined atomic.Int64 }
}

// New returns an engine with defaults applied to zero options.
func New(opts Options) *Engine {
	if opts.Compat == config.CompatDefault {
		opts.Compat = config.CompatLightning
	}
	if opts.StepTimeout <= 0 {
		opts.StepTimeout = 300 * time.Second
	}
	if opts.RunTimeout <= 0 {
		opts.RunTimeout = 300 * time.Second
	}
	if opts.MaxStateBytes <= 0 {
		opts.MaxStateBytes = 10 << 20
	}
	if opts.MaxInputBytes <= 0 {
		opts.MaxInputBytes = 10 << 20
	}
	if opts.PoolSize <= 0 {
		opts.PoolSize = 4
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Engine{opts: opts, pools: map[poolKey]*pool{}, red: redact.New()}
}

func adaptorSpec(job *config.Job) string {
	if job.Adaptor == "" {
		return "common"
	}
	return job.Adaptor
}

func (e *Engine) pool(spec string, compat config.Compat) (*pool, error) {
	def, ver, err := adaptors.Resolve(spec)
	if err != nil {
		return nil, err
	}
	k := poolKey{def.Name, ver.Raw, compat}
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.pools[k]
	if p == nil {
		p = &pool{key: k, def: def, ver: ver, idle: make(chan *slot, e.opts.PoolSize)}
		e.pools[k] = p
	}
	return p, nil
}

// Warm creates up to PoolSize VMs for an adaptor ahead of the first run.
func (e *Engine) Warm(adaptorSpec string, compat config.Compat) error {
	if compat == config.CompatDefault {
		compat = e.opts.Compat
	}
	p, err := e.pool(adaptorSpec, compat)
	if err != nil {
		return err
	}
	for i := len(p.idle); i < cap(p.idle); i++ {
		s, err := newSlot(p.def, p.ver, compat)
		if err != nil {
			return err
		}
		p.put(s)
	}
	return nil
}

// Check validates a job without running it: adaptor resolution, syntax and
// `$` placement. Failures are *Error with the job's line and column.
func (e *Engine) Check(job *config.Job, compat config.Compat) error {
	if job == nil {
		return &Error{Name: "CompileError", Severity: "crash", Source: "compiler", Message: "no job given"}
	}
	if compat == config.CompatDefault {
		compat = e.opts.Compat
	}
	if _, _, err := adaptors.Resolve(adaptorSpec(job)); err != nil {
		return &Error{Name: "ImportError", Severity: "crash", Source: "compiler", Step: job.Key, Message: fmt.Sprintf("job %s: %v", job.Key, err)}
	}
	if _, err := compileJob(job.Key, job.Body, compat); err != nil {
		return err
	}
	return nil
}

// Now is the engine's clock (log line times, the jobs' Date).
func (e *Engine) Now() time.Time { return e.opts.Now() }

// Compat is the profile a job runs under when its job, workflow and
// project say nothing.
func (e *Engine) Compat() config.Compat { return e.opts.Compat }

// RunTimeout bounds a whole run when its workflow sets no timeout.
func (e *Engine) RunTimeout() time.Duration { return e.opts.RunTimeout }

// CheckInput refuses an input state over the size limit before any step
// runs.
func (e *Engine) CheckInput(input json.RawMessage) *Error {
	if len(input) > e.opts.MaxInputBytes {
		return tooLarge("", "input state", len(input), e.opts.MaxInputBytes)
	}
	return nil
}

// DefaultRedactor is the redactor runs use when their request has none
// (built once: redact.New is not cheap).
func (e *Engine) DefaultRedactor() *redact.Redactor { return e.red }

// ResolveCompat is the profile a job runs under: the first of the job's,
// the workflow's, the project's (given) and the engine's that is set.
func (e *Engine) ResolveCompat(job *config.Job, wf *config.Workflow, project config.Compat) config.Compat {
	cs := []config.Compat{job.Compat}
	if wf != nil {
		cs = append(cs, wf.Options.Compat)
	}
	for _, c := range append(cs, project, e.opts.Compat) {
		if c != config.CompatDefault {
			return c
		}
	}
	return config.CompatLightning
}

// RunJob runs a single job once (jobmediator run JOB.js, adaptor tests): the
// one step of a workflow without edges, so its output is the final state.
// It never panics: every failure is reported in the Result.
func (e *Engine) RunJob(ctx context.Context, job *config.Job, compat config.Compat, input json.RawMessage, req RunRequest) *Result {
	j := *job
	if compat != config.CompatDefault {
		j.Compat = compat
	}
	res := &Result{Status: StatusSuccess}
	if err := e.CheckInput(input); err != nil {
		res.Status, res.Error = StatusCrashed, err
		return res
	}
	red := req.Redactor
	if red == nil {
		red = e.red
	}
	red = red.Clone()
	client := req.HTTP
	if client == nil {
		client = recorder.NewClient(nil, recorder.NewRecorder(red))
	}
	ctx, cancel := context.WithTimeout(ctx, e.opts.RunTimeout)
	defer cancel()
	var mu sync.Mutex
	c := e.ResolveCompat(&j, nil, req.Compat)
	sr := e.RunStep(ctx, StepRequest{Job: &j, ID: j.Key, Compat: c, Input: input, Credential: req.Credential,
		HTTP: client, Redactor: red, Values: map[string]any{}, Log: func(l LogLine) {
			mu.Lock()
			res.Logs = append(res.Logs, l)
			mu.Unlock()
			if req.Log != nil {
				req.Log(l)
			}
		}})
	res.Steps = []StepResult{sr}
	res.Reached = sr.Reached
	if sr.Error != nil {
		res.Error = sr.Error
		if sr.Error.Severity != "fail" {
			res.Status = StatusCrashed
			return res
		}
		res.Status = StatusFailed
		if c == config.CompatLegacy {
			return res // a failed legacy run has no final state
		}
	}
	res.State = sr.Output
	return res
}

// StepRequest asks the engine to run one job: one step of a run. The
// workflow layer walks the graph and calls RunStep for every step; what a
// run shares between its steps (redactor, recording client, adaptor
// values) is passed in.
type StepRequest struct {
	Job *config.Job
	// ID names the step: the job key, or key-N when the job runs again.
	ID string
	// Compat is the profile the step runs under (see ResolveCompat).
	Compat config.Compat
	Input  json.RawMessage
	// Credential returns the configuration for a credential key.
	Credential func(key string) (map[string]any, bool)
	// HTTP is the run's recording client.
	HTTP *recorder.Client
	// Redactor is the run's: it learns the step's credential values.
	Redactor *redact.Redactor
	// Values is what adaptors keep between the steps of one run.
	Values map[string]any
	// Log receives each log line, redacted, as it happens.
	Log func(LogLine)
}

// logLine stamps, redacts and hands on one line of a step's log.
func (req *StepRequest) logLine(e *Engine, step, level, msg string) {
	if req.Log != nil {
		req.Log(LogLine{Time: e.opts.Now(), Level: level, Step: step, Message: req.Redactor.String(msg)})
	}
}

// RunStep runs one job. The result holds the cleaned output state (nil
// when the step produced none) and the error that ended it, if any; under
// the lightning profile a failed step has both.
func (e *Engine) RunStep(ctx context.Context, req StepRequest) StepResult {
	if req.ID == "" {
		req.ID = req.Job.Key
	}
	if req.Redactor == nil {
		req.Redactor = e.red.Clone()
	}
	if req.HTTP == nil {
		req.HTTP = recorder.NewClient(nil, recorder.NewRecorder(req.Redactor))
	}
	if req.Values == nil {
		req.Values = map[string]any{}
	}
	sr, _, _ := e.step(ctx, &req)
	return sr
}

// step runs one job. It returns the cleaned output state (nil when the step
// produced none) and the error that ended it, if any.
func (e *Engine) step(ctx context.Context, r *StepRequest) (sr StepResult, out json.RawMessage, serr *Error) {
	job, id, compat, input := r.Job, r.ID, r.Compat, r.Input
	sr = StepResult{ID: id, Job: job.Key, Name: job.Name, Started: e.opts.Now(), Status: StatusSuccess}
	defer func() {
		sr.Finished = e.opts.Now()
		if serr != nil {
			serr.Step = id
			serr.Message = r.Redactor.String(serr.Message)
			serr.Details = r.Redactor.Value(serr.Details)
			sr.Error = serr
			sr.Status = StatusFailed
			if serr.Severity != "fail" {
				sr.Status = StatusCrashed
			}
		}
		sr.Output = out
	}()
	if len(input) > e.opts.MaxInputBytes {
		return sr, nil, tooLarge(id, "input state", len(input), e.opts.MaxInputBytes)
	}
	c, err := compileJob(job.Key, job.Body, compat)
	if err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			return sr, nil, ce
		}
		return sr, nil, &Error{Name: "CompileError", Severity: "crash", Source: "compiler", Message: err.Error()}
	}
	p, err := e.pool(adaptorSpec(job), compat)
	if err != nil {
		return sr, nil, &Error{Name: "ImportError", Severity: "crash", Source: "runtime", Message: fmt.Sprintf("job %s: %v", job.Key, err)}
	}
	// configuration = credential merged over the job's inline configuration
	var conf map[string]any
	if len(job.Configuration) > 0 || job.Credential != "" {
		conf = map[string]any{}
		for k, v := range job.Configuration {
			conf[k] = v
		}
		if job.Credential != "" {
			if r.Credential == nil {
				return sr, nil, &Error{Name: "CredentialError", Severity: "crash", Source: "runtime", Message: fmt.Sprintf("job %s needs credential %q but no credentials were provided", job.Key, job.Credential)}
			}
			cred, ok := r.Credential(job.Credential)
			if !ok {
				return sr, nil, &Error{Name: "CredentialError", Severity: "crash", Source: "runtime", Message: fmt.Sprintf("job %s: credential %q not found", job.Key, job.Credential)}
			}
			for k, v := range cred {
				conf[k] = v
			}
		}
		r.Redactor.AddSecretsFrom(conf)
		// Exchanges are redacted by the recorder's own redactor: teach it
		// this step's secrets too (masking is additive, so sharing is safe),
		// unless it is the run's redactor itself, as on the daemon's routed
		// path, which has just learnt them.
		if r.HTTP.Rec != nil {
			if rr := r.HTTP.Rec.Redactor(); rr != r.Redactor {
				rr.AddSecretsFrom(conf)
			}
		}
	}
	var confJSON, defJSON string
	if conf != nil && !plainJSON(conf, 0) {
		b, err := json.Marshal(conf)
		if err != nil {
			return sr, nil, &Error{Name: "CredentialError", Severity: "crash", Source: "runtime", Message: fmt.Sprintf("job %s: configuration is not JSON: %v", job.Key, err)}
		}
		confJSON = string(b)
		conf = nil // it goes in as its JSON
	}
	if len(job.State) > 0 {
		b, err := json.Marshal(job.State)
		if err != nil {
			return sr, nil, &Error{Name: "ValidationError", Severity: "crash", Source: "runtime", Message: fmt.Sprintf("job %s: default state is not JSON: %v", job.Key, err)}
		}
		defJSON = string(b)
	}

	var replay *recorder.Replay
	if op := nativeOp(c, p); op != nil && !e.opts.VMOnly && defJSON == "" && confJSON == "" {
		o, nerr, rp, done := e.nativeStep(ctx, r, op, c, conf)
		switch {
		case done:
			e.native.ran.Add(1)
			return sr, o, nerr
		case rp != nil:
			e.native.replayed.Add(1)
		default:
			e.native.declined.Add(1)
		}
		replay = rp
	}

	// The VM's heap: huge pages while it runs (see internal/hugepage; a
	// run's fresh heap was most of a data-heavy step's time in page faults).
	defer hugepage.Begin()()
	s, err := p.get()
	if err != nil {
		return sr, nil, &Error{Name: "ImportError", Severity: "crash", Source: "runtime", Message: fmt.Sprintf("job %s: loading adaptor: %v", job.Key, err)}
	}
	discard := false
	defer func() {
		s.reset(c.globals)
		if !discard {
			p.put(s)
		}
		if len(input) >= bigState || len(out) >= bigState {
			// the step's objects are all garbage now (the VM no longer
			// holds its state): the next step starts on a clean heap
			// instead of on top of them
			goruntime.GC()
		}
	}()

	// Date.now() and new Date() follow the engine's clock, as the OpenFn
	// oracle's frozen clock does in tests.
	s.vm.SetTimeSource(goja.Now(e.opts.Now))
	stepCtx, cancel := context.WithTimeout(ctx, e.opts.StepTimeout)
	defer cancel()
	s.mu.Lock()
	logf := func(level, msg string) { r.logLine(e, id, level, msg) }
	s.logf = logf
	s.mu.Unlock()
	cutOff := new(atomic.Bool) // an external call was still waiting at the deadline
	client := r.HTTP.ForStep(job.Key)
	client.CutOff = cutOff
	client.Replay = replay
	s.env.SetRun(&adaptors.Run{
		Ctx: stepCtx, HTTP: client, StepID: id, Now: e.opts.Now, Values: r.Values, CutOff: cutOff,
		Log: logf,
	})
	for _, w := range c.warnings {
		r.logLine(e, id, "warn", w)
	}
	// Deadline watchdog: interrupts JS wherever it is (e.g. while(true){}).
	// context.AfterFunc starts its goroutine only when the step's context
	// ends; a goroutine waiting on the context from the start of every step
	// (and woken to exit at its end) was 9% of a trivial step's CPU.
	var fired sync.WaitGroup
	fired.Add(1)
	stop := context.AfterFunc(stepCtx, func() {
		defer fired.Done()
		if ctx.Err() == context.Canceled {
			s.vm.Interrupt(reasonCancelled)
		} else {
			s.vm.Interrupt(reasonTimeout)
		}
	})
	defer func() {
		if !stop() {
			// the interrupt is being (or has been) delivered: wait for it
			// so it cannot land after ClearInterrupt, on the next step
			fired.Wait()
		}
		s.vm.ClearInterrupt()
	}()

	lightning := compat == config.CompatLightning
	var remove []string
	if lightning {
		remove = lightningRemove
	}
	vm := s.vm
	stateVal, err := s.assembleState(input, defJSON, conf, confJSON, lightning)
	if err != nil {
		return sr, nil, &Error{Name: "ValidationError", Severity: "crash", Source: "runtime", Message: fmt.Sprintf("job %s: input state is not valid JSON: %v", job.Key, err)}
	}
	_ = vm.Set("state", stateVal)

	final, err := func() (goja.Value, error) {
		thunks, err := vm.RunProgram(c.prog)
		if err != nil {
			return nil, err
		}
		v, err := s.run(goja.Undefined(), thunks, stateVal, vm.ToValue(lightning), s.execute, s.warn)
		if err != nil {
			return nil, err
		}
		return s.settle(stepCtx, v)
	}()
	if err != nil {
		if stepCtx.Err() != nil && !errors.As(err, new(*goja.InterruptedError)) {
			// the deadline passed while waiting on timers or I/O
			serr = timeoutError("", cutOff.Load())
			if ctx.Err() == context.Canceled {
				serr = &Error{Name: "CancelledError", Severity: "kill", Source: "runtime", Message: "the run was cancelled"}
			}
		} else {
			serr = s.classify(err, c, id, opIndex(vm))
			if serr.Name == "TimeoutError" {
				serr = timeoutError(serr.Step, cutOff.Load())
			}
		}
		if serr.Severity == "kill" || errors.As(err, new(*goja.StackOverflowError)) {
			// the VM may have been stopped mid-way through adaptor code (a
			// stack overflow cannot be caught, so no finally block ran)
			discard = true
		}
		if serr.Line == 0 && serr.Severity != "kill" {
			if i := opIndex(vm); i >= 0 && i < len(c.opPos) {
				serr.Line, serr.Column = c.opPos[i][0], c.opPos[i][1]
			}
		}
		if serr.Severity != "fail" || !lightning {
			if serr.Severity != "kill" && opIndex(vm) >= 0 {
				sr.Reached = s.reached(vm, remove)
			}
			return sr, nil, serr
		}
		// v2: the step's input state gets errors[stepId] and edges go on.
		so, _ := stateVal.(*goja.Object)
		if so != nil {
			errs, _ := so.Get("errors").(*goja.Object)
			if errs == nil {
				errs = vm.NewObject()
				_ = so.Set("errors", errs)
			}
			// Details can hold what an adaptor sent or received (a sign-in
			// body with a password): redact before it enters state.
			serr.Details = r.Redactor.Value(serr.Details)
			_ = errs.Set(id, errorRecord(vm, c, serr, id, r.Redactor.String(serr.Message), opIndex(vm) >= 0))
		}
		final = stateVal
	}
	if final == nil || goja.IsUndefined(final) || goja.IsNull(final) {
		// the last operation returned nothing: the step has no final state
		return sr, nil, serr
	}
	if len(input) >= bigState {
		// Whatever of the input the job dropped (a mapped list's source
		// records) is garbage now: collect it before the output is built
		// on top of it.
		goruntime.GC()
	}
	hint := 0
	if len(input) >= bigState {
		hint = len(input)
	}
	o, err := s.stringify(final, remove, hint)
	if err != nil {
		var intr *goja.InterruptedError
		if errors.As(err, &intr) {
			discard = true
			return sr, nil, s.classify(err, c, id, -1)
		}
		return sr, nil, &Error{Name: "RuntimeCrash", Severity: "crash", Source: "runtime", Message: "serializing final state: " + err.Error()}
	}
	if len(o) > e.opts.MaxStateBytes {
		return sr, nil, tooLarge(id, "final state", len(o), e.opts.MaxStateBytes)
	}
	return sr, json.RawMessage(o), serr
}

// lightningRemove are the keys a lightning step's final state loses
// (read only, shared by every step).
var lightningRemove = []string{"configuration", "response"}

// bigState is the size of input or final state JSON from which a step
// collects its garbage itself, before building its output and once it is
// done. goja holds a state in about 10 times its JSON size (a 7 MB list of
// 100,000 records: 60 MB of objects), and a job mapping it holds two such
// copies at once; the pacer then let the heap grow to twice that live peak
// before collecting, and the next big step started on top of the last
// one's garbage: make bench's map 100k peaked at 244-250 MiB RSS (Node
// 211). The two collections cost about 6% of such a step's CPU; smaller
// states are left to the pacer.
const bigState = 4 << 20

// reached serialises the state the failing operation was handed (see
// __jmState in helpers.go); nil when there is none or it cannot be
// serialised.
func (s *slot) reached(vm *goja.Runtime, remove []string) json.RawMessage {
	st := vm.Get("__jmState")
	if st == nil || goja.IsUndefined(st) || goja.IsNull(st) {
		return nil
	}
	o, err := s.stringify(st, remove, 0)
	if err != nil {
		return nil
	}
	return json.RawMessage(o)
}

// settle drives promises and timers until v is a plain value. goja drains
// the microtask queue whenever control returns from JS to Go, so only
// timers need a loop here.
func (s *slot) settle(ctx context.Context, v goja.Value) (goja.Value, error) {
	for {
		o, isObj := v.(*goja.Object)
		if !isObj {
			return v, nil
		}
		if _, thenable := goja.AssertFunction(o.Get("then")); !thenable {
			return v, nil
		}
		p, ok := o.Export().(*goja.Promise)
		if !ok {
			return v, nil
		}
		switch p.State() {
		case goja.PromiseStateFulfilled:
			return p.Result(), nil
		case goja.PromiseStateRejected:
			return nil, &rejection{p.Result()}
		}
		t := s.nextTimer()
		if t == nil {
			return nil, &Error{Name: "RuntimeCrash", Severity: "crash", Source: "runtime",
				Message: "the job's promise never settled and no timers are pending"}
		}
		if wait := time.Until(t.due); wait > 0 {
			tm := time.NewTimer(wait)
			select {
			case <-tm.C:
			case <-ctx.Done():
				tm.Stop()
				return nil, ctx.Err()
			}
		}
		if _, err := t.fn(goja.Undefined(), t.args...); err != nil {
			return nil, err
		}
	}
}

// opIndex is the statement index of the operation that ran last, -1 while
// the job's top level and factories were being evaluated.
func opIndex(vm *goja.Runtime) int {
	if n := vm.Get("__jmOp"); n != nil {
		return int(n.ToInteger())
	}
	return -1
}

// errorRecord builds errors[stepId] shaped like @openfn/runtime's
// serialized errors: RuntimeError/RuntimeCrash carry subtype, pos and step;
// AdaptorError carries details, line and operationName.
//
// Errors raised while the operations were being built have a null position
// in OpenFn's records (its source map only covers operations), so running
// is false for them even when we know the line.
func errorRecord(vm *goja.Runtime, c *compiled, e *Error, step, msg string, running bool) *goja.Object {
	o := vm.NewObject()
	_ = o.Set("source", e.Source)
	_ = o.Set("name", e.Name)
	switch e.Name {
	case "RuntimeError", "RuntimeCrash":
		pos := vm.NewObject()
		if e.Line > 0 && running {
			_ = pos.Set("line", e.Line)
			_ = pos.Set("column", e.Column)
			if c != nil {
				lines := strings.Split(c.orig, "\n")
				if e.Line <= len(lines) {
					_ = pos.Set("src", strings.TrimRight(lines[e.Line-1], "\r"))
				}
			}
		} else {
			_ = pos.Set("line", goja.Null())
			_ = pos.Set("column", goja.Null())
		}
		_ = o.Set("pos", pos)
		_ = o.Set("step", step)
	case "AdaptorError":
		if e.Details != nil {
			// keys sorted: set as the Go map it is, its keys came out in
			// Go's random map order, a different state every run
			_ = o.Set("details", jsonToValue(vm, e.Details))
		}
	}
	_ = o.Set("severity", e.Severity)
	if e.Subtype != "" {
		_ = o.Set("subtype", e.Subtype)
	}
	_ = o.Set("message", msg)
	if e.Name == "AdaptorError" {
		if e.Line > 0 {
			_ = o.Set("line", e.Line)
		}
		if e.Operation != "" {
			_ = o.Set("operationName", e.Operation)
		}
	}
	if e.StatusCode != 0 {
		_ = o.Set("statusCode", e.StatusCode)
	}
	return o
}
