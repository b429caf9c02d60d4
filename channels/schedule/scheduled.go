package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/jobmediator/jobmediator/channels/auth"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/internal/service"
	"github.com/jobmediator/jobmediator/mediator"
	"github.com/jobmediator/jobmediator/runtime"
	"github.com/jobmediator/jobmediator/store"
	"github.com/jobmediator/jobmediator/workflow"
)

// TriggerHeader marks the transactions Job Mediator records for its own
// scheduled and manual runs. Core stores it with the request and replays it
// on a rerun, which is how a rerun is recognised as "run this window again".
const TriggerHeader = "X-Jobmediator-Trigger"

// TransactionRecorder records scheduled runs in OpenHIM (POST and PUT
// /transactions); *mediator.Client satisfies it.
type TransactionRecorder interface {
	CreateTransaction(ctx context.Context, tx mediator.Transaction) error
	UpdateTransaction(ctx context.Context, id string, update mediator.TransactionUpdate) error
}

// Scheduler runs the scheduled ways in: cron ticks (Start/Stop), OpenHIM
// polling triggers and reruns of recorded scheduled transactions (its
// routes), and manual runs. Every run goes through the workflow.Executor
// with cursor semantics: the input comes from the workflow's cursor and
// the cursor moves only after a success.
type Scheduler struct {
	x     *workflow.Executor
	guard func(http.HandlerFunc) http.Handler
	wg    sync.WaitGroup // polls running after their answer

	loop service.Loop // the tick loops

	mu    sync.Mutex
	o     Options
	locks map[string]*wfLock
}

// New prepares a scheduler; cron ticks start with Start.
func New(x *workflow.Executor, o Options) *Scheduler {
	h := &Scheduler{x: x, locks: map[string]*wfLock{}}
	h.setOptions(o)
	h.guard = auth.Guard(auth.Policy{RouteUsers: h.o.RouteAuth, ClientCerts: h.o.ClientCerts}, x.Reject)
	return h
}

// setOptions applies defaults and replaces the options.
func (h *Scheduler) setOptions(o Options) {
	if o.Owner == "" {
		o.Owner = "jm-" + h.x.NewID()
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Clock == nil {
		o.Clock = RealClock{}
	}
	if o.PollReplyWithin <= 0 {
		o.PollReplyWithin = DefaultPollReplyWithin
	}
	if o.BodyLimit <= 0 {
		o.BodyLimit = 10 << 20
	}
	h.mu.Lock()
	h.o = o
	h.mu.Unlock()
}

type wfLock struct {
	sem    chan struct{} // one run at a time in this process
	queued int           // ticks waiting (overlap: queue keeps at most one)
}

func (st *Scheduler) options() Options {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.o
}

func (st *Scheduler) lock(wf string) *wfLock {
	st.mu.Lock()
	defer st.mu.Unlock()
	l := st.locks[wf]
	if l == nil {
		l = &wfLock{sem: make(chan struct{}, 1)}
		st.locks[wf] = l
	}
	return l
}

// runLeaseName is the store lease held while a scheduled run of a workflow
// is going, so replicas do not overlap either.
func runLeaseName(wf string) string { return "run:" + wf }

// acquire takes the workflow's run slot: in this process (a one-slot
// semaphore) and across replicas (a store lease). With queue, it waits for
// a running run to end; only one caller waits, later ones are coalesced
// into it (workflow.ErrBusy). The returned release must be called.
func (h *Scheduler) acquire(ctx context.Context, wf *config.Workflow, queue bool) (func(), error) {
	st := h
	l := st.lock(wf.Key)
	select {
	case l.sem <- struct{}{}:
	default:
		if !queue {
			return nil, workflow.ErrBusy
		}
		st.mu.Lock()
		if l.queued > 0 {
			st.mu.Unlock()
			return nil, workflow.ErrBusy
		}
		l.queued++
		st.mu.Unlock()
		select {
		case l.sem <- struct{}{}:
		case <-ctx.Done():
			st.mu.Lock()
			l.queued--
			st.mu.Unlock()
			return nil, ctx.Err()
		}
		st.mu.Lock()
		l.queued--
		st.mu.Unlock()
	}
	local := func() { <-l.sem }
	if h.o.Store == nil {
		return local, nil
	}
	o := st.options()
	ttl := wf.Options.Timeout
	if ttl <= 0 {
		ttl = config.DefaultTimeout
	}
	ttl += time.Minute // the run is bounded by its timeout; the margin covers recording it
	name := runLeaseName(wf.Key)
	for {
		ok, err := h.o.Store.AcquireLease(ctx, name, o.Owner, ttl, h.x.Now())
		if err != nil {
			local()
			return nil, fmt.Errorf("taking the run lease of %s: %w", wf.Key, err)
		}
		if ok {
			break
		}
		if !queue {
			local()
			return nil, workflow.ErrBusy
		}
		// Another replica is running it; its lease is released when it ends.
		select {
		case <-ctx.Done():
			local()
			return nil, ctx.Err()
		case <-time.After(leasePoll):
		}
	}
	return func() {
		if err := h.o.Store.ReleaseLease(context.Background(), name, o.Owner); err != nil {
			h.x.Logger().WithError(err).WithField("workflow", wf.Key).Warn("could not release the run lease (it expires by itself)")
		}
		local()
	}, nil
}

// leasePoll is how often a queued run checks another replica's lease.
var leasePoll = 250 * time.Millisecond

// runSpec describes one scheduled, polled, manual or replayed run.
type runSpec struct {
	wf      *config.Workflow
	trigger string // cron | polling | manual
	until   time.Time
	// tx is the routed transaction (polling, reruns); empty for cron and
	// manual runs, which get one of their own when recording is on.
	tx     mediator.TxContext
	record bool
	cursor json.RawMessage // explicit cursor (manual): replaces the stored state; advances
	state  json.RawMessage // explicit initial state (manual): runs once; never advances
	replay *scheduledBody  // rerun of a recorded window; never advances
	log    *logrus.Entry
}

// scheduledBody is the request body of a recorded scheduled transaction:
// everything needed to run the same window again.
type scheduledBody struct {
	Workflow string          `json:"workflow"`
	Trigger  string          `json:"trigger"`
	Window   Window          `json:"window"`
	State    json.RawMessage `json:"state"`
}

// runOutcome is what a scheduled run produced.
type runOutcome struct {
	RunID         string
	TransactionID string
	Reply         workflow.Reply
	Env           *mediator.Response
	Result        *runtime.Result
	Window        Window
	Advanced      bool
	// CursorErr is why a successful run did not advance the cursor
	// (store.ErrConflict when someone else moved it first).
	CursorErr error
	Redactor  *redact.Redactor
}

// runScheduled builds the input by cursor semantics, records the
// transaction in OpenHIM when asked, runs, and advances the cursor on
// success only.
func (h *Scheduler) runScheduled(ctx context.Context, sp runSpec) (*runOutcome, error) {
	wf := sp.wf
	log := sp.log
	if log == nil {
		log = h.x.Logger().WithFields(logrus.Fields{"workflow": wf.Key, "trigger": sp.trigger})
	}
	key := cursorKey(wf)
	withCursor := scheduledWorkflow(wf) && h.o.Store != nil
	var cv CursorValue
	var version int64
	if withCursor {
		var err error
		if cv, version, err = h.loadCursor(ctx, key); err != nil {
			return nil, err
		}
	}
	body := scheduledBody{Workflow: wf.Key, Trigger: sp.trigger}
	advance := withCursor
	var start map[string]any
	var err error
	switch {
	case sp.replay != nil:
		body = *sp.replay
		advance = false
		if len(body.State) == 0 || string(body.State) == "null" {
			start = map[string]any{}
		} else if start, err = decodeObject("the replayed state", body.State); err != nil {
			return nil, err
		}
	case sp.state != nil:
		advance = false
		if start, err = decodeObject("state", sp.state); err != nil {
			return nil, err
		}
	case sp.cursor != nil:
		if start, err = decodeObject("cursor", sp.cursor); err != nil {
			return nil, err
		}
	default:
		if start, err = h.startState(wf, cv); err != nil {
			return nil, err
		}
	}
	if sp.replay == nil {
		body.Window = Window{Since: cv.Watermark, Until: sp.until.UTC()}
		body.State, _ = json.Marshal(start)
	}
	red := h.x.RunRedactor(wf)
	runID := h.x.NewID()
	tx := sp.tx
	o := h.options()
	started := h.x.Now()
	if sp.record && o.Transactions != nil && !tx.Routed() {
		id := mediator.NewObjectID()
		if err := o.Transactions.CreateTransaction(ctx, h.transactionDoc(id, wf, sp.trigger, body, started, red, o)); err != nil {
			log.WithError(err).Warn("could not record the scheduled run in OpenHIM; running it anyway")
		} else {
			tx = mediator.TxContext{TransactionID: id}
			if o.ChannelID != nil {
				tx.ChannelID = o.ChannelID(wf.Key)
			}
		}
	}
	oh := workflow.OpenHIMState(tx, runID)
	oh["trigger"] = body.Trigger
	oh["window"] = body.Window
	if !tx.Routed() && !tx.Rerun() {
		// No transaction to key on: the window is what identifies the work,
		// so a replay of the same window sends the same key upstream.
		oh["idempotencyKey"] = body.Trigger + ":" + wf.Key + ":" + body.Window.Until.Format(time.RFC3339Nano)
	}
	start["openhim"] = oh
	input, err := json.Marshal(start)
	if err != nil {
		return nil, fmt.Errorf("%w: encoding the input state: %v", workflow.ErrBadInput, err)
	}
	run, err := h.x.Run(ctx, workflow.Scheduled(wf, sp.trigger), workflow.Input{State: input, Tx: tx, RunID: runID, Log: log})
	if err != nil {
		return nil, err
	}
	rp, env, res := run.Reply, run.Envelope, run.Result
	// Error replies can carry an upstream's echo of our credentials in the
	// error details; scheduled runs answer nobody but OpenHIM and operators,
	// so their replies are scrubbed of known secret values.
	rp.Body = []byte(red.String(string(rp.Body)))
	if env != nil {
		env.Response.Body = red.String(env.Response.Body)
		// The completing PUT replaces the properties the POST recorded;
		// keep saying which trigger started the run.
		if env.Properties == nil {
			env.Properties = map[string]string{}
		}
		env.Properties["trigger"] = sp.trigger
	}
	out := &runOutcome{RunID: runID, TransactionID: tx.TransactionID, Reply: rp, Env: env, Result: res, Window: body.Window, Redactor: red}
	if sp.record && o.Transactions != nil && tx.Routed() && sp.tx.TransactionID == "" {
		if err := o.Transactions.UpdateTransaction(context.WithoutCancel(ctx), tx.TransactionID, redactUpdate(mediator.Completion(env), red)); err != nil {
			log.WithError(err).Warn("could not complete the scheduled run's OpenHIM transaction")
		}
	}
	if !advance || res == nil || res.Status != runtime.StatusSuccess {
		if withCursor && sp.replay == nil && sp.state == nil {
			log.WithField("run", runID).Info("run did not succeed; cursor not advanced")
		}
		return out, nil
	}
	until := body.Window.Until
	next := CursorValue{
		State:           nextCursorState(wf, h.x.Project().EffectiveCompat(wf, nil, h.x.Compat()), res, cv.State, red),
		Watermark:       &until,
		LastRunDateTime: started.UTC().Format("2006-01-02T15:04:05.000Z"),
		RunID:           runID,
		Trigger:         sp.trigger,
	}
	if err := h.advanceCursor(ctx, key, version, next); err != nil {
		out.CursorErr = err
		if errors.Is(err, store.ErrConflict) {
			log.WithField("run", runID).Warn("cursor was advanced by another run meanwhile; not overwritten")
		} else {
			log.WithError(err).WithField("run", runID).Error("could not advance the cursor; the next run repeats this window")
		}
		return out, nil
	}
	out.Advanced = true
	return out, nil
}

// transactionDoc is the POST /transactions body for a scheduled run. Its
// request body is the window and start state (no configuration, redacted),
// which is exactly what a rerun replays.
func (h *Scheduler) transactionDoc(id string, wf *config.Workflow, trigger string, body scheduledBody, started time.Time, red *redact.Redactor, o Options) mediator.Transaction {
	b, _ := json.Marshal(body)
	doc := mediator.Transaction{
		ID:     id,
		Status: mediator.StatusProcessing,
		Request: mediator.TransactionRequest{
			Path:   wf.Options.Path,
			Method: http.MethodPost,
			Headers: map[string]string{
				"content-type":            "application/json",
				"x-jobmediator-trigger":   trigger,
				"x-jobmediator-workflow":  wf.Key,
				"x-jobmediator-window-to": body.Window.Until.Format(time.RFC3339),
			},
			Body:      string(red.JSON(b)),
			Timestamp: mediator.Timestamp(started),
		},
		CanRerun:   true,
		Properties: map[string]string{"workflow": wf.Key, "trigger": trigger},
	}
	if o.ChannelID != nil {
		doc.ChannelID = o.ChannelID(wf.Key)
	}
	return doc
}

// serveScheduledRerun handles a rerun (or any replay) of a recorded
// scheduled transaction: the body is the window and start state it ran
// with; the same window runs again and the live cursor does not move.
func (h *Scheduler) serveScheduledRerun(w http.ResponseWriter, r *http.Request, wf *config.Workflow) {
	tx := mediator.TxFromRequest(r)
	log := h.x.Logger().WithFields(logrus.Fields{"workflow": wf.Key, "transaction": tx.TransactionID, "parent": tx.ParentID, "task": tx.TaskID})
	if !h.x.Enabled(wf) {
		h.x.Reject(w, r, http.StatusServiceUnavailable, "workflow "+wf.Key+" is disabled")
		return
	}
	raw, err := readLimited(w, r, h.o.BodyLimit)
	if err != nil {
		h.x.Reject(w, r, http.StatusRequestEntityTooLarge, err.Error())
		return
	}
	var body scheduledBody
	if err := json.Unmarshal(raw, &body); err != nil || body.Window.Until.IsZero() {
		h.x.Reject(w, r, http.StatusBadRequest, "a replayed scheduled run needs its recorded body {workflow, trigger, window: {since, until}, state}")
		return
	}
	if body.Workflow != wf.Key {
		h.x.Reject(w, r, http.StatusBadRequest, fmt.Sprintf("the replayed window belongs to workflow %q, not %q", body.Workflow, wf.Key))
		return
	}
	if body.Trigger == "" {
		body.Trigger = r.Header.Get(TriggerHeader)
	}
	log.WithField("until", body.Window.Until.Format(time.RFC3339)).Info("rerun of a scheduled window")
	out, err := h.runScheduled(r.Context(), runSpec{wf: wf, trigger: body.Trigger, tx: tx, replay: &body, log: log})
	if err != nil {
		h.x.Reject(w, r, http.StatusBadRequest, err.Error())
		return
	}
	h.x.Write(w, tx, out.Reply, out.Env, nil)
}

func readLimited(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return nil, fmt.Errorf("request body is larger than the limit of %d bytes (BODY_SIZE_LIMIT=%s)", limit, config.FormatByteSize(limit))
	}
	return b, nil
}

// redactUpdate scrubs known secret values from a transaction update.
func redactUpdate(u mediator.TransactionUpdate, red *redact.Redactor) mediator.TransactionUpdate {
	b, err := json.Marshal(u)
	if err != nil {
		return u
	}
	var out mediator.TransactionUpdate
	if err := json.Unmarshal([]byte(red.String(string(b))), &out); err != nil {
		return u
	}
	return out
}
