package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/sim/openhim"
)

// TestPollingChannelPollsOnACoreThatSchedulesLikeCore85: core 8.5 never
// schedules a polling channel installed through POST /mediators/:urn/channels
// (the simulator behaves the same). The binary saves its polling channel
// back through PUT /channels/:id after installing it, so core polls it
// without a restart and without anyone firing it by hand; /readyz says the
// channel is scheduled.
func TestPollingChannelPollsOnACoreThatSchedulesLikeCore85(t *testing.T) {
	core := openhim.New(openhim.Options{}) // core's own polling scheduler on
	if err := core.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(core.Close)
	up := newSyncUpstream(t)
	creds := filepath.Join(t.TempDir(), "credentials.yaml")
	os.WriteFile(creds, []byte("upstream:\n  baseUrl: "+up.srv.URL+"\n"), 0o600)
	p := start(t, map[string]string{
		"JM_PROJECT":         "testdata/polling/poll",
		"JM_CREDENTIALS":     creds,
		"OPENHIM_URL":        core.APIURL(),
		"OPENHIM_USERNAME":   openhim.RootEmail,
		"OPENHIM_PASSWORD":   openhim.RootPassword,
		"MEDIATOR_HOST":      "127.0.0.1",
		"HEARTBEAT_INTERVAL": "1s",
	})
	waitReady(t, p)
	var chID string
	waitFor(t, "the polling channel", 20*time.Second, func() bool { chID = channelNamed(core, "poll-source"); return chID != "" })
	// Scheduling fires once at once (Agenda's every); the next tick of
	// "*/5 * * * *" is minutes away, so this poll is the scheduler's.
	var polled openhim.Transaction
	waitFor(t, "core's scheduled poll, routed to the mediator", 20*time.Second, func() bool {
		for _, tx := range core.Transactions() {
			if tx.ChannelID == chID && tx.Status == "Successful" {
				polled = tx
				return true
			}
		}
		return false
	})
	if hs, _ := polled.Request["headers"].(map[string]any); hs["channel-id"] != chID {
		t.Fatalf("the poll's request headers %v lack channel-id %s", hs, chID)
	}
	resp, err := http.Get(p.URL() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ready struct {
		Checks struct {
			OpenHIM struct {
				ChannelStates []struct{ Name, State, Polling string }
				Problems      []string
			} `json:"openhim"`
		} `json:"checks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ready); err != nil {
		t.Fatal(err)
	}
	st := ready.Checks.OpenHIM
	if len(st.ChannelStates) != 1 || st.ChannelStates[0].Polling != "scheduled" || len(st.Problems) != 0 {
		t.Fatalf("/readyz openhim: %+v", st)
	}
}

// twoWorkflows is a Lightning project with webhook workflows named keys.
func twoWorkflows(keys ...string) string {
	var b strings.Builder
	b.WriteString("name: grow\nworkflows:\n")
	for _, k := range keys {
		fmt.Fprintf(&b, `  %[1]s:
    name: %[1]s
    jobs:
      echo:
        adaptor: '@openfn/language-common@latest'
        body: fn(state => state);
    triggers:
      webhook: {type: webhook, enabled: true}
    edges:
      webhook->echo: {source_trigger: webhook, target_job: echo, condition_type: always, enabled: true}
`, k)
	}
	return b.String()
}

// TestWorkflowAddedLaterGetsItsChannel: a workflow added to the project
// after the first registration gets its channel when the binary restarts
// (the registration's version grows, core stores the new defaults, and only
// the missing channel is installed); a channel whose name another
// mediator holds is reported in /readyz with the fix.
func TestWorkflowAddedLaterGetsItsChannel(t *testing.T) {
	core := openhim.New(openhim.Options{DisablePolling: true})
	if err := core.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(core.Close)
	dir, data := t.TempDir(), t.TempDir()
	project := filepath.Join(dir, "project.yaml")
	env := map[string]string{
		"JM_PROJECT":         project,
		"JM_DATA_DIR":        data, // the registration revision survives the restart
		"OPENHIM_URL":        core.APIURL(),
		"OPENHIM_USERNAME":   openhim.RootEmail,
		"OPENHIM_PASSWORD":   openhim.RootPassword,
		"MEDIATOR_HOST":      "127.0.0.1",
		"HEARTBEAT_INTERVAL": "1s",
	}
	os.WriteFile(project, []byte(twoWorkflows("first")), 0o644)
	p := start(t, env)
	waitReady(t, p)
	waitFor(t, "the first workflow's channel", 20*time.Second, func() bool { return channelNamed(core, "first") != "" })
	if err := p.stop(t); err != nil {
		t.Fatal(err)
	}

	// Meanwhile another mediator took the name "Job Mediator – third".
	if _, err := core.AddChannel(map[string]any{"name": "Job Mediator – third", "urlPattern": "^/elsewhere$", "methods": []any{"POST"},
		"allow": []any{"x"}, "routes": []any{map[string]any{"name": "other", "host": "10.1.2.3", "port": 8080.0, "primary": true}}}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(project, []byte(twoWorkflows("first", "second", "third")), 0o644)
	p = start(t, env)
	waitReady(t, p)
	waitFor(t, "the added workflow's channel", 20*time.Second, func() bool { return channelNamed(core, "second") != "" })
	n := 0
	for _, ch := range core.Channels() {
		if name, _ := ch["name"].(string); strings.HasPrefix(name, "Job Mediator – ") {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("channels %v: want first and second once each, and the other mediator's third", core.Channels())
	}
	var ready struct {
		Checks struct {
			OpenHIM struct {
				Channels string   `json:"channels"`
				Problems []string `json:"problems"`
			} `json:"openhim"`
		} `json:"checks"`
	}
	waitFor(t, "/readyz to report the collision", 10*time.Second, func() bool {
		resp, err := http.Get(p.URL() + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		_ = json.NewDecoder(resp.Body).Decode(&ready)
		return ready.Checks.OpenHIM.Channels == "conflict"
	})
	// Two problems: the other mediator's "third", and our own "first",
	// which still routes to the port the first process listened on (the
	// harness gives every start a new port).
	pr := ready.Checks.OpenHIM.Problems
	if len(pr) != 2 || !strings.Contains(strings.Join(pr, "\n"), "10.1.2.3:8080") || !strings.Contains(strings.Join(pr, "\n"), "MEDIATOR_NAME") ||
		!strings.Contains(strings.Join(pr, "\n"), "Job Mediator – first: channel routes to 127.0.0.1:") {
		t.Fatalf("problems %q", pr)
	}
}
