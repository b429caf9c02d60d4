package workflow

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/runtime"
)

// counting is an Isolated runner that only counts the runs handed to it.
type counting struct{ n atomic.Int64 }

func (c *counting) Run(context.Context, runtime.RunRequest) *runtime.Result {
	c.n.Add(1)
	return &runtime.Result{Status: runtime.StatusSuccess, State: json.RawMessage(`{"isolated":true}`)}
}

// TestSplitRoutes: a workflow whose every job is declarative and whose
// edges need no JavaScript runs here, without a VM; any other goes to the
// isolated runner.
func TestSplitRoutes(t *testing.T) {
	var bodies atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies.Add(int64(len(b)))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"saved":true}`))
	}))
	defer up.Close()
	http7 := func(key, body string) *config.Job {
		return &config.Job{Key: key, Name: key, Adaptor: "@openfn/language-http@7", Body: body, Credential: "up"}
	}
	trigger := []*config.Trigger{{Key: "webhook", Type: config.TriggerWebhook, Enabled: true}}
	start := &config.Edge{Key: "t", SourceTrigger: "webhook", TargetJob: "a", Condition: config.ConditionAlways, Enabled: true}
	declarative := &config.Workflow{Key: "fwd", Triggers: trigger,
		Jobs:  []*config.Job{http7("a", `post('/records', $.data)`), http7("b", `get('/check')`)},
		Edges: []*config.Edge{start, edge("a", "b", config.ConditionOnSuccess, "")}}
	jsEdge := &config.Workflow{Key: "js-edge", Triggers: trigger,
		Jobs:  []*config.Job{http7("a", `post('/records', $.data)`), http7("b", `get('/check')`)},
		Edges: []*config.Edge{start, edge("a", "b", config.ConditionJSExpression, "state.data.saved")}}
	scripted := &config.Workflow{Key: "scripted", Triggers: trigger,
		Jobs:  []*config.Job{http7("a", `fn(s => s); post('/records', $.data)`)},
		Edges: []*config.Edge{start}}

	e := runtime.New(runtime.Options{})
	iso := &counting{}
	s := NewSplit(e, iso)
	cred := func(string) (map[string]any, bool) { return map[string]any{"baseUrl": up.URL}, true }
	run := func(wf *config.Workflow) *runtime.Result {
		return s.Run(context.Background(), runtime.RunRequest{Workflow: wf, Compat: config.CompatLightning,
			Input: json.RawMessage(`{"data":{"name":"x"}}`), Credential: cred,
			HTTP: recorder.NewClient(nil, recorder.NewRecorder(nil))})
	}

	res := run(declarative)
	mustSucceed(t, res)
	if got := stepIDs(res); got != "a:success,b:success" {
		t.Fatalf("steps %s", got)
	}
	if ran, _, _ := e.NativeCounts(); ran != 2 || iso.n.Load() != 0 || bodies.Load() == 0 {
		t.Fatalf("declarative workflow: %d native steps, %d isolated runs, %d bytes upstream", ran, iso.n.Load(), bodies.Load())
	}
	for _, wf := range []*config.Workflow{jsEdge, scripted} {
		if s.Declarative(wf, config.CompatLightning) {
			t.Errorf("%s taken as declarative", wf.Key)
		}
		if res := run(wf); string(res.State) != `{"isolated":true}` {
			t.Errorf("%s ran here: %s", wf.Key, res.State)
		}
	}
	if iso.n.Load() != 2 {
		t.Fatalf("isolated runs %d, want 2", iso.n.Load())
	}
}

// TestSplitCapsResponses: runs kept in the daemon read at most twice the
// state limit of a response, so even one handed to the VM holds a bounded
// amount; the bigger answer fails as a too-large body, recorded.
func TestSplitCapsResponses(t *testing.T) {
	big := make([]byte, 3<<10)
	for i := range big {
		big[i] = 'x'
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(big)
	}))
	defer up.Close()
	wf := &config.Workflow{Key: "fwd", Triggers: []*config.Trigger{{Key: "webhook", Type: config.TriggerWebhook, Enabled: true}},
		Jobs:  []*config.Job{{Key: "a", Name: "a", Adaptor: "@openfn/language-http@7", Body: `get('/big')`, Credential: "up"}},
		Edges: []*config.Edge{{Key: "t", SourceTrigger: "webhook", TargetJob: "a", Condition: config.ConditionAlways, Enabled: true}}}
	e := runtime.New(runtime.Options{MaxStateBytes: 1 << 10})
	s := NewSplit(e, &counting{})
	rec := recorder.NewRecorder(nil)
	res := s.Run(context.Background(), runtime.RunRequest{Workflow: wf, Compat: config.CompatLightning, Input: json.RawMessage(`{}`),
		Credential: func(string) (map[string]any, bool) { return map[string]any{"baseUrl": up.URL}, true },
		HTTP:       recorder.NewClient(nil, rec)})
	if res.Error == nil || res.Error.Code != "EBODYTOOLARGE" {
		t.Fatalf("a 3 KiB answer under a 1 KiB state limit: %s %+v", res.Status, res.Error)
	}
	if ex := rec.Exchanges(); len(ex) != 1 || ex[0].Error == "" {
		t.Fatalf("exchanges %+v", ex)
	}
}
