package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/dop251/goja"

	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/runtime"
)

// Local runs workflows in this process: it walks a workflow's graph (which
// trigger starts it, which edges to follow, their conditions, which step
// runs next) and has the runtime run each step on goja. It is the Runner
// the executor uses unless runs are isolated in worker processes.
type Local struct {
	e *runtime.Engine
}

// NewLocal walks workflows with e running their steps.
func NewLocal(e *runtime.Engine) *Local { return &Local{e: e} }

// run is the state of one Run call.
type run struct {
	e      *runtime.Engine
	req    runtime.RunRequest
	red    *redact.Redactor
	http   *recorder.Client
	values map[string]any
	mu     sync.Mutex
	res    *runtime.Result
	cond   *goja.Runtime
	conds  map[string]goja.Callable
}

func (r *run) logLine(step, level, msg string) {
	r.addLog(runtime.LogLine{Time: r.e.Now(), Level: level, Step: step, Message: r.red.String(msg)})
}

// addLog keeps a line in the run's result and hands it on as it happens.
func (r *run) addLog(l runtime.LogLine) {
	r.mu.Lock()
	r.res.Logs = append(r.res.Logs, l)
	r.mu.Unlock()
	if r.req.Log != nil {
		r.req.Log(l)
	}
}

// Run executes a workflow once (§3.2 semantics) and never panics: every
// failure is reported in the Result.
func (l *Local) Run(ctx context.Context, req runtime.RunRequest) *runtime.Result {
	e := l.e
	res := &runtime.Result{Status: runtime.StatusSuccess}
	red := req.Redactor
	if red == nil {
		red = e.DefaultRedactor()
	}
	r := &run{e: e, req: req, red: red.Clone(), res: res, values: map[string]any{}}
	r.http = req.HTTP
	if r.http == nil {
		r.http = recorder.NewClient(nil, recorder.NewRecorder(r.red))
	}
	wf := req.Workflow
	if wf == nil || len(wf.Jobs) == 0 {
		res.Status = runtime.StatusCrashed
		res.Error = &runtime.Error{Name: "ValidationError", Severity: "crash", Source: "runtime", Message: "the workflow has no jobs"}
		return res
	}
	timeout := e.RunTimeout()
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
	if err := e.CheckInput(input); err != nil {
		res.Status, res.Error = runtime.StatusCrashed, err
		return res
	}
	switch {
	case req.Start != "":
		j := wf.Job(req.Start)
		if j == nil {
			res.Status = runtime.StatusCrashed
			res.Error = &runtime.Error{Name: "ValidationError", Severity: "crash", Source: "runtime", Message: fmt.Sprintf("start step %q is not a job of workflow %s", req.Start, wf.Key)}
			return res
		}
		queue = append(queue, item{j, input})
	case len(wf.Triggers) > 0 || req.Trigger != "":
		trig := req.Trigger
		if trig == "" {
			trig = wf.Triggers[0].Key
		}
		if wf.Trigger(trig) == nil {
			res.Status = runtime.StatusCrashed
			res.Error = &runtime.Error{Name: "ValidationError", Severity: "crash", Source: "runtime", Message: fmt.Sprintf("trigger %q is not part of workflow %s", trig, wf.Key)}
			return res
		}
		for _, ed := range wf.Edges {
			if ed.SourceTrigger != trig || !ed.Enabled {
				continue
			}
			ok, err := r.follow(ed, trig, runtime.StatusSuccess, input)
			if err != nil {
				res.Status, res.Error = runtime.StatusCrashed, err
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
			res.Status = runtime.StatusCrashed
			res.Error = &runtime.Error{Name: "RuntimeCrash", Severity: "crash", Source: "runtime", Message: fmt.Sprintf("workflow ran more than %d steps: check its edges for a cycle", maxSteps)}
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
		sr := e.RunStep(ctx, runtime.StepRequest{Job: it.job, ID: id, Compat: compat, Input: it.input,
			Credential: req.Credential, HTTP: r.http, Redactor: r.red, Values: r.values, Log: r.addLog})
		out, serr := sr.Output, sr.Error
		res.Steps = append(res.Steps, sr)
		if sr.Reached != nil {
			res.Reached = sr.Reached
		}
		if serr != nil {
			if res.Error == nil || serr.Severity != "fail" {
				res.Error = serr
			}
			if serr.Severity != "fail" {
				res.Status = runtime.StatusCrashed
				break
			}
			res.Status = runtime.StatusFailed
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
				res.Status, res.Error = runtime.StatusCrashed, err
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
	if res.Status == runtime.StatusCrashed || failedLegacy {
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
	return r.e.ResolveCompat(job, r.req.Workflow, r.req.Compat)
}

// follow evaluates an edge condition (§3.2).
func (r *run) follow(ed *config.Edge, upstream string, status runtime.Status, state json.RawMessage) (bool, *runtime.Error) {
	switch ed.Condition {
	case "", config.ConditionAlways:
		return true, nil
	case config.ConditionOnSuccess:
		return status == runtime.StatusSuccess, nil
	case config.ConditionOnFailure:
		return status == runtime.StatusFailed, nil
	case config.ConditionJSExpression:
		return r.jsCondition(ed, upstream, state)
	}
	return false, &runtime.Error{Name: "EdgeConditionError", Severity: "crash", Source: "runtime", Step: upstream,
		Message: fmt.Sprintf("edge %s: unknown condition type %q", ed.Key, ed.Condition)}
}

func (r *run) jsCondition(ed *config.Edge, upstream string, state json.RawMessage) (ok bool, e *runtime.Error) {
	fail := func(err error) *runtime.Error {
		return &runtime.Error{Name: "EdgeConditionError", Severity: "crash", Source: "runtime", Step: upstream,
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
	sv := goja.Undefined()
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
