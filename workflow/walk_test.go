package workflow

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	_ "github.com/jobmediator/jobmediator/adaptors/common"
	_ "github.com/jobmediator/jobmediator/adaptors/http"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/runtime"
)

func job(key, body string) *config.Job {
	return &config.Job{Key: key, Name: key, Adaptor: "common", Body: body}
}

func edge(src, tgt string, cond config.ConditionType, expr string) *config.Edge {
	return &config.Edge{Key: src + "->" + tgt, SourceJob: src, TargetJob: tgt, Condition: cond, Expression: expr, Enabled: true}
}

// branching builds trigger → a, and a → every condition type.
func branching(aBody string) *config.Workflow {
	mark := func(k string) string { return `fn(s => ({ ...s, ran: (s.ran || []).concat('` + k + `') }))` }
	wf := &config.Workflow{
		Key:      "wf",
		Triggers: []*config.Trigger{{Key: "webhook", Type: config.TriggerWebhook, Enabled: true}},
		Jobs: []*config.Job{job("a", aBody), job("success", mark("success")), job("failure", mark("failure")),
			job("always", mark("always")), job("expr-true", mark("expr-true")), job("expr-false", mark("expr-false")),
			job("disabled", mark("disabled")), job("upstream", mark("upstream"))},
		Edges: []*config.Edge{
			{Key: "t", SourceTrigger: "webhook", TargetJob: "a", Condition: config.ConditionAlways, Enabled: true},
			edge("a", "success", config.ConditionOnSuccess, ""),
			edge("a", "failure", config.ConditionOnFailure, ""),
			edge("a", "always", config.ConditionAlways, ""),
			edge("a", "expr-true", config.ConditionJSExpression, "state.data.n > 1 && !state.errors"),
			edge("a", "expr-false", config.ConditionJSExpression, "state.data.n > 100"),
			edge("a", "upstream", config.ConditionJSExpression, "upstreamStepId === 'a'"),
		},
	}
	d := edge("a", "disabled", config.ConditionAlways, "")
	d.Enabled = false
	wf.Edges = append(wf.Edges, d)
	return wf
}

func stepIDs(res *runtime.Result) string {
	var ids []string
	for _, s := range res.Steps {
		ids = append(ids, s.ID+":"+string(s.Status))
	}
	return strings.Join(ids, ",")
}

func TestEdgesOnSuccess(t *testing.T) {
	e := NewLocal(runtime.New(runtime.Options{}))
	res := e.Run(context.Background(), runtime.RunRequest{Workflow: branching(`fn(s => s)`), Compat: config.CompatLightning, Input: json.RawMessage(`{"data":{"n":2}}`)})
	mustSucceed(t, res)
	if got := stepIDs(res); got != "a:success,success:success,always:success,expr-true:success,upstream:success" {
		t.Errorf("steps %s", got)
	}
	var st map[string]map[string]any
	if err := json.Unmarshal(res.State, &st); err != nil {
		t.Fatalf("several leaves should give {leafId: state}: %s", res.State)
	}
	if len(st) != 4 || st["always"]["ran"].([]any)[0] != "always" {
		t.Errorf("final state %s", res.State)
	}
}

func TestEdgesOnFailure(t *testing.T) {
	e := NewLocal(runtime.New(runtime.Options{}))
	res := e.Run(context.Background(), runtime.RunRequest{Workflow: branching(`fn(s => { throw new Error('nope') })`), Compat: config.CompatLightning, Input: json.RawMessage(`{"data":{"n":2}}`)})
	if res.Status != runtime.StatusFailed || res.Error == nil || res.Error.Step != "a" || res.Error.Message != "nope" {
		t.Fatalf("status %s error %+v", res.Status, res.Error)
	}
	if got := stepIDs(res); got != "a:failed,failure:success,always:success,upstream:success" {
		t.Errorf("steps %s", got)
	}
	var st map[string]map[string]any
	_ = json.Unmarshal(res.State, &st)
	errs := st["failure"]["errors"].(map[string]any)["a"].(map[string]any)
	if errs["message"] != "nope" || errs["name"] != "JobError" {
		t.Errorf("failure branch input lacks errors[a]: %v", st["failure"])
	}
}

func TestLegacyFailureHasNoState(t *testing.T) {
	e := NewLocal(runtime.New(runtime.Options{}))
	wf := branching(`fn(s => { throw new Error('nope') })`)
	res := e.Run(context.Background(), runtime.RunRequest{Workflow: wf, Compat: config.CompatLegacy, Input: json.RawMessage(`{"data":{"n":2}}`)})
	if res.Status != runtime.StatusFailed || res.State != nil {
		t.Errorf("legacy failed run: %s %s", res.Status, res.State)
	}
	// the catch (on failure) branch still runs, with the failed step's input
	if got := stepIDs(res); !strings.Contains(got, "failure:success") {
		t.Errorf("steps %s", got)
	}
}

func TestEdgeConditionErrorCrashes(t *testing.T) {
	e := NewLocal(runtime.New(runtime.Options{}))
	wf := &config.Workflow{Key: "w", Jobs: []*config.Job{job("a", "fn(s => s)"), job("b", "fn(s => s)")},
		Edges: []*config.Edge{edge("a", "b", config.ConditionJSExpression, "state.nope.deeper")}}
	res := e.Run(context.Background(), runtime.RunRequest{Workflow: wf, Input: json.RawMessage(`{}`)})
	if res.Status != runtime.StatusCrashed || res.Error.Name != "EdgeConditionError" {
		t.Errorf("%s %+v", res.Status, res.Error)
	}
	wf.Edges = []*config.Edge{edge("a", "b", config.ConditionJSExpression, "((")}
	res = e.Run(context.Background(), runtime.RunRequest{Workflow: wf, Input: json.RawMessage(`{}`)})
	if res.Status != runtime.StatusCrashed || res.Error.Name != "EdgeConditionError" {
		t.Errorf("syntax: %s %+v", res.Status, res.Error)
	}
	wf.Edges = []*config.Edge{edge("a", "b", "sometimes", "")}
	res = e.Run(context.Background(), runtime.RunRequest{Workflow: wf, Input: json.RawMessage(`{}`)})
	if res.Status != runtime.StatusCrashed || !strings.Contains(res.Error.Message, "unknown condition") {
		t.Errorf("unknown: %s %+v", res.Status, res.Error)
	}
}

func TestStepRunsTwiceAndChains(t *testing.T) {
	e := NewLocal(runtime.New(runtime.Options{}))
	wf := &config.Workflow{Key: "w",
		Jobs: []*config.Job{job("a", "fn(s => ({ ...s, n: 1 }))"), job("b", "fn(s => ({ ...s, n: s.n + 10 }))"), job("c", "fn(s => ({ ...s, n: s.n + 100 }))"), job("d", "fn(s => ({ ...s, n: s.n * 2 }))")},
		Edges: []*config.Edge{edge("a", "b", config.ConditionAlways, ""), edge("a", "c", config.ConditionAlways, ""),
			edge("b", "d", config.ConditionAlways, ""), edge("c", "d", config.ConditionAlways, "")}}
	res := e.Run(context.Background(), runtime.RunRequest{Workflow: wf, Input: json.RawMessage(`{}`)})
	mustSucceed(t, res)
	if got := stepIDs(res); got != "a:success,b:success,c:success,d:success,d-1:success" {
		t.Errorf("steps %s", got)
	}
	jsonEq(t, json.RawMessage(res.State), `{"d":{"data":{},"n":22},"d-1":{"data":{},"n":202}}`)
	// Start reruns from a step
	res = e.Run(context.Background(), runtime.RunRequest{Workflow: wf, Start: "c", Input: json.RawMessage(`{"n":5}`)})
	mustSucceed(t, res)
	jsonEq(t, json.RawMessage(res.State), `{"data":{},"n":210}`)
	// bad start / trigger
	if res = e.Run(context.Background(), runtime.RunRequest{Workflow: wf, Start: "zz"}); res.Status != runtime.StatusCrashed {
		t.Errorf("unknown start accepted")
	}
	if res = e.Run(context.Background(), runtime.RunRequest{Workflow: wf, Trigger: "zz"}); res.Status != runtime.StatusCrashed {
		t.Errorf("unknown trigger accepted")
	}
	if res = e.Run(context.Background(), runtime.RunRequest{}); res.Status != runtime.StatusCrashed {
		t.Errorf("nil workflow accepted")
	}
}

func mustSucceed(t *testing.T, res *runtime.Result) {
	t.Helper()
	if res.Status != runtime.StatusSuccess {
		t.Fatalf("status %s, error %+v", res.Status, res.Error)
	}
}

func jsonEq(t *testing.T, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want JSON %s: %v", want, err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got is not JSON: %s", got)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("got %s, want %s", gb, wb)
	}
}
