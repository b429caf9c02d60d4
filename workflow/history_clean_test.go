package workflow

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/runtime"
	"github.com/jobmediator/jobmediator/store"
)

// History hands the store runs the run's redactor has cleaned, and the
// store skips its own second pass (store.RecordCleanRunFunc) only then:
// without a run redactor (with History's own or none) the store's
// redactor still masks what only it knows, input included; with the run's
// redactor (a clone of the store's plus the run's secrets, as the
// executor makes it) both kinds of secret are masked.
func TestHistoryRedactsOnceButNeverNotAtAll(t *testing.T) {
	base := redact.New()
	base.AddValues("daemon-Secret-1")
	st, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir(), Redactor: base})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runRed := base.Clone()
	runRed.AddValues("cred-Secret-2")
	now := time.Now()
	record := func(h *History, id string, red *redact.Redactor) {
		state := json.RawMessage(`{"data":{"a":"daemon-Secret-1","b":"cred-Secret-2"}}`)
		in := state
		if red != nil {
			in = red.JSON(state) // the executor hands History a redacted input
		}
		h.RunFinished(context.Background(), RunRecord{RunID: id, Workflow: "wf", Input: in, Started: now, Finished: now, Redactor: red,
			Result: &runtime.Result{Status: runtime.StatusSuccess, State: state,
				Logs: []runtime.LogLine{{Time: now, Level: "info", Message: "saw daemon-Secret-1"}}}})
	}
	record(&History{Store: st}, "bare", nil)
	record(&History{Store: st}, "run-redactor", runRed)
	record(&History{Store: st, Redactor: base}, "history-redactor", nil)
	for _, c := range []struct{ id, leaks string }{
		{"bare", "daemon-Secret-1"}, {"run-redactor", "daemon-Secret-1"}, {"run-redactor", "cred-Secret-2"}, {"history-redactor", "daemon-Secret-1"},
	} {
		r, err := st.GetRun(context.Background(), c.id)
		if err != nil {
			t.Fatal(err)
		}
		logs, err := st.Logs(context.Background(), c.id)
		if err != nil || len(logs) != 1 {
			t.Fatalf("%s: logs %+v, %v", c.id, logs, err)
		}
		if s := string(r.Input) + string(r.Output) + logs[0].Message; strings.Contains(s, c.leaks) || !strings.Contains(s, redact.Mask) {
			t.Errorf("%s: %s stored: %s", c.id, c.leaks, s)
		}
	}
}
