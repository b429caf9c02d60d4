package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAsyncRunIDsAndDuplicateTransactions: the run_id in a 202 is the run
// the history API finds; a redelivery of the same transaction gets the
// same run_id, and a different request reusing the transaction id gets 409
// naming it (never silently dropped, never a second run under one OpenHIM
// transaction).
func TestAsyncRunIDsAndDuplicateTransactions(t *testing.T) {
	opts := filepath.Join(t.TempDir(), "jobmediator.yaml")
	if err := os.WriteFile(opts, []byte("workflows:\n  hello-upstream:\n    path: /hello\n    async: true\n    retry: {max_attempts: 0}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, up, p := mediatorWithCoreEnv(t, map[string]string{"JM_OPTIONS": opts, "JM_API_TOKEN": "async-token"})
	send := func(tx, body string) (int, map[string]any) {
		h := map[string]string{}
		if tx != "" {
			h["X-OpenHIM-TransactionID"] = tx
		}
		code, b := faultSend(t, "POST", p.URL()+"/hello", "application/json", strings.NewReader(body), h)
		var m map[string]any
		_ = json.Unmarshal([]byte(b), &m)
		// A routed request (with a transaction id) is answered with the
		// OpenHIM envelope: the client's answer is its response body.
		if resp, ok := m["response"].(map[string]any); ok {
			body, _ := resp["body"].(string)
			m = nil
			_ = json.Unmarshal([]byte(body), &m)
		}
		return code, m
	}
	runStatus := func(id string) string {
		code, b := faultSend(t, "GET", p.URL()+"/api/runs/"+id, "", nil, map[string]string{"Authorization": "Bearer async-token"})
		if code != 200 {
			return ""
		}
		var v struct {
			Run struct{ Status string } `json:"run"`
		}
		_ = json.Unmarshal([]byte(b), &v)
		return v.Run.Status
	}

	const tx = "6b15c0ffee0000000000aaaa"
	code, first := send(tx, `{"name":"Ana"}`)
	runID, _ := first["run_id"].(string)
	if code != http.StatusAccepted || runID == "" {
		t.Fatalf("first delivery: %d %v", code, first)
	}
	waitFor(t, "the run named in the 202 in history", 20*time.Second, func() bool { return runStatus(runID) == "success" })

	code, again := send(tx, `{"name":"Ana"}`)
	if code != http.StatusAccepted || again["run_id"] != runID {
		t.Fatalf("redelivery of the same request: %d %v, want 202 with run_id %s", code, again, runID)
	}
	code, other := send(tx, `{"name":"Ben"}`)
	msg, _ := other["error"].(map[string]any)["message"].(string)
	if code != http.StatusConflict || !strings.Contains(msg, tx) || !strings.Contains(msg, runID) {
		t.Fatalf("a different body under the same transaction: %d %v, want 409 naming %s and %s", code, other, tx, runID)
	}

	// Direct callers (no transaction) get a run_id the history finds too.
	code, direct := send("", `{"name":"Cleo"}`)
	directID, _ := direct["run_id"].(string)
	if code != http.StatusAccepted || directID == "" || directID == runID {
		t.Fatalf("direct async: %d %v", code, direct)
	}
	waitFor(t, "the direct run in history", 20*time.Second, func() bool { return runStatus(directID) == "success" })

	time.Sleep(300 * time.Millisecond) // a second run of Ana's would have been delivered by now
	names := map[any]int{}
	up.mu.Lock()
	for _, g := range up.got {
		names[g["name"]]++
	}
	up.mu.Unlock()
	if names["Ana"] != 1 || names["Ben"] != 0 || names["Cleo"] != 1 {
		t.Fatalf("upstream got %v: want Ana and Cleo once, Ben never", names)
	}
}

// TestListenAddress: --listen binds the given address only.
func TestListenAddress(t *testing.T) {
	p := start(t, map[string]string{"JM_PROJECT": "../examples/hello-upstream"}, "--listen", "127.0.0.1")
	if !strings.Contains(p.Logs(), `"addr":"127.0.0.1:`) {
		t.Fatalf("want the listener on 127.0.0.1:\n%s", p.Logs())
	}
}
