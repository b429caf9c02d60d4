package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestManualTriggerFromCLI: `jobmediator trigger` runs a workflow in the
// running daemon (its store and history), with the seeds' initialState
// pattern, and the run shows up in GET /api/runs.
func TestManualTriggerFromCLI(t *testing.T) {
	up := newRecords(t)
	p := start(t, map[string]string{
		"JM_PROJECT":     "../examples/hello-upstream",
		"JM_CREDENTIALS": exampleCredentials(t, up.srv.URL, upstreamPW),
		"JM_API_TOKEN":   "e2e-api-token",
	})
	state := filepath.Join(t.TempDir(), "state.json")
	os.WriteFile(state, []byte(`{"data":{"name":"from-cli"}}`), 0o644)
	trig := func(token string, args ...string) (int, string) {
		cmd := exec.Command(binary, append([]string{"trigger"}, args...)...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), fmt.Sprintf("SERVER_PORT=%d", p.port), "JM_API_TOKEN=" + token}
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		return 0, string(out)
	}
	if code, out := trig("e2e-api-token", "hello-upstream", "--state", state); code != 0 || !strings.Contains(out, `"status": "success"`) {
		t.Fatalf("trigger: exit %d\n%s", code, out)
	}
	if up.count() != 1 || up.got[0]["name"] != "from-cli" {
		t.Fatalf("upstream got %v", up.got)
	}
	for _, tc := range []struct {
		token string
		args  []string
		code  int
		msg   string
	}{
		{"wrong-token", []string{"hello-upstream"}, 2, "401"},
		{"", []string{"hello-upstream"}, 2, "JM_API_TOKEN"},
		{"e2e-api-token", []string{"no-such-workflow"}, 2, "404"},
		{"e2e-api-token", []string{"hello-upstream", "--state", "nope.json"}, 2, "no such file"},
	} {
		if code, out := trig(tc.token, tc.args...); code != tc.code || !strings.Contains(out, tc.msg) {
			t.Errorf("trigger %v with token %q: exit %d, want %d containing %q\n%s", tc.args, tc.token, code, tc.code, tc.msg, out)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, p.URL()+"/api/runs?workflow=hello-upstream", nil)
	req.Header.Set("Authorization", "Bearer e2e-api-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	b, _ := json.Marshal(body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), "hello-upstream") || strings.Contains(string(b), upstreamPW) {
		t.Fatalf("GET /api/runs: %d %s", resp.StatusCode, b)
	}
}
