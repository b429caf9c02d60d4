package workflow

import (
	"context"
	"encoding/json"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/mediator"
	"github.com/jobmediator/jobmediator/runtime"
	"github.com/jobmediator/jobmediator/store"
)

// Observer is told about every run (run history, metrics); it must not
// block for long. Nil observers are skipped.
type Observer interface {
	RunFinished(ctx context.Context, rec RunRecord)
}

// RunRecord is what an Observer receives.
type RunRecord struct {
	RunID     string
	Workflow  string
	Trigger   string
	Tx        mediator.TxContext
	Input     json.RawMessage // redacted
	Result    *runtime.Result // State redacted by the observer
	Exchanges []recorder.Exchange
	Started   time.Time
	Finished  time.Time
	Envelope  *mediator.Response
	// Redactor knows this run's credential values; use it before storing.
	Redactor *redact.Redactor
}

// History records every run in the store: the run history operators query
// (workflow, trigger, OpenHIM transaction ids, redacted input and output,
// per-step outcomes, log lines).
type History struct {
	Store    store.Store
	Redactor *redact.Redactor
	Logger   logrus.FieldLogger
}

// RunFinished implements Observer.
func (h *History) RunFinished(ctx context.Context, rec RunRecord) {
	red := rec.Redactor
	if red == nil {
		red = h.Redactor
	}
	if red == nil {
		red = redact.New()
	}
	run := &store.Run{
		ID: rec.RunID, Workflow: rec.Workflow, Trigger: rec.Trigger,
		TransactionID: rec.Tx.TransactionID, ParentID: rec.Tx.ParentID, TaskID: rec.Tx.TaskID,
		Input: rec.Input, Started: rec.Started.UTC(), Finished: rec.Finished.UTC(),
		Orchestrations: len(rec.Exchanges), Status: store.RunSuccess,
	}
	res := rec.Result
	if res != nil {
		switch res.Status {
		case runtime.StatusFailed:
			run.Status = store.RunFailed
		case runtime.StatusCrashed:
			run.Status = store.RunCrashed
		}
		run.Output = CleanState(res.State, red)
		if res.Error != nil {
			run.Error = red.String(res.Error.Message)
		}
		for _, s := range res.Steps {
			sr := store.StepRecord{ID: s.ID, Job: s.Job, Name: s.Name, Status: store.RunStatus(s.Status),
				Started: s.Started.UTC(), Finished: s.Finished.UTC(), Output: CleanState(s.Output, red)}
			switch s.Status {
			case runtime.StatusFailed:
				sr.Status = store.RunFailed
			case runtime.StatusCrashed:
				sr.Status = store.RunCrashed
			}
			if s.Error != nil {
				sr.Error = red.String(s.Error.Message)
			}
			run.Steps = append(run.Steps, sr)
		}
	}
	var lines []store.LogLine
	if res != nil && len(res.Logs) > 0 {
		lines = make([]store.LogLine, 0, len(res.Logs))
		for _, l := range res.Logs {
			lines = append(lines, store.LogLine{Time: l.Time, Level: l.Level, Step: l.Step, Message: red.String(l.Message)})
		}
	}
	// Queued for the store's next group commit (store/journal.go): the
	// answer does not wait for an fsync of its own.
	runID := rec.RunID
	onErr := func(err error) {
		h.log().WithError(err).WithField("run", runID).Error("run history: could not record the run")
	}
	if err := store.RecordRun(context.WithoutCancel(ctx), h.Store, run, lines, onErr); err != nil {
		onErr(err)
	}
}

func (h *History) log() logrus.FieldLogger {
	if h.Logger != nil {
		return h.Logger
	}
	return logrus.StandardLogger()
}

// CleanState drops configuration (the legacy profile keeps it in final
// state) and redacts what is left, before anything is stored.
func CleanState(state json.RawMessage, red *redact.Redactor) json.RawMessage {
	if len(state) == 0 {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(state, &m); err != nil {
		return red.JSON(state)
	}
	delete(m, "configuration")
	b, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	return red.JSON(b)
}
