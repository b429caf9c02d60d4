package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/jobmediator/jobmediator/channels/internal/chantest"
	"github.com/jobmediator/jobmediator/workflow"
)

func TestRunNowWithCursorOverride(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	up := chantest.NewUpstream(t)
	f := newSched(t, st, up, NewFakeClock(t0), nil)
	ctx := context.Background()

	// No override: the stored cursor (none yet) is used and advanced.
	env, res, err := f.h.RunNow(ctx, "pull", nil)
	if err != nil || res.Status != "success" || env.Properties["run_id"] == "" {
		t.Fatalf("RunNow = %v %+v %v", env, res, err)
	}
	// An explicit cursor replaces the stored state and moves the cursor on.
	if _, _, err := f.h.RunNow(ctx, "pull", json.RawMessage(`{"count": 41}`)); err != nil {
		t.Fatal(err)
	}
	cv, v := cursorOf(t, st, StateCursorKey("pull"))
	if stateOf(t, cv)["count"] != 42.0 || cv.Trigger != "manual" {
		t.Errorf("cursor after override = %s %+v", cv.State, cv)
	}
	// An explicit initial state (the seed's initialState) runs once and
	// leaves the cursor alone.
	r, err := f.h.RunManual(ctx, "pull", ManualRun{State: json.RawMessage(`{"count": 100}`)})
	if err != nil || r.Advanced {
		t.Fatalf("state run = %+v %v", r, err)
	}
	if cv2, v2 := cursorOf(t, st, StateCursorKey("pull")); v2 != v || stateOf(t, cv2)["count"] != 42.0 {
		t.Errorf("a state run moved the cursor: %s", cv2.State)
	}
	posts := up.Posts(t, "pull")
	if len(posts) != 3 || posts[0]["count"] != 1.0 || posts[1]["count"] != 42.0 || posts[2]["count"] != 101.0 {
		t.Errorf("upstream saw %v", posts)
	}

	// Manual runs are recorded in OpenHIM when the scheduler has a recorder.
	f.start(t, "a", nil)
	r, err = f.h.RunManual(ctx, "pull", ManualRun{})
	if err != nil || r.TransactionID == "" {
		t.Fatalf("recorded manual run = %+v %v", r, err)
	}
	created, updates := f.txs.snapshot()
	last := created[len(created)-1]
	if last["_id"] != r.TransactionID || last["request"].(map[string]any)["headers"].(map[string]any)["x-jobmediator-trigger"] != "manual" ||
		len(updates[r.TransactionID]) != 1 {
		t.Errorf("manual transaction = %v / %v", last, updates[r.TransactionID])
	}

	for name, tc := range map[string]struct {
		key  string
		m    ManualRun
		want error
	}{
		"unknown workflow":  {"nope", ManualRun{}, workflow.ErrUnknownWorkflow},
		"cursor not object": {"pull", ManualRun{Cursor: json.RawMessage(`[1]`)}, workflow.ErrBadInput},
		"state not json":    {"pull", ManualRun{State: json.RawMessage(`{`)}, workflow.ErrBadInput},
		"both":              {"pull", ManualRun{State: json.RawMessage(`{}`), Cursor: json.RawMessage(`{}`)}, workflow.ErrBadInput},
	} {
		if _, err := f.h.RunManual(ctx, tc.key, tc.m); !errors.Is(err, tc.want) {
			t.Errorf("%s: error = %v, want %v", name, err, tc.want)
		}
	}
	// Busy: no manual run on top of a scheduled one.
	release, _ := f.h.acquire(ctx, f.x.Project().Workflow("pull"), false)
	if _, _, err := f.h.RunNow(ctx, "pull", nil); !errors.Is(err, workflow.ErrBusy) {
		t.Errorf("run during a run: %v", err)
	}
	release()
}
