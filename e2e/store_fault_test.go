package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/internal/ferret"
)

// TestStoreDownAtBoot: with its MongoDB unreachable the daemon refuses to
// start (so the orchestrator restarts it) and says which store, without the
// password in the URL.
func TestStoreDownAtBoot(t *testing.T) {
	db := ferret.Start(t)
	uri := strings.Replace(db.URI(), "mongodb://", "mongodb://jm:Store-Pw-77@", 1)
	db.Stop()
	l := newLedger(t, 0)
	dir, creds := deliveryProject(t, l.srv.URL)
	cmd := exec.Command(binary, "serve")
	cmd.Env = []string{"PATH=/usr/bin:/bin", fmt.Sprintf("SERVER_PORT=%d", freePort(t)),
		"JM_PROJECT=" + dir, "JM_CREDENTIALS=" + creds, "MONGO_URL=" + uri}
	out, err := cmd.CombinedOutput()
	code := -1
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	if code == 0 || code == -1 {
		t.Fatalf("serve with the store down: exit %d (%v), want a failure\n%s", code, err, out)
	}
	if !strings.Contains(string(out), "store") || !strings.Contains(string(out), db.Addr()) {
		t.Errorf("the error does not name the store:\n%s", out)
	}
	if strings.Contains(string(out), "Store-Pw-77") {
		t.Errorf("the store password leaked:\n%s", out)
	}
}

// TestStoreDownMidRun: the shared store goes away while messages are
// queued. Readiness fails and says why, new async messages are refused
// (not acknowledged and then dropped), and when the store returns every
// acknowledged message is delivered exactly once.
func TestStoreDownMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test")
	}
	db := ferret.Start(t)
	l := newLedger(t, 250*time.Millisecond)
	dir, creds := deliveryProject(t, l.srv.URL)
	hook := newSignedSink(t, "store-fault-hook")
	p := start(t, map[string]string{"JM_PROJECT": dir, "JM_CREDENTIALS": creds, "MONGO_URL": db.URI(),
		"JM_QUEUE_LEASE": "3s", "JM_WORKERS": "1", "LOG_LEVEL": "info",
		// The store outage is notified (the watcher pings at the heartbeat's pace).
		"JM_NOTIFY_WEBHOOK_URL": hook.srv.URL, "JM_NOTIFY_WEBHOOK_SECRET": "store-fault-hook",
		"JM_NOTIFY_WINDOW": "1s", "HEARTBEAT_INTERVAL": "1s"})
	waitReady(t, p)

	// Enough work for a slow single worker to still be busy when the store
	// disappears.
	ids := enqueue(t, 40, p)
	waitFor(t, "the first deliveries", 30*time.Second, func() bool { got, _ := l.stored(); return got >= 1 })
	db.Stop()
	before, _ := l.stored()

	waitFor(t, "readiness to fail", 30*time.Second, func() bool { return readyStatus(p) == http.StatusServiceUnavailable })
	var body struct {
		Checks map[string]any `json:"checks"`
	}
	resp, err := http.Get(p.URL() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if s, _ := body.Checks["store"].(string); !strings.Contains(s, "unreachable") {
		t.Errorf("readyz does not say the store is unreachable: %v", body.Checks)
	}

	// A message arriving now must not be acknowledged: nothing could keep it.
	resp, err = http.Post(p.URL()+"/deliver", "application/json", strings.NewReader(`{"seq":"while-down"}`))
	if err != nil {
		t.Fatal(err)
	}
	var refused map[string]any
	json.NewDecoder(resp.Body).Decode(&refused)
	resp.Body.Close()
	if resp.StatusCode < 500 {
		t.Errorf("a message arriving with the store down got %d %v; want a 5xx so the sender retries", resp.StatusCode, refused)
	}

	if err := db.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "readiness after the store returns", 30*time.Second, func() bool { return readyStatus(p) == http.StatusOK })
	waitFor(t, "every acknowledged message delivered", 120*time.Second, func() bool { got, _ := l.stored(); return got == len(ids) })
	records, deliveries := l.stored()
	t.Logf("delivered before the outage: %d; records: %d; deliveries incl. redeliveries: %d", before, records, deliveries)
	assertExactlyOnce(t, l, ids)
	storeMsgs := func() []string {
		var out []string
		for _, m := range hook.messages() {
			if m.Event == "store" {
				out = append(out, string(m.Status))
			}
		}
		return out
	}
	waitFor(t, "the store's resolved notification", 30*time.Second, func() bool { return len(storeMsgs()) >= 2 })
	if got := strings.Join(storeMsgs(), ","); got != "firing,resolved" {
		t.Errorf("store notifications %s, want firing,resolved", got)
	}
	if before >= len(ids) {
		t.Errorf("the outage came too late to prove anything: %d already delivered", before)
	}
	if !strings.Contains(p.Logs(), "could not queue async work") {
		t.Errorf("the logs never say the refused message could not be queued")
	}
}
