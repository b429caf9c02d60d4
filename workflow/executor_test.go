package workflow

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/mediator"
	"github.com/jobmediator/jobmediator/runtime"
)

// twoDoors is a workflow started by a webhook (→ a) and by cron (→ b): a
// scheduled run must start at the cron trigger without anyone changing the
// workflow, a request at the webhook.
func twoDoors() *config.Project {
	mark := func(k string) string { return `fn(s => ({ ...s, ran: '` + k + `' }))` }
	wf := &config.Workflow{Key: "both", Name: "both",
		Triggers: []*config.Trigger{{Key: "hook", Type: config.TriggerWebhook, Enabled: true},
			{Key: "tick", Type: config.TriggerCron, CronExpression: "@hourly", Enabled: true}},
		Jobs: []*config.Job{job("a", mark("a")), job("b", mark("b"))},
		Edges: []*config.Edge{{Key: "h", SourceTrigger: "hook", TargetJob: "a", Enabled: true},
			{Key: "t", SourceTrigger: "tick", TargetJob: "b", Enabled: true}},
	}
	wf.Options.Enabled = true
	return &config.Project{Workflows: []*config.Workflow{wf}}
}

type recorded struct{ recs []RunRecord }

func (r *recorded) RunFinished(_ context.Context, rec RunRecord) { r.recs = append(r.recs, rec) }

func TestTriggerTravelsDown(t *testing.T) {
	p := twoDoors()
	wf := p.Workflows[0]
	obs := &recorded{}
	x, err := New(p, Options{URN: "urn:test", Runner: NewLocal(runtime.New(runtime.Options{})), Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		trigger Trigger
		ran     string
		lane    string
	}{
		{Webhook(wf), "a", config.LaneRouted},
		{Scheduled(wf, "cron"), "b", config.LaneScheduled},
		{Scheduled(wf, "manual"), "b", config.LaneScheduled},
	} {
		if got := tc.trigger.lane(); got != tc.lane {
			t.Errorf("%s: lane %q, want %q", tc.trigger.Kind, got, tc.lane)
		}
		out, err := x.Run(context.Background(), tc.trigger, Input{State: json.RawMessage(`{"data":{}}`)})
		if err != nil {
			t.Fatal(err)
		}
		var st map[string]any
		_ = json.Unmarshal(out.Result.State, &st)
		if out.Result.Status != runtime.StatusSuccess || st["ran"] != tc.ran {
			t.Errorf("%s: ran %v (%s), want %s", tc.trigger.Kind, st["ran"], out.Result.Status, tc.ran)
		}
		if out.Envelope.URN != "urn:test" || out.Envelope.Status != mediator.StatusSuccessful || out.Reply.Status != http.StatusOK {
			t.Errorf("%s: envelope %+v reply %d", tc.trigger.Kind, out.Envelope, out.Reply.Status)
		}
	}
	// The workflow itself was never changed to start elsewhere.
	if len(wf.Triggers) != 2 || wf.Options.Lane != "" {
		t.Errorf("the workflow was modified: %+v %q", wf.Triggers, wf.Options.Lane)
	}
	var kinds []string
	for _, r := range obs.recs {
		kinds = append(kinds, r.Trigger)
	}
	if strings.Join(kinds, ",") != "hook,cron,manual" {
		t.Errorf("history records triggers %v", kinds)
	}
	if _, err := x.Run(context.Background(), Trigger{}, Input{}); err == nil {
		t.Error("a trigger without a workflow was run")
	}
}

// The outcome carries every outbound call back up as an orchestration; no
// caller reads a recorder.
func TestOutcomeCarriesOrchestrations(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		w.Write([]byte(`{"ok":true}`))
	}))
	defer up.Close()
	wf := &config.Workflow{Key: "post", Name: "post",
		Jobs: []*config.Job{{Key: "send", Name: "send", Adaptor: "http", Credential: "up",
			Body: `post('/records', { body: state.data })`}}}
	p := &config.Project{Workflows: []*config.Workflow{wf}}
	creds := config.NewCredentials(map[string]map[string]any{"up": {"baseUrl": up.URL, "username": "u", "password": "pw-never-shown"}})
	x, err := New(p, Options{Runner: NewLocal(runtime.New(runtime.Options{})), Credentials: creds.Get})
	if err != nil {
		t.Fatal(err)
	}
	out, err := x.Run(context.Background(), Webhook(wf), Input{State: json.RawMessage(`{"data":{"id":1}}`)})
	if err != nil {
		t.Fatal(err)
	}
	if out.Result.Status != runtime.StatusSuccess || len(out.Exchanges) != 1 || len(out.Envelope.Orchestrations) != 1 {
		t.Fatalf("status %s, %d exchanges, %d orchestrations: %+v", out.Result.Status, len(out.Exchanges), len(out.Envelope.Orchestrations), out.Result.Error)
	}
	o := out.Envelope.Orchestrations[0]
	if o.Request == nil || o.Request.Path != "/records" || o.Response == nil || o.Response.Status != 201 {
		t.Errorf("orchestration %+v", o)
	}
	b, _ := json.Marshal(out.Envelope)
	if strings.Contains(string(b), "pw-never-shown") {
		t.Errorf("the credential is in the envelope: %s", b)
	}
}

// A run that cannot get a worker of its lane before its caller gives up is
// an outcome (503, Failed), not a hang.
func TestLaneFullAndCancelled(t *testing.T) {
	p := twoDoors()
	wf := p.Workflows[0]
	x, err := New(p, Options{Runner: NewLocal(runtime.New(runtime.Options{})), Lanes: map[string]int{config.LaneRouted: 1}})
	if err != nil {
		t.Fatal(err)
	}
	x.lanes[config.LaneRouted] <- struct{}{} // the one worker is busy
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	out, err := x.Run(ctx, Webhook(wf), Input{State: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if out.Result != nil || out.Reply.Status != http.StatusServiceUnavailable || out.Envelope.Status != mediator.StatusFailed {
		t.Errorf("reply %d envelope %s result %v", out.Reply.Status, out.Envelope.Status, out.Result)
	}
	if _, err := New(p, Options{Runner: NewLocal(runtime.New(runtime.Options{})), Lanes: map[string]int{"x": 0}}); err == nil {
		t.Error("a lane of 0 workers was accepted")
	}
}
