package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"

	"github.com/jobmediator/jobmediator/adaptors"
	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/config"
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

// RunJob runs a single job as a one-step workflow (jobmediator run JOB.js).
func (e *Engine) RunJob(ctx context.Context, job *config.Job, compat config.Compat, input json.RawMessage, req RunRequest) *Result {
	j := *job
	if compat != config.CompatDefault {
		j.Compat = compat
	}
	req.Workflow = &config.Workflow{Key: j.Key, Name: j.Name, Jobs: []*config.Job{&j}}
	req.Input = input
	req.Trigger, req.Start = "", j.Key
	return e.Run(ctx, req)
}

// run is the state of one Run call.
type run struct {
	e      *Engine
	req    RunRequest
	red    *redact.Redactor
	http   *recorder.Client
	values map[string]any
	mu     sync.Mutex
	res    *Result
	cond   *goja.Runtime
	conds  map[string]goja.Callable
}

func (r *run) logLine(step, level, msg string) {
	l := LogLine{Time: r.e.opts.Now(), Level: level, Step: step, Message: r.red.String(msg)}
	r.mu.Lock()
	r.res.Logs = append(r.res.Logs, l)
	r.mu.Unlock()
	if r.req.Log != nil {
		r.req.Log(l)
	}
}

// Run executes a workflow once (§3.2 semantics) and never panics: every
// failure is reported in the Result.
func (e *Engine) Run(ctx context.Context, req RunRequest) *Result {
	res := &Result{Status: StatusSuccess}
	red := req.Redactor
	if red == nil {
		red = e.red
	}
	r := &run{e: e, req: req, red: red.Clone(), res: res, values: map[string]any{}}
	r.http = req.HTTP
	if r.http == nil {
		r.http = recorder.NewClient(nil, recorder.NewRecorder(r.red))
	}
	wf := req.Workflow
	if wf == nil || len(wf.Jobs) == 0 {
		res.Status = StatusCrashed
		res.Error = &Error{Name: "ValidationError", Severity: "crash", Source: "runtime", Message: "the workflow has no jobs"}
		return res
	}
	timeout := e.opts.RunTimeout
	if wf.Options.Timeout > 0 {
		timeout = wf.Options.Timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	type item struct {
		job   *config.Job
		input json.RawMessage
	}
	var queue []item
	input := req.Input
	if len(input) > e.opts.MaxInputBytes {
		res.Status, res.Error = StatusCrashed, tooLarge("", "input state", len(input), e.opts.MaxInputBytes)
		return res
	}
	switch {
	case req.Start != "":
		j := wf.Job(req.Start)
		if j == nil {
			res.Status = StatusCrashed
			res.Error = &Error{Name: "ValidationError", Severity: "crash", Source: "runtime", Message: fmt.Sprintf("start step %q is not a job of workflow %s", req.Start, wf.Key)}
			return res
		}
		queue = append(queue, item{j, input})
	case len(wf.Triggers) > 0 || req.Trigger != "":
		trig := req.Trigger
		if trig == "" {
			trig = wf.Triggers[0].Key
		}
		if wf.Trigger(trig) == nil {
			res.Status = StatusCrashed
			res.Error = &Error{Name: "ValidationError", Severity: "crash", Source: "runtime", Message: fmt.Sprintf("trigger %q is not part of workflow %s", trig, wf.Key)}
			return res
		}
		for _, ed := range wf.Edges {
			if ed.SourceTrigger != trig || !ed.Enabled {
				continue
			}
			ok, err := r.follow(ed, trig, StatusSuccess, input)
			if err != nil {
				res.Status, res.Error = StatusCrashed, err
				return res
			}
			if ok {
				if j := wf.Job(ed.TargetJob); j != nil {
					queue = append(queue, item{j, input})
				}
			}
		}
	default:
		queue = append(queue, item{wf.Jobs[0], input})
	}

	seen := map[string]int{}
	leaves := []string{}
	outputs := map[string]json.RawMessage{}
	failedLegacy := false
	const maxSteps = 1000
	for len(queue) > 0 {
		if len(res.Steps) >= maxSteps {
			res.Status = StatusCrashed
			res.Error = &Error{Name: "RuntimeCrash", Severity: "crash", Source: "runtime", Message: fmt.Sprintf("workflow ran more than %d steps: check its edges for a cycle", maxSteps)}
			break
		}
		it := queue[0]
		queue = queue[1:]
		id := it.job.Key
		if n := seen[id]; n > 0 {
			id = fmt.Sprintf("%s-%d", it.job.Key, n)
		}
		seen[it.job.Key]++
		compat := r.compat(it.job)
		sr, out, serr := r.step(ctx, it.job, id, compat, it.input)
		res.Steps = append(res.Steps, sr)
		if serr != nil {
			if res.Error == nil || serr.Severity != "fail" {
				res.Error = serr
			}
			if serr.Severity != "fail" {
				res.Status = StatusCrashed
				break
			}
			res.Status = StatusFailed
			if compat == config.CompatLegacy {
				failedLegacy = true
			}
		}
		followed := false
		edgeState := out
		if edgeState == nil {
			edgeState = it.input // legacy failure: downstream (catch) gets the step's input
		}
		for _, ed := range wf.Edges {
			if ed.SourceJob != it.job.Key || !ed.Enabled {
				continue
			}
			ok, err := r.follow(ed, id, sr.Status, edgeState)
			if err != nil {
				res.Status, res.Error = StatusCrashed, err
				queue = nil
				break
			}
			if ok {
				if j := wf.Job(ed.TargetJob); j != nil {
					followed = true
					queue = append(queue, item{j, edgeState})
				}
			}
		}
		if !followed && out != nil {
			leaves = append(leaves, id)
			outputs[id] = out
		}
	}
	if res.Status == StatusCrashed || failedLegacy {
		return res
	}
	switch len(leaves) {
	case 0:
	case 1:
		res.State = outputs[leaves[0]]
	default:
		buf := []byte{'{'}
		for i, id := range leaves {
			if i > 0 {
				buf = append(buf, ',')
			}
			k, _ := json.Marshal(id)
			buf = append(buf, k...)
			buf = append(buf, ':')
			buf = append(buf, outputs[id]...)
		}
		res.State = append(buf, '}')
	}
	return res
}

func (r *run) compat(job *config.Job) config.Compat {
	for _, c := range []config.Compat{job.Compat, r.req.Workflow.Options.Compat, r.req.Compat, r.e.opts.Compat} {
		if c != config.CompatDefault {
			return c
		}
	}
	return config.CompatLightning
}

// follow evaluates an edge condition (§3.2).
func (r *run) follow(ed *config.Edge, upstream string, status Status, state json.RawMessage) (bool, *Error) {
	switch ed.Condition {
	case "", config.ConditionAlways:
		return true, nil
	case config.ConditionOnSuccess:
		return status == StatusSuccess, nil
	case config.ConditionOnFailure:
		return status == StatusFailed, nil
	case config.ConditionJSExpression:
		return r.jsCondition(ed, upstream, state)
	}
	return false, &Error{Name: "EdgeConditionError", Severity: "crash", Source: "runtime", Step: upstream,
		Message: fmt.Sprintf("edge %s: unknown condition type %q", ed.Key, ed.Condition)}
}

func (r *run) jsCondition(ed *config.Edge, upstream string, state json.RawMessage) (ok bool, e *Error) {
	fail := func(err error) *Error {
		return &Error{Name: "EdgeConditionError", Severity: "crash", Source: "runtime", Step: upstream,
			Message: r.red.String(fmt.Sprintf("edge %s: condition %q failed: %v", ed.Key, ed.Expression, err))}
	}
	if r.cond == nil {
		r.cond = goja.New()
		r.conds = map[string]goja.Callable{}
		c := r.cond.NewObject()
		for _, lv := range []string{"log", "info", "warn", "error", "debug"} {
			level := lv
			if level == "log" {
				level = "info"
			}
			_ = c.Set(lv, func(call goja.FunctionCall) goja.Value {
				msg := ""
				for i, a := range call.Arguments {
					if i > 0 {
						msg += " "
					}
					msg += a.String()
				}
				r.logLine(upstream, level, msg)
				return goja.Undefined()
			})
		}
		_ = r.cond.Set("console", c)
	}
	fn, okc := r.conds[ed.Expression]
	if !okc {
		v, err := r.cond.RunScript("edge:"+ed.Key, "(function(state, upstreamStepId){ return ("+ed.Expression+"\n) })")
		if err != nil {
			return false, fail(err)
		}
		fn, _ = goja.AssertFunction(v)
		r.conds[ed.Expression] = fn
	}
	var sv goja.Value = goja.Undefined()
	if state != nil {
		parse, _ := goja.AssertFunction(r.cond.Get("JSON").ToObject(r.cond).Get("parse"))
		v, err := parse(goja.Undefined(), r.cond.ToValue(string(state)))
		if err != nil {
			return false, fail(err)
		}
		sv = v
	}
	t := time.AfterFunc(time.Second, func() { r.cond.Interrupt("edge condition took longer than 1s") })
	v, err := fn(goja.Undefined(), sv, r.cond.ToValue(upstream))
	t.Stop()
	r.cond.ClearInterrupt()
	if err != nil {
		return false, fail(err)
	}
	return v.ToBoolean(), nil
}

// step runs one job. It returns the cleaned output state (nil when the step
// produced none) and the error that ended it, if any.
func (r *run) step(ctx context.Context, job *config.Job, id string, compat config.Compat, input json.RawMessage) (sr StepResult, out json.RawMessage, serr *Error) {
	e := r.e
	sr = StepResult{ID: id, Job: job.Key, Name: job.Name, Started: e.opts.Now(), Status: StatusSuccess}
	defer func() {
		sr.Finished = e.opts.Now()
		if serr != nil {
			serr.Step = id
			serr.Message = r.red.String(serr.Message)
			serr.Details = r.red.Value(serr.Details)
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
			if r.req.Credential == nil {
				return sr, nil, &Error{Name: "CredentialError", Severity: "crash", Source: "runtime", Message: fmt.Sprintf("job %s needs credential %q but no credentials were provided", job.Key, job.Credential)}
			}
			cred, ok := r.req.Credential(job.Credential)
			if !ok {
				return sr, nil, &Error{Name: "CredentialError", Severity: "crash", Source: "runtime", Message: fmt.Sprintf("job %s: credential %q not found", job.Key, job.Credential)}
			}
			for k, v := range cred {
				conf[k] = v
			}
		}
		r.red.AddSecretsFrom(conf)
		// Exchanges are redacted by the recorder's own redactor: teach it
		// this step's secrets too (masking is additive, so sharing is safe).
		if r.http.Rec != nil {
			r.http.Rec.Redactor().AddSecretsFrom(conf)
		}
	}
	var confJSON, defJSON string
	if conf != nil {
		b, err := json.Marshal(conf)
		if err != nil {
			return sr, nil, &Error{Name: "CredentialError", Severity: "crash", Source: "runtime", Message: fmt.Sprintf("job %s: configuration is not JSON: %v", job.Key, err)}
		}
		confJSON = string(b)
	}
	if len(job.State) > 0 {
		b, err := json.Marshal(job.State)
		if err != nil {
			return sr, nil, &Error{Name: "ValidationError", Severity: "crash", Source: "runtime", Message: fmt.Sprintf("job %s: default state is not JSON: %v", job.Key, err)}
		}
		defJSON = string(b)
	}

	s, err := p.get()
	if err != nil {
		return sr, nil, &Error{Name: "ImportError", Severity: "crash", Source: "runtime", Message: fmt.Sprintf("job %s: loading adaptor: %v", job.Key, err)}
	}
	discard := false
	defer func() {
		s.reset()
		if !discard {
			p.put(s)
		}
	}()

	// Date.now() and new Date() follow the engine's clock, as the OpenFn
	// oracle's frozen clock does in tests.
	s.vm.SetTimeSource(goja.Now(e.opts.Now))
	stepCtx, cancel := context.WithTimeout(ctx, e.opts.StepTimeout)
	defer cancel()
	s.mu.Lock()
	s.logf = func(level, msg string) { r.logLine(id, level, msg) }
	s.mu.Unlock()
	cutOff := new(atomic.Bool) // an external call was still waiting at the deadline
	client := r.http.ForStep(job.Key)
	client.CutOff = cutOff
	s.env.SetRun(&adaptors.Run{
		Ctx: stepCtx, HTTP: client, StepID: id, Now: e.opts.Now, Values: r.values, CutOff: cutOff,
		Log: func(level, msg string) { r.logLine(id, level, msg) },
	})
	for _, w := range c.warnings {
		r.logLine(id, "warn", w)
	}
	// Deadline watchdog: interrupts JS wherever it is (e.g. while(true){}).
	done, fin := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(fin)
		select {
		case <-stepCtx.Done():
			if ctx.Err() == context.Canceled {
				s.vm.Interrupt(reasonCancelled)
			} else {
				s.vm.Interrupt(reasonTimeout)
			}
		case <-done:
		}
	}()
	defer func() {
		close(done)
		<-fin
		s.vm.ClearInterrupt()
	}()

	lightning := compat == config.CompatLightning
	var remove []string
	if lightning {
		remove = []string{"configuration", "response"}
	}
	vm := s.vm
	stateVal, err := s.assembleState(input, defJSON, confJSON, lightning)
	if err != nil {
		return sr, nil, &Error{Name: "ValidationError", Severity: "crash", Source: "runtime", Message: fmt.Sprintf("job %s: input state is not valid JSON: %v", job.Key, err)}
	}
	_ = vm.Set("state", stateVal)

	final, err := func() (goja.Value, error) {
		thunks, err := vm.RunProgram(c.prog)
		if err != nil {
			return nil, err
		}
		warn := func(msg string) { r.logLine(id, "warn", msg) }
		v, err := s.run(goja.Undefined(), thunks, stateVal, vm.ToValue(lightning), s.execute, vm.ToValue(warn))
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
		if serr.Severity == "kill" {
			discard = true // the VM may have been stopped mid-way through adaptor code
		}
		if serr.Line == 0 && serr.Severity != "kill" {
			if i := opIndex(vm); i >= 0 && i < len(c.opPos) {
				serr.Line, serr.Column = c.opPos[i][0], c.opPos[i][1]
			}
		}
		if serr.Severity != "fail" || !lightning {
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
			serr.Details = r.red.Value(serr.Details)
			_ = errs.Set(id, errorRecord(vm, c, serr, id, r.red.String(serr.Message), opIndex(vm) >= 0))
		}
		final = stateVal
	}
	if final == nil || goja.IsUndefined(final) || goja.IsNull(final) {
		// the last operation returned nothing: the step has no final state
		return sr, nil, serr
	}
	o, err := s.stringify(final, remove)
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
			_ = o.Set("details", e.Details)
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
