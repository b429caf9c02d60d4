// Package workflow executes one run of a workflow for every way a run
// starts (channels/webhook, channels/queue, channels/schedule,
// channels/api): it takes the run's trigger and input, gives the run a
// worker of its lane, a redactor that knows its credentials and a recording
// HTTP client, hands it to the runtime, and maps what came back to the
// outcome every caller needs: the client reply, the OpenHIM mediator
// response with one orchestration per outbound call, and the run's result.
// Observers (run history, metrics) are told about every run here, once.
//
// Executor.Run is the one entry; nothing here knows how the run arrived.
package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/mediator"
	"github.com/jobmediator/jobmediator/runtime"
)

// Runner runs workflows; *runtime.Engine is the implementation.
type Runner interface {
	Run(ctx context.Context, req runtime.RunRequest) *runtime.Result
}

// Options configure an Executor.
type Options struct {
	URN         string
	Compat      config.Compat
	Runner      Runner
	Credentials func(key string) (map[string]any, bool)
	Redactor    *redact.Redactor
	HTTPClient  *http.Client // outbound client for adaptors
	Logger      logrus.FieldLogger
	// Enabled reports whether a workflow is switched on (OpenHIM console
	// flag); nil means every workflow with Options.Enabled.
	Enabled  func(workflow string) bool
	Lanes    map[string]int // lane → concurrent runs; default routed 8, scheduled 2
	Observer Observer
	Now      func() time.Time
	NewID    func() string
}

// Executor runs the workflows of one project.
type Executor struct {
	o       Options
	project *config.Project
	lanes   map[string]chan struct{}
}

// New checks the options, applies defaults and prepares the lanes.
func New(p *config.Project, o Options) (*Executor, error) {
	if o.Runner == nil {
		return nil, errors.New("workflow: a Runner is required")
	}
	if p == nil {
		return nil, errors.New("workflow: a project is required")
	}
	if o.Redactor == nil {
		o.Redactor = redact.New()
	}
	if o.Logger == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		o.Logger = l
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NewID == nil {
		o.NewID = mediator.NewObjectID
	}
	if o.Credentials == nil {
		o.Credentials = func(string) (map[string]any, bool) { return nil, false }
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Transport: recorder.Transport, CheckRedirect: recorder.NoRedirects}
	}
	sizes := map[string]int{config.LaneRouted: 8, config.LaneScheduled: 2}
	for k, v := range o.Lanes {
		sizes[k] = v
	}
	x := &Executor{o: o, project: p, lanes: map[string]chan struct{}{}}
	for name, n := range sizes {
		if n < 1 {
			return nil, fmt.Errorf("workflow: lane %q needs at least 1 worker, got %d", name, n)
		}
		x.lanes[name] = make(chan struct{}, n)
	}
	return x, nil
}

// Project is the project whose workflows this executor runs.
func (x *Executor) Project() *config.Project { return x.project }

// Logger is the executor's logger, shared by the ways in.
func (x *Executor) Logger() logrus.FieldLogger { return x.o.Logger }

// Redactor is the daemon-wide redactor (no run's credentials).
func (x *Executor) Redactor() *redact.Redactor { return x.o.Redactor }

// Now is the executor's clock.
func (x *Executor) Now() time.Time { return x.o.Now() }

// NewID makes a run or message id.
func (x *Executor) NewID() string { return x.o.NewID() }

// Compat is the daemon-wide compatibility profile.
func (x *Executor) Compat() config.Compat { return x.o.Compat }

// Enabled reports whether wf is switched on.
func (x *Executor) Enabled(wf *config.Workflow) bool {
	if x.o.Enabled != nil {
		return x.o.Enabled(wf.Key)
	}
	return wf.Options.Enabled
}

// RunRedactor knows every credential value the workflow can use, including
// derived forms (base64 user:password): what a run of wf must never show.
func (x *Executor) RunRedactor(wf *config.Workflow) *redact.Redactor {
	red := x.o.Redactor.Clone()
	for _, j := range wf.Jobs {
		if j.Credential == "" {
			continue
		}
		if c, ok := x.o.Credentials(j.Credential); ok {
			red.AddSecretsFrom(c)
		}
	}
	return red
}

// Input is what a run starts from.
type Input struct {
	// State is the initial state ({data, request, openhim} for requests,
	// the cursor state for scheduled runs).
	State json.RawMessage
	// Tx is the OpenHIM transaction the run belongs to; empty for direct
	// calls and unrecorded scheduled runs.
	Tx mediator.TxContext
	// RunID names the run; a new id when empty.
	RunID string
	// Log is the caller's logger, with its fields; the executor's when nil.
	Log *logrus.Entry
}

// Outcome is everything a run produced, for every way in: the reply a
// client gets, the mediator response OpenHIM gets (its orchestrations are
// the run's outbound calls), and the run's result.
type Outcome struct {
	RunID string
	Reply Reply
	// Envelope is the OpenHIM mediator response, orchestrations included.
	Envelope *mediator.Response
	// Result is nil when the run never started (cancelled while waiting for
	// a free worker).
	Result    *runtime.Result
	Exchanges []recorder.Exchange
	// Redactor knows this run's credential values.
	Redactor *redact.Redactor
}

// Transient reports whether the run failed in a way a retry may fix
// (upstream 5xx/429, timeouts, connection failures).
func (o *Outcome) Transient() bool {
	return o.Result != nil && o.Result.Status != runtime.StatusSuccess && o.Result.Error.Transient()
}

// Run executes one run of t.Workflow: it waits for a worker of the run's
// lane, bounds the run by the workflow's timeout, records every outbound
// call, maps the result to the reply and mediator response, and tells the
// observer. A run that fails is an Outcome, not an error: the error is for
// a trigger that names no workflow.
func (x *Executor) Run(ctx context.Context, t Trigger, in Input) (*Outcome, error) {
	wf := t.Workflow
	if wf == nil {
		return nil, errors.New("workflow: the trigger names no workflow")
	}
	log := in.Log
	if log == nil {
		log = x.o.Logger.WithField("workflow", wf.Key)
	}
	runID := in.RunID
	if runID == "" {
		runID = x.o.NewID()
	}
	sem, ok := x.lanes[t.lane()]
	if !ok {
		sem = x.lanes[config.LaneRouted]
	}
	select {
	case sem <- struct{}{}:
		defer func() { <-sem }()
	case <-ctx.Done():
		rp := ErrorReply(http.StatusServiceUnavailable, runID, wf.Key, &runtime.Error{Name: "Cancelled", Message: "request cancelled while waiting for a free worker"}, mediator.StatusFailed, nil)
		return &Outcome{RunID: runID, Reply: rp, Envelope: x.Envelope(rp, wf, runID, nil, nil, in.Tx), Redactor: x.o.Redactor}, nil
	}
	timeout := wf.Options.Timeout
	if timeout <= 0 {
		timeout = 300 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	// Seed the run's redactor with every credential the workflow can use
	// before any call is recorded.
	red := x.RunRedactor(wf)
	rec := recorder.NewRecorder(red)
	client := recorder.NewClient(x.o.HTTPClient, rec)
	started := x.o.Now()
	res := x.o.Runner.Run(ctx, runtime.RunRequest{
		Workflow:   wf,
		Compat:     x.o.Compat,
		Trigger:    t.Start,
		Input:      in.State,
		Credential: x.o.Credentials,
		HTTP:       client,
		Redactor:   red,
		RunID:      runID,
		Log: func(l runtime.LogLine) {
			with(log, 2, "run", runID, "step", l.Step).Log(level(l.Level), l.Message)
		},
	})
	exchanges := rec.Exchanges()
	rp := outcome(res, wf, runID, exchanges, red)
	env := x.Envelope(rp, wf, runID, res, exchanges, in.Tx)
	// Adaptors add facts worth seeing in the console (DHIS2 import counts).
	for k, v := range rec.Properties() {
		if env.Properties == nil {
			env.Properties = map[string]string{}
		}
		env.Properties[k] = v
	}
	finished := x.o.Now()
	e := with(log, 5, "run", runID, "status", env.Status)
	e.Data["http_status"], e.Data["calls"], e.Data["ms"] = rp.Status, len(exchanges), finished.Sub(started).Milliseconds()
	e.Info("run finished")
	if x.o.Observer != nil {
		x.o.Observer.RunFinished(ctx, RunRecord{RunID: runID, Workflow: wf.Key, Trigger: t.Kind, Tx: in.Tx,
			Input: red.JSON(in.State), Result: res, Exchanges: exchanges, Started: started, Finished: finished, Envelope: env, Redactor: red})
	}
	return &Outcome{RunID: runID, Reply: rp, Envelope: env, Result: res, Exchanges: exchanges, Redactor: red}, nil
}

// with is log.WithFields for the fields of a routed run's lines (strings
// and numbers), written straight into the line's map: WithFields takes
// them in a map of their own, copies both and checks each value's type by
// reflection, twice per run. extra is how many fields the caller adds in
// all, to size the map.
func with(log *logrus.Entry, extra int, k1, v1, k2, v2 string) *logrus.Entry {
	data := make(logrus.Fields, len(log.Data)+extra)
	for k, v := range log.Data {
		data[k] = v
	}
	data[k1], data[k2] = v1, v2
	e := *log
	e.Data = data
	return &e
}

func level(l string) logrus.Level {
	switch l {
	case "debug":
		return logrus.DebugLevel
	case "warn":
		return logrus.WarnLevel
	case "error":
		return logrus.ErrorLevel
	}
	return logrus.InfoLevel
}
