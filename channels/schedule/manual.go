package schedule

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/sirupsen/logrus"

	"github.com/jobmediator/jobmediator/mediator"
	"github.com/jobmediator/jobmediator/runtime"
	"github.com/jobmediator/jobmediator/workflow"
)

// ManualRun is a run started by a person (CLI or API).
type ManualRun struct {
	// Cursor replaces the stored cursor state as the input; a success then
	// advances the cursor from it (backfill from a chosen point).
	Cursor json.RawMessage
	// State is the whole initial state, used as given (the seed's
	// "initialState" pattern); the cursor is neither read nor moved.
	State json.RawMessage
}

// ManualResult is what a manual run produced.
type ManualResult struct {
	RunID         string
	TransactionID string // OpenHIM transaction, when recording is on
	Window        Window
	Advanced      bool // the cursor moved
	Envelope      *mediator.Response
	Result        *runtime.Result
	Output        json.RawMessage // cleaned, redacted final state
}

// RunNow runs a workflow once, now, as its schedule would (cursor
// semantics, OpenHIM recording when the scheduler has a recorder, no
// overlap with a scheduled run: workflow.ErrBusy). cursorOverride, when not empty,
// replaces the stored cursor state (see ManualRun.Cursor).
func (h *Scheduler) RunNow(ctx context.Context, workflowKey string, cursorOverride json.RawMessage) (*mediator.Response, *runtime.Result, error) {
	m := ManualRun{}
	if len(bytes.TrimSpace(cursorOverride)) > 0 {
		m.Cursor = cursorOverride
	}
	res, err := h.RunManual(ctx, workflowKey, m)
	if err != nil {
		return nil, nil, err
	}
	return res.Envelope, res.Result, nil
}

// RunManual is RunNow with the choice between an explicit cursor and an
// explicit initial state.
func (h *Scheduler) RunManual(ctx context.Context, workflowKey string, m ManualRun) (*ManualResult, error) {
	wf := h.x.Project().Workflow(workflowKey)
	if wf == nil {
		return nil, fmt.Errorf("%w: %q is not a workflow of this project", workflow.ErrUnknownWorkflow, workflowKey)
	}
	if m.Cursor != nil && m.State != nil {
		return nil, fmt.Errorf("%w: give either a cursor or a state, not both", workflow.ErrBadInput)
	}
	if !h.x.Enabled(wf) {
		return nil, fmt.Errorf("%w: workflow %s is disabled", workflow.ErrBadInput, wf.Key)
	}
	release, err := h.acquire(ctx, wf, false)
	if err != nil {
		return nil, err
	}
	defer release()
	log := h.x.Logger().WithFields(logrus.Fields{"workflow": wf.Key, "trigger": "manual"})
	out, err := h.runScheduled(ctx, runSpec{wf: wf, trigger: "manual", until: h.x.Now(), record: true,
		cursor: m.Cursor, state: m.State, log: log})
	if err != nil {
		return nil, err
	}
	r := &ManualResult{RunID: out.RunID, TransactionID: out.TransactionID, Window: out.Window, Advanced: out.Advanced,
		Envelope: out.Env, Result: out.Result}
	if out.Result != nil {
		r.Output = workflow.CleanState(out.Result.State, out.Redactor)
	}
	return r, nil
}
