package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/sirupsen/logrus"

	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/service"
	"github.com/jobmediator/jobmediator/mediator"
	"github.com/jobmediator/jobmediator/store"
	"github.com/jobmediator/jobmediator/workflow"
)

// OpenHIM polling channels (openhim.md §4.6): core's scheduler sends
// `GET <route path>` with `channel-id` and `x-openhim-lastrunat` (the start
// of the *current* poll, JS Date.toString(), lower-cased names). That time
// is no watermark, so we keep our own: the window is (watermark, lastrunat]
// and the watermark moves to lastrunat only after a successful run.

// Register adds the routes that scheduling needs: GET on each polling
// workflow's path, and on each scheduled workflow's path a POST carrying
// our trigger header (the rerun of a recorded scheduled transaction).
// Register them before the webhook routes, so they win on shared paths.
func (h *Scheduler) Register(r *mux.Router) {
	for _, wf := range h.x.Project().Workflows {
		wf := wf
		if !scheduledWorkflow(wf) {
			continue
		}
		r.Handle(wf.Options.Path, h.guard(func(w http.ResponseWriter, req *http.Request) {
			h.serveScheduledRerun(w, req, wf)
		})).Methods(http.MethodPost).HeadersRegexp(TriggerHeader, "^(cron|manual|polling)$")
		if wf.Options.Polling != "" {
			r.Handle(wf.Options.Path, h.guard(func(w http.ResponseWriter, req *http.Request) {
				h.servePoll(w, req, wf)
			})).Methods(http.MethodGet)
		}
	}
}

// Wait blocks until polls still running after their answer (202) have
// finished and completed their transactions, or ctx ends.
func (h *Scheduler) Wait(ctx context.Context) error {
	return service.WaitGroup(ctx, &h.wg)
}

// PollingWorkflows lists the workflows that ask OpenHIM core to schedule
// them (option polling), for the channel registration: each becomes a
// channel of type polling with pollingSchedule = the option and a route to
// the workflow's path (method GET).
func (h *Scheduler) PollingWorkflows() []*config.Workflow {
	var out []*config.Workflow
	for _, wf := range h.x.Project().Workflows {
		if wf.Options.Polling != "" {
			out = append(out, wf)
		}
	}
	return out
}

// servePoll handles one polling trigger (or a direct GET, which polls up to
// now).
func (h *Scheduler) servePoll(w http.ResponseWriter, r *http.Request, wf *config.Workflow) {
	tx := mediator.TxFromRequest(r)
	log := h.x.Logger().WithFields(logrus.Fields{"workflow": wf.Key, "trigger": "polling", "transaction": tx.TransactionID, "channel": tx.ChannelID})
	if !h.x.Enabled(wf) {
		h.x.Reject(w, r, http.StatusServiceUnavailable, "workflow "+wf.Key+" is disabled")
		return
	}
	if tx.Rerun() {
		h.servePollRerun(w, r, wf, tx, log)
		return
	}
	until := h.x.Now().UTC()
	if tx.LastRunAt != "" {
		if tx.LastRunAtTime == nil {
			h.x.Reject(w, r, http.StatusBadRequest, "x-openhim-lastrunat "+tx.LastRunAt+" is not a date (want JS Date.toString(), RFC 3339 or epoch milliseconds)")
			return
		}
		until = *tx.LastRunAtTime
	}
	release, err := h.acquire(r.Context(), wf, wf.Options.Overlap == config.OverlapQueue)
	if err != nil {
		status := http.StatusServiceUnavailable
		msg := "could not start the poll: " + err.Error()
		if errors.Is(err, workflow.ErrBusy) {
			// Non-2xx marks core's polling job failed in its log, which is
			// honest: this poll did nothing. The watermark did not move, so
			// the next poll covers this window too.
			status, msg = http.StatusConflict, "the previous poll of "+wf.Key+" is still running; this one is skipped and the next poll covers its window"
		}
		log.WithError(err).Warn("poll skipped")
		h.x.Reject(w, r, status, msg)
		return
	}
	h.pollRun(w, r, wf, tx, runSpec{wf: wf, trigger: "polling", until: until, tx: tx, log: log}, release, log)
}

// servePollRerun re-runs the window of the original polling transaction,
// read back from run history (core replays only the GET and its headers).
func (h *Scheduler) servePollRerun(w http.ResponseWriter, r *http.Request, wf *config.Workflow, tx mediator.TxContext, log *logrus.Entry) {
	if h.o.Store == nil {
		h.x.Reject(w, r, http.StatusServiceUnavailable, "a poll rerun needs run history (a store) to find the original window")
		return
	}
	orig, err := h.o.Store.FindRunByTransaction(r.Context(), tx.ParentID)
	if errors.Is(err, store.ErrNotFound) {
		h.x.Reject(w, r, http.StatusUnprocessableEntity, "no run of transaction "+tx.ParentID+" is in run history (culled?), so its window is unknown; trigger the channel instead")
		return
	}
	if err != nil {
		h.x.Reject(w, r, http.StatusServiceUnavailable, "reading run history: "+err.Error())
		return
	}
	body, err := replayFromRun(wf, orig)
	if err != nil {
		h.x.Reject(w, r, http.StatusUnprocessableEntity, err.Error())
		return
	}
	release, err := h.acquire(r.Context(), wf, true)
	if err != nil {
		h.x.Reject(w, r, http.StatusConflict, "could not start the rerun: "+err.Error())
		return
	}
	log.WithField("until", body.Window.Until.Format(time.RFC3339)).Info("rerun of a polling window")
	h.pollRun(w, r, wf, tx, runSpec{wf: wf, trigger: "polling", tx: tx, replay: body, log: log}, release, log)
}

// replayFromRun rebuilds a polling run's window and start state from its
// recorded (redacted) input.
func replayFromRun(wf *config.Workflow, run *store.Run) (*scheduledBody, error) {
	var in map[string]any
	if err := json.Unmarshal(run.Input, &in); err != nil || in == nil {
		return nil, errors.New("the original run's input is not in run history (truncated?), so its window is unknown")
	}
	oh, _ := in["openhim"].(map[string]any)
	raw, _ := json.Marshal(oh["window"])
	var win Window
	if err := json.Unmarshal(raw, &win); err != nil || win.Until.IsZero() {
		return nil, errors.New("the original run recorded no window; it was not a scheduled run")
	}
	delete(in, "openhim")
	st, _ := json.Marshal(in)
	return &scheduledBody{Workflow: wf.Key, Trigger: "polling", Window: win, State: st}, nil
}

// pollRun runs the poll and answers within the reply budget: a run that
// finishes in time is answered with its envelope; a longer one (or an
// async workflow) gets 202 Processing and is completed with PUT
// /transactions/:id when it ends. Without a Completer the answer waits.
func (h *Scheduler) pollRun(w http.ResponseWriter, r *http.Request, wf *config.Workflow, tx mediator.TxContext, sp runSpec, release func(), log *logrus.Entry) {
	canDetach := h.o.Completer != nil && tx.Routed()
	budget := h.options().PollReplyWithin
	type result struct {
		out *runOutcome
		err error
	}
	var mu sync.Mutex
	detached := false
	done := make(chan result, 1)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		// Core's request may end (202) before the run does.
		ctx := context.WithoutCancel(r.Context())
		out, err := h.runScheduled(ctx, sp)
		// Free the workflow before answering, so the next poll core sends
		// after our answer is not refused as overlapping.
		release()
		// Decide under the lock, so the answer and the completion can
		// never both be skipped (or both be sent).
		mu.Lock()
		if !detached {
			done <- result{out, err} // buffered: never blocks
			mu.Unlock()
			return
		}
		mu.Unlock()
		var env *mediator.Response
		if err != nil {
			rp := workflow.Reply{Status: http.StatusBadRequest, ContentType: "application/json", EnvStatus: mediator.StatusCompleted}
			rp.Body, _ = json.Marshal(map[string]any{"error": map[string]any{"message": err.Error(), "status": rp.Status}})
			env = h.x.Envelope(rp, wf, "", nil, nil, tx)
		} else {
			env = out.Env
		}
		if cerr := h.o.Completer.UpdateTransaction(ctx, tx.TransactionID, redactUpdate(mediator.Completion(env), h.x.RunRedactor(wf))); cerr != nil {
			log.WithError(cerr).Error("could not complete the polling transaction")
		}
	}()
	answer := func(res result) {
		if res.err != nil {
			status := http.StatusServiceUnavailable
			if errors.Is(res.err, workflow.ErrBadInput) {
				status = http.StatusUnprocessableEntity
			}
			h.x.Reject(w, r, status, res.err.Error())
			return
		}
		h.x.Write(w, tx, res.out.Reply, res.out.Env, nil)
	}
	async := wf.Options.Async || wf.Options.Response == config.ResponseWorkOrder
	var wait <-chan time.Time
	if canDetach {
		if async {
			budget = 0
		}
		t := time.NewTimer(budget)
		defer t.Stop()
		wait = t.C
	}
	select {
	case res := <-done:
		answer(res)
		return
	case <-wait:
	}
	mu.Lock()
	select {
	case res := <-done: // finished just as the budget ran out
		mu.Unlock()
		answer(res)
		return
	default:
		detached = true
	}
	mu.Unlock()
	log.Info("poll continues in the background; its transaction is completed when it ends")
	body, _ := json.Marshal(map[string]string{"workflow": wf.Key, "status": "processing"})
	h.x.Write(w, tx, workflow.Reply{Status: http.StatusAccepted, Body: body, ContentType: "application/json", EnvStatus: mediator.StatusProcessing},
		nil, map[string]string{"workflow": wf.Key, "mode": "async"})
}
