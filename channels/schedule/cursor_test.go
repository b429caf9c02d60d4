package schedule

import (
	"encoding/json"
	"testing"

	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/runtime"
)

// Which output becomes the next run's input: cron_cursor_job's last
// successful step; else Lightning carries the final state and v1 the cron
// target's output.
func TestNextCursorState(t *testing.T) {
	wf := func(cursorJob string) *config.Workflow {
		return &config.Workflow{Key: "w",
			Triggers: []*config.Trigger{{Key: "cron", Type: config.TriggerCron, Enabled: true, CronExpression: "@hourly", CronCursorJob: cursorJob}},
			Edges: []*config.Edge{
				{SourceTrigger: "cron", TargetJob: "get", Enabled: true},
				{SourceJob: "get", TargetJob: "post", Enabled: true},
			}}
	}
	res := &runtime.Result{Status: runtime.StatusSuccess,
		State: json.RawMessage(`{"data":{"step":"post"},"configuration":{"password":"pw"}}`),
		Steps: []runtime.StepResult{
			{ID: "get", Job: "get", Status: runtime.StatusSuccess, Output: json.RawMessage(`{"cursor":"2026-01-01","openhim":{"x":1}}`)},
			{ID: "post", Job: "post", Status: runtime.StatusSuccess, Output: json.RawMessage(`{"data":{"step":"post"}}`)},
		}}
	failedPost := &runtime.Result{Status: runtime.StatusSuccess, State: res.State, Steps: []runtime.StepResult{
		res.Steps[0], {ID: "post", Job: "post", Status: runtime.StatusFailed},
	}}
	prev := json.RawMessage(`{"previous":true}`)
	red := redact.New()
	for name, tc := range map[string]struct {
		wf     *config.Workflow
		compat config.Compat
		res    *runtime.Result
		want   string
	}{
		"lightning: final state by default":         {wf(""), config.CompatLightning, res, `{"data":{"step":"post"}}`},
		"legacy: the cron target's output":          {wf(""), config.CompatLegacy, res, `{"cursor":"2026-01-01"}`},
		"cron_cursor_job (lightning)":               {wf("get"), config.CompatLightning, res, `{"cursor":"2026-01-01"}`},
		"cron_cursor_job (legacy)":                  {wf("post"), config.CompatLegacy, res, `{"data":{"step":"post"}}`},
		"cursor job failed keeps the old":           {wf("post"), config.CompatLightning, failedPost, `{"previous":true}`},
		"legacy, no single target uses final state": {&config.Workflow{Key: "w"}, config.CompatLegacy, res, `{"data":{"step":"post"}}`},
	} {
		got := nextCursorState(tc.wf, tc.compat, tc.res, prev, red)
		if string(got) != tc.want {
			t.Errorf("%s: %s, want %s", name, got, tc.want)
		}
	}
}
