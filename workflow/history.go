package workflow

import (
	"bytes"
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
	// History takes it to cover the store's own redactor (the executor's
	// run redactor is a Clone of the redactor the daemon gives the store,
	// plus the run's credentials), so the store does not redact again.
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

// RunFinished implements Observer. It only queues the run: cleaning and
// redacting its states (JSON decoding and encoding, most of the cost of
// recording a run) is done by the store's journal writer, off the
// request path, right before the group commit (store.RecordRunFunc).
// A run that brings its redactor (the executor's: its input is redacted
// with it, and it covers the store's) is recorded without the store's
// second redaction (store.RecordCleanRunFunc); any other is redacted by
// the store as well, since nothing says what its input was cleaned with.
func (h *History) RunFinished(ctx context.Context, rec RunRecord) {
	red, record := rec.Redactor, store.RecordCleanRunFunc
	if red == nil {
		red, record = h.Redactor, store.RecordRunFunc
	}
	if red == nil {
		red = redact.New()
	}
	runID := rec.RunID
	onErr := func(err error) {
		h.log().WithError(err).WithField("run", runID).Error("run history: could not record the run")
	}
	build := func() (*store.Run, []store.LogLine) { return historyRun(rec, red) }
	if err := record(context.WithoutCancel(ctx), h.Store, build, onErr); err != nil {
		onErr(err)
	}
}

// historyRun is the stored form of a finished run and its log lines.
func historyRun(rec RunRecord, red *redact.Redactor) (*store.Run, []store.LogLine) {
	run := &store.Run{
		ID: rec.RunID, Workflow: rec.Workflow, Trigger: rec.Trigger,
		TransactionID: rec.Tx.TransactionID, ParentID: rec.Tx.ParentID, TaskID: rec.Tx.TaskID,
		Input: rec.Input, Started: rec.Started.UTC(), Finished: rec.Finished.UTC(),
		Orchestrations: len(rec.Exchanges), Status: store.RunSuccess,
	}
	res := rec.Result
	if res == nil {
		return run, nil
	}
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
		out := run.Output // the last step's output is usually the run's: clean it once
		if !bytes.Equal(s.Output, res.State) {
			out = CleanState(s.Output, red)
		}
		// A step that stopped part-way (crashed, or failed under legacy)
		// has no output; keep the state its failing operation was handed,
		// as `jobmediator run` writes it then, so history shows how far the
		// step got. The run's own Output stays the final state (none).
		if len(s.Output) == 0 && len(s.Reached) > 0 {
			out = CleanState(s.Reached, red)
		}
		sr := store.StepRecord{ID: s.ID, Job: s.Job, Name: s.Name, Status: store.RunStatus(s.Status),
			Started: s.Started.UTC(), Finished: s.Finished.UTC(), Output: out}
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
	var lines []store.LogLine
	if len(res.Logs) > 0 {
		lines = make([]store.LogLine, 0, len(res.Logs))
		for _, l := range res.Logs {
			lines = append(lines, store.LogLine{Time: l.Time, Level: l.Level, Step: l.Step, Message: red.String(l.Message)})
		}
	}
	return run, lines
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
	// One pass over the text (redact.JSONWithout drops the key as it
	// redacts): no decoding into maps, so a multi-megabyte state costs
	// milliseconds and keeps its key order.
	return red.JSONWithout(state, "configuration")
}
