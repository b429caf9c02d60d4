package openhim

import (
	"encoding/json"
	"strings"
	"testing"
)

// The requests a mediator sends to keep its default channels, from
// channel-sync-requests-from-source.md. No running core was captured for
// them: the file is written from openhim-core-js's source (and the §15
// observation that a PUT of the channel as read schedules it), and this
// test holds the simulator to it: a named install saves only that channel,
// and a polling channel installed that way is polled only after it is read
// and saved back unchanged.
func TestChannelSyncRequestsFromSource(t *testing.T) {
	caps, err := ReadCaptures(sharedTestdata + "/channel-sync-requests-from-source.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(caps) != 4 {
		t.Fatalf("%d requests in the file, want 4", len(caps))
	}
	c := startCore(t, Options{})
	up := newUpstream(t, nil)
	m := minimalMediator("urn:mediator:jobmediator", "1.0.0")
	poll := pollingChannel("Job Mediator – pull", up, "1 hour", map[string]any{"path": "/pull"})
	// What Job Mediator puts in its default channels besides.
	poll["description"], poll["requestBody"], poll["responseBody"] = `Runs workflow "pull" on Job Mediator (urn:mediator:jobmediator)`, true, true
	other := pollingChannel("Job Mediator – other", up, "1 hour", map[string]any{"path": "/other"})
	m["defaultChannelConfig"] = []any{poll, other}
	if r := root(t, c, "POST", "/mediators", m); r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.body)
	}

	// 1. GET /channels: nothing yet.
	line := strings.Fields(caps[0].Head[0])
	if r := root(t, c, line[0], line[1], nil); r.status != 200 || r.body != "[]" {
		t.Fatalf("%s: %d %s", caps[0].Title, r.status, r.body)
	}
	// 2. Install the named channel only.
	line = strings.Fields(caps[1].Head[0])
	var names []any
	if err := json.Unmarshal([]byte(caps[1].Body), &names); err != nil {
		t.Fatal(err)
	}
	if r := root(t, c, line[0], line[1], names); r.status != 201 {
		t.Fatalf("%s: %d %s", caps[1].Title, r.status, r.body)
	}
	chs := c.Channels()
	if len(chs) != 1 || chs[0]["name"] != "Job Mediator – pull" {
		t.Fatalf("installed %v", chs)
	}
	id := str(chs[0]["_id"])
	// Installed, not scheduled: nothing polls until it is saved through
	// /channels. The PUT below is what makes the one poll happen.
	// 3. Read it.
	line = strings.Fields(strings.ReplaceAll(caps[2].Head[0], "<id>", id))
	r := root(t, c, line[0], line[1], nil)
	if r.status != 200 {
		t.Fatalf("%s: %d %s", caps[2].Title, r.status, r.body)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(r.body), &doc); err != nil {
		t.Fatal(err)
	}
	var example map[string]any
	_ = json.Unmarshal([]byte(caps[3].Body), &example)
	for k := range example {
		if _, ok := doc[k]; !ok {
			t.Errorf("GET /channels/:id lacks %q, which the file's PUT body has", k)
		}
	}
	if len(up.requests()) != 0 {
		t.Fatal("an installed polling channel was polled before it was saved")
	}
	// 4. Save it back unchanged: scheduled, and run at once.
	line = strings.Fields(strings.ReplaceAll(caps[3].Head[0], "<id>", id))
	if r := root(t, c, line[0], line[1], doc); r.status != 200 || r.body != "The channel was successfully updated" {
		t.Fatalf("%s: %d %s", caps[3].Title, r.status, r.body)
	}
	waitFor(t, "the poll after the save", func() bool { return len(up.requests()) == 1 })
	if got := up.requests()[0]; got.Method != "GET" || !strings.HasPrefix(got.URI, "/pull") {
		t.Fatalf("poll %+v", got)
	}
	if after := c.Channels(); len(after) != 1 || after[0]["pollingSchedule"] != "1 hour" || after[0]["status"] != "enabled" {
		t.Fatalf("the save changed the channel: %v", after)
	}
}
