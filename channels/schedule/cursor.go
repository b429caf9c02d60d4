package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/runtime"
	"github.com/jobmediator/jobmediator/store"
	"github.com/jobmediator/jobmediator/workflow"
)

// Cursors carried between scheduled runs (docs/scheduling.md).
//
// One store cursor per scheduled workflow holds a CursorValue:
//
//   - State: what the next run starts from. With cron_cursor_job, the
//     output of that job's last successful step (both profiles). Without
//     it, Lightning (since March 2026, OpenFn/lightning#4531) carries the
//     run's final state, and OpenFn v1 (legacy profile) the final state of
//     the cron job, i.e. the output of the step the cron trigger feeds.
//     Lightning projects exported from before that change name their first
//     job as cron_cursor_job, so they keep their old behaviour.
//     configuration and state.openhim are removed and secrets redacted.
//   - Watermark: the end of the last window processed successfully (the
//     tick time for cron, x-openhim-lastrunat for polling, the call time for
//     manual runs). The next window is (Watermark, now].
//   - LastRunDateTime: the start of the last successful run (ISO 8601 UTC,
//     milliseconds). Under the legacy profile the next input gets it as
//     state.lastRunDateTime unless the carried state already has one (the
//     Cambodia jobs set it themselves; the job's own value wins).
//
// The cursor is written only after a successful run, with compare-and-set
// on the version read before the run: a failed run never moves it, and a
// run that lost a race (another replica, a manual run) never moves it back.

// CursorValue is the JSON a workflow's cursor holds in the store.
type CursorValue struct {
	State           json.RawMessage `json:"state,omitempty"`
	Watermark       *time.Time      `json:"watermark,omitempty"`
	LastRunDateTime string          `json:"lastRunDateTime,omitempty"`
	RunID           string          `json:"runId,omitempty"`
	Trigger         string          `json:"trigger,omitempty"`
}

// Window is the slice of time a scheduled run covers: (Since, Until].
// Since is nil on a workflow's first run.
type Window struct {
	Since *time.Time `json:"since"`
	Until time.Time  `json:"until"`
}

// StateCursorKey is the store key of a cron workflow's cursor.
func StateCursorKey(workflow string) string { return "workflow:" + workflow + ":state" }

// PollingCursorKey is the store key of a polling workflow's cursor (its
// watermark and carried state).
func PollingCursorKey(workflow string) string { return "workflow:" + workflow + ":polling" }

// tickCursorKey records the last cron tick a replica claimed.
func tickCursorKey(workflow string) string { return "workflow:" + workflow + ":tick" }

// CursorKeys are the store keys of a workflow's cursors, by the name the
// operator API shows them under.
func CursorKeys(workflow string) map[string]string {
	return map[string]string{"state": StateCursorKey(workflow), "polling": PollingCursorKey(workflow), "tick": tickCursorKey(workflow)}
}

func cursorKey(wf *config.Workflow) string {
	if wf.Options.Polling != "" {
		return PollingCursorKey(wf.Key)
	}
	return StateCursorKey(wf.Key)
}

// scheduledWorkflow reports whether wf carries a cursor at all: manual runs
// of webhook-only workflows never create one.
func scheduledWorkflow(wf *config.Workflow) bool {
	return wf.Options.Polling != "" || workflow.CronTrigger(wf) != nil
}

// loadCursor reads a cursor; a missing one is the zero value at version 0.
func (h *Scheduler) loadCursor(ctx context.Context, key string) (CursorValue, int64, error) {
	var cv CursorValue
	if h.o.Store == nil {
		return cv, 0, nil
	}
	c, err := h.o.Store.GetCursor(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return cv, 0, nil
	}
	if err != nil {
		return cv, 0, fmt.Errorf("reading cursor %s: %w", key, err)
	}
	if len(c.Value) > 0 {
		if err := json.Unmarshal(c.Value, &cv); err != nil {
			return cv, 0, fmt.Errorf("cursor %s is not a cursor record: %v", key, err)
		}
	}
	return cv, c.Version, nil
}

// startState is the input a scheduled run begins from (without
// state.openhim), by the rules above.
func (h *Scheduler) startState(wf *config.Workflow, cv CursorValue) (map[string]any, error) {
	st := map[string]any{}
	if len(cv.State) > 0 && string(cv.State) != "null" {
		if err := json.Unmarshal(cv.State, &st); err != nil || st == nil {
			return nil, fmt.Errorf("the stored cursor state of workflow %s is not a JSON object", wf.Key)
		}
	}
	if h.x.Project().EffectiveCompat(wf, nil, h.x.Compat()) == config.CompatLegacy && cv.LastRunDateTime != "" {
		if _, has := st["lastRunDateTime"]; !has {
			st["lastRunDateTime"] = cv.LastRunDateTime
		}
	}
	return st, nil
}

// decodeObject parses an explicit state or cursor: it must be a JSON object.
func decodeObject(what string, raw json.RawMessage) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, fmt.Errorf("%w: %s must be a JSON object", workflow.ErrBadInput, what)
	}
	return m, nil
}

// nextCursorState picks what the next run starts from: the cursor job's
// (or the trigger's target job's) last successful step output in this run,
// else the final state; prev when the cursor job did not succeed this time.
func nextCursorState(wf *config.Workflow, compat config.Compat, res *runtime.Result, prev json.RawMessage, red *redact.Redactor) json.RawMessage {
	job := ""
	explicit := false
	if tr := workflow.CronTrigger(wf); tr != nil && tr.CronCursorJob != "" {
		job, explicit = tr.CronCursorJob, true
	} else if compat == config.CompatLegacy {
		job = targetJob(wf)
	}
	if job != "" {
		for i := len(res.Steps) - 1; i >= 0; i-- {
			s := res.Steps[i]
			if s.Job == job && s.Status == runtime.StatusSuccess && len(s.Output) > 0 {
				return cursorClean(s.Output, red)
			}
		}
	}
	if explicit {
		return prev
	}
	return cursorClean(res.State, red)
}

// targetJob is the single job the scheduling trigger's enabled edges reach,
// "" when there are several (then the final state is carried).
func targetJob(wf *config.Workflow) string {
	tr := workflow.CronTrigger(wf)
	if tr == nil && len(wf.Triggers) > 0 {
		tr = wf.Triggers[0]
	}
	if tr == nil {
		return ""
	}
	target := ""
	for _, e := range wf.Edges {
		if e.SourceTrigger != tr.Key || !e.Enabled {
			continue
		}
		if target != "" && target != e.TargetJob {
			return ""
		}
		target = e.TargetJob
	}
	return target
}

// cursorClean removes what must not be carried (configuration, our own
// openhim block) and redacts the rest before it is stored.
func cursorClean(state json.RawMessage, red *redact.Redactor) json.RawMessage {
	if len(state) == 0 || string(state) == "null" {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(state, &m); err != nil || m == nil {
		return nil
	}
	delete(m, "configuration")
	delete(m, "openhim")
	b, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	return red.JSON(b)
}

// advanceCursor writes the cursor after a successful run, with CAS on the
// version read before it. A conflict (someone else advanced it meanwhile)
// is returned as store.ErrConflict and leaves the stored value alone.
func (h *Scheduler) advanceCursor(ctx context.Context, key string, version int64, cv CursorValue) error {
	b, err := json.Marshal(cv)
	if err != nil {
		return err
	}
	return h.o.Store.PutCursor(context.WithoutCancel(ctx), &store.Cursor{Key: key, Value: b, Version: version})
}

// tickClaim is the value of a workflow's tick cursor.
type tickClaim struct {
	Tick  time.Time `json:"tick"`
	Owner string    `json:"owner"`
}

// claimTick makes one replica the runner of a cron tick: the first to move
// the workflow's tick cursor to this tick (compare-and-set) wins; a replica
// that finds the tick (or a later one) already claimed stays out. One small
// record per workflow does what a lease per tick would, without leaving a
// lease behind for every tick ever fired.
func (h *Scheduler) claimTick(ctx context.Context, wf string, tick time.Time, owner string) (bool, error) {
	key := tickCursorKey(wf)
	tick = tick.UTC().Truncate(time.Millisecond) // the store keeps milliseconds
	for attempt := 0; attempt < 5; attempt++ {
		var version int64
		c, err := h.o.Store.GetCursor(ctx, key)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return false, err
		default:
			var last tickClaim
			if json.Unmarshal(c.Value, &last) == nil && !last.Tick.Before(tick) {
				return false, nil
			}
			version = c.Version
		}
		b, _ := json.Marshal(tickClaim{Tick: tick, Owner: owner})
		err = h.o.Store.PutCursor(ctx, &store.Cursor{Key: key, Value: b, Version: version})
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return false, err
		}
	}
	return false, nil
}
