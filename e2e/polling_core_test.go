package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
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
