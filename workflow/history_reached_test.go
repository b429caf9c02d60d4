package workflow

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/runtime"
)

// A crashed step's history keeps the state its failing operation was
// handed (Result.Reached, which also travels back from worker processes),
// cleaned like any stored state: no configuration, secrets masked. The
// run's Output stays empty: there is no final state.
func TestHistoryKeepsReachedStateOfAStoppedStep(t *testing.T) {
	wf := &config.Workflow{Key: "r", Name: "r", Jobs: []*config.Job{
		job("a", `fn(s => ({ ...s, data: { n: 1, token: s.configuration.token } }));
fn(s => { notDefined(); return s; });`)}}
	input := json.RawMessage(`{"data":{},"configuration":{"token":"tok-Secret-77"}}`)
	res := NewLocal(runtime.New(runtime.Options{})).Run(context.Background(), runtime.RunRequest{Workflow: wf, Compat: config.CompatLightning, Input: input})
	if res.Status != runtime.StatusCrashed || res.Reached == nil {
		t.Fatalf("want a crash with a reached state: %s %s", res.Status, res.Reached)
	}
	red := redact.New()
	red.AddValues("tok-Secret-77")
	run, _ := historyRun(RunRecord{RunID: "x", Workflow: "r", Result: res}, red)
	if run.Output != nil {
		t.Errorf("a crashed run has no final state, got %s", run.Output)
	}
	if len(run.Steps) != 1 {
		t.Fatalf("steps %+v", run.Steps)
	}
	out := string(run.Steps[0].Output)
	if !strings.Contains(out, `"n":1`) || strings.Contains(out, "configuration") || strings.Contains(out, "tok-Secret-77") {
		t.Errorf("step output %s: want the reached state, cleaned and redacted", out)
	}
}
