package runtime

import (
	"context"
	"encoding/json"
	"testing"

	_ "github.com/jobmediator/jobmediator/adaptors/common"
	_ "github.com/jobmediator/jobmediator/adaptors/http"
	"github.com/jobmediator/jobmediator/config"
)

// runBody runs one job with language-common and decodes the final state.
func runBody(t *testing.T, e *Engine, compat config.Compat, body, input string, mod ...func(*config.Job, *RunRequest)) (*Result, map[string]any) {
	t.Helper()
	if e == nil {
		e = New(Options{})
	}
	job := &config.Job{Key: "job-a", Adaptor: "@openfn/language-common@3.3.4", Body: body}
	req := RunRequest{}
	for _, m := range mod {
		m(job, &req)
	}
	var in json.RawMessage
	if input != "" {
		in = json.RawMessage(input)
	}
	res := e.RunJob(context.Background(), job, compat, in, req)
	var st map[string]any
	if res.State != nil {
		if err := json.Unmarshal(res.State, &st); err != nil {
			t.Fatalf("final state is not a JSON object: %v: %s", err, res.State)
		}
	}
	return res, st
}

func mustSucceed(t *testing.T, res *Result) {
	t.Helper()
	if res.Status != StatusSuccess {
		t.Fatalf("status %s, error %+v", res.Status, res.Error)
	}
}

func jsonEq(t *testing.T, got any, want string) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want JSON %s: %v", want, err)
	}
	if raw, ok := got.(json.RawMessage); ok {
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatalf("got is not JSON: %s", raw)
		}
	}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("got  %s\nwant %s", gb, wb)
	}
}
