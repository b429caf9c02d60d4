package openhim

import (
	"strings"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/internal/testwait"
)

func pollingChannel(name string, u *upstream, schedule string, routeExtra map[string]any) map[string]any {
	return map[string]any{"name": name, "urlPattern": "^/unused$", "type": "polling", "pollingSchedule": schedule,
		"allow": []any{}, "routes": []any{route("pull", u, true, routeExtra)}}
}

// waitFor polls cond for up to 3 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.For(t, what, 3*time.Second, cond)
}

// pollerCount is the number of scheduled polling jobs (Agenda's
// polling-job-<id> documents).
func pollerCount(c *Core) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pollers)
}

// onlyPoller is the one scheduled job, or nil.
func onlyPoller(c *Core) *poller {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.pollers {
		return p
	}
	return nil
}

func TestContract69_PollingScheduledOnSave(t *testing.T) {
	c := startCore(t, Options{})
	up := newUpstream(t, nil)
	id := mustAddChannel(t, c, pollingChannel("poll", up, "1 hour", map[string]any{"path": "/pull"}))
	// Agenda's every() runs the job at once.
	waitFor(t, "the immediate run", func() bool { return len(up.requests()) == 1 })
	// Saving again cancels and re-creates the job: another immediate run.
	if r := root(t, c, "PUT", "/channels/"+id, map[string]any{"description": "edited"}); r.status != 200 {
		t.Fatalf("%d %q", r.status, r.body)
	}
	waitFor(t, "the run after the edit", func() bool { return len(up.requests()) == 2 })
	c.mu.Lock()
	n := len(c.pollers)
	c.mu.Unlock()
	if n != 1 {
		t.Fatalf("jobs %d", n)
	}
	// Disabling removes the job.
	root(t, c, "PUT", "/channels/"+id, map[string]any{"status": "disabled"})
	c.mu.Lock()
	n = len(c.pollers)
	c.mu.Unlock()
	if n != 0 {
		t.Fatalf("jobs after disable %d", n)
	}
}

func TestPollingTicker(t *testing.T) {
	c := startCore(t, Options{})
	up := newUpstream(t, nil)
	mustAddChannel(t, c, pollingChannel("fast", up, "20 ms", nil))
	waitFor(t, "three runs", func() bool { return len(up.requests()) >= 3 })
	c.Close()
	// Close returns after every job's goroutine and every in-flight route
	// ended: nothing is left that could poll.
	n := len(up.requests())
	if jobs := pollerCount(c); jobs != 0 {
		t.Fatalf("%d polling jobs left after Close", jobs)
	}
	c.Wait()
	if len(up.requests()) != n {
		t.Fatal("polling continued after Close")
	}
}

func TestPollingDisabledOption(t *testing.T) {
	c := startCore(t, Options{DisablePolling: true})
	up := newUpstream(t, nil)
	mustAddChannel(t, c, pollingChannel("poll", up, "20 ms", nil))
	// Scheduling is decided when the channel is saved: no job, nothing fires.
	if jobs := pollerCount(c); jobs != 0 || len(up.requests()) != 0 {
		t.Fatalf("DisablePolling: %d jobs, %d requests", jobs, len(up.requests()))
	}
}

func TestContract70_PollingRequest(t *testing.T) {
	runAt := time.Date(2024, 1, 1, 2, 0, 0, 0, time.UTC)
	c := startCore(t, Options{DisablePolling: true, Now: func() time.Time { return runAt }})
	up := newUpstream(t, nil)
	withPath := mustAddChannel(t, c, pollingChannel("with path", up, "5 minutes", map[string]any{"path": "/pull"}))
	noPath := mustAddChannel(t, c, pollingChannel("no path", up, "5 minutes", nil))
	for _, id := range []string{withPath, noPath} {
		if code, err := c.TriggerPolling(id); code != 200 || err != nil {
			t.Fatalf("trigger: %d %v", code, err)
		}
	}
	reqs := up.requests()
	if reqs[0].URI != "/pull" || reqs[1].URI != "/trigger" {
		t.Fatalf("paths %q %q", reqs[0].URI, reqs[1].URI)
	}
	r := reqs[0]
	txs := c.Transactions()
	if r.Method != "GET" || r.Body != "" || r.Header.Get("channel-id") != withPath ||
		r.Header.Get("x-openhim-lastrunat") != "Mon Jan 01 2024 02:00:00 GMT+0000 (Coordinated Universal Time)" ||
		r.Header.Get("X-OpenHIM-TransactionID") != txs[0].ID || r.Header.Get("X-Forwarded-For") != "" ||
		r.Header.Get("User-Agent") != "axios/0.21.4" {
		t.Fatalf("%+v", r)
	}
	if txs[0].Request["path"] != "/trigger" || txs[0].Request["method"] != "GET" || !isObjectID(txs[0].ClientID) || txs[0].ChannelID != withPath {
		t.Fatalf("tx %+v", txs[0])
	}
}

func TestContract71_TriggerAPI(t *testing.T) {
	c := startCore(t, Options{DisablePolling: true})
	ok := newUpstream(t, nil)
	bad := newUpstream(t, plainReply(503, "down"))
	okID := mustAddChannel(t, c, pollingChannel("ok", ok, "1 hour", nil))
	badID := mustAddChannel(t, c, pollingChannel("bad", bad, "1 hour", nil))
	deadID := mustAddChannel(t, c, pollingChannel("dead", ok, "1 hour", map[string]any{"host": "127.0.0.1", "port": 1.0}))
	if r := root(t, c, "POST", "/channels/"+okID+"/trigger", nil); r.status != 200 {
		t.Fatalf("ok: %d", r.status)
	}
	if r := root(t, c, "POST", "/channels/"+badID+"/trigger", nil); r.status != 500 {
		t.Fatalf("non-2xx route: %d", r.status)
	}
	if r := root(t, c, "POST", "/channels/"+deadID+"/trigger", nil); r.status != 500 {
		t.Fatalf("unreachable route: %d", r.status)
	}
	if r := root(t, c, "POST", "/channels/ffffffffffffffffffffffff/trigger", nil); r.status != 404 {
		t.Fatalf("unknown: %d", r.status)
	}
	if code, err := c.TriggerPolling("nope"); code != 404 || err != ErrNotFound {
		t.Fatalf("%d %v", code, err)
	}
}

func TestDefaultPollingChannelNotScheduledUntilRestart(t *testing.T) {
	c := startCore(t, Options{})
	up := newUpstream(t, nil)
	m := minimalMediator("urn:poll", "1.0.0")
	m["defaultChannelConfig"] = []any{pollingChannel("default poll", up, "20 ms", nil)}
	root(t, c, "POST", "/mediators", m)
	root(t, c, "POST", "/mediators/urn:poll/channels", []any{})
	if jobs := pollerCount(c); jobs != 0 || len(up.requests()) != 0 {
		t.Fatalf("loadDefaultChannels does not register polling jobs: %d jobs, %d requests", jobs, len(up.requests()))
	}
	// A core restart schedules it.
	c.ReschedulePolling()
	waitFor(t, "the run after restart", func() bool { return len(up.requests()) >= 1 })
}

func TestPollingWithFixedClockDoesNotSpin(t *testing.T) {
	fixed := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	c := startCore(t, Options{Now: func() time.Time { return fixed }})
	up := newUpstream(t, nil)
	mustAddChannel(t, c, pollingChannel("poll", up, "1 minute", nil))
	waitFor(t, "the immediate run", func() bool { return len(up.requests()) == 1 })
	// The job now sleeps a whole minute of the (frozen) core clock rather
	// than spinning on a zero wait.
	p := onlyPoller(c)
	if p == nil {
		t.Fatal("no polling job")
	}
	waitFor(t, "the job to wait for its next run", func() bool { return p.waiting.Load() != 0 })
	if w := time.Duration(p.waiting.Load()); w != time.Minute {
		t.Fatalf("next run in %v, want 1m", w)
	}
	if n := len(up.requests()); n != 1 {
		t.Fatalf("runs %d", n)
	}
}

func TestParseSchedule(t *testing.T) {
	base := time.Date(2024, 1, 1, 1, 30, 0, 0, time.UTC) // a Monday
	tests := []struct {
		expr string
		want time.Time
	}{
		{"5 minutes", base.Add(5 * time.Minute)},
		{"1 minute", base.Add(time.Minute)},
		{"one hour", base.Add(time.Hour)},
		{"a day", base.Add(24 * time.Hour)},
		{"30 seconds", base.Add(30 * time.Second)},
		{"1 hour and 30 minutes", base.Add(90 * time.Minute)},
		{"1.5 hours", base.Add(90 * time.Minute)},
		{"2 weeks", base.Add(14 * 24 * time.Hour)},
		{"1500", base.Add(1500 * time.Millisecond)},
		{"0 2 * * *", time.Date(2024, 1, 1, 2, 0, 0, 0, time.UTC)},
		{"*/15 * * * *", time.Date(2024, 1, 1, 1, 45, 0, 0, time.UTC)},
		{"0 */6 * * *", time.Date(2024, 1, 1, 6, 0, 0, 0, time.UTC)},
		{"30 1 * * 2", time.Date(2024, 1, 2, 1, 30, 0, 0, time.UTC)},
		{"0 0 1 * *", time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)},
		{"0 9-17/4 * * 1-5", time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC)},
		{"0,45 * * * *", time.Date(2024, 1, 1, 1, 45, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		s, err := parseSchedule(tt.expr, time.UTC)
		if err != nil {
			t.Errorf("%q: %v", tt.expr, err)
			continue
		}
		if got := s.next(base); !got.Equal(tt.want) {
			t.Errorf("%q: next = %v, want %v", tt.expr, got, tt.want)
		}
	}
	// Cron in core's zone.
	jhb, _ := time.LoadLocation("Africa/Johannesburg")
	s, _ := parseSchedule("0 2 * * *", jhb)
	if got := s.next(base); !got.Equal(time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("zoned cron: %v", got.UTC())
	}
	for _, bad := range []string{"", "soon", "5 parsecs", "five", "61 * * * *", "*/0 * * * *", "0 25 * * *", "x y z w v"} {
		if _, err := parseSchedule(bad, time.UTC); err == nil {
			t.Errorf("%q should fail", bad)
		}
	}
}

func TestInvalidScheduleNotScheduled(t *testing.T) {
	c := startCore(t, Options{})
	up := newUpstream(t, nil)
	mustAddChannel(t, c, pollingChannel("bad schedule", up, "whenever", nil))
	if jobs := pollerCount(c); jobs != 0 || len(up.requests()) != 0 {
		t.Fatalf("an unparsable schedule must not run: %d jobs, %d requests", jobs, len(up.requests()))
	}
}

func TestJSDateString(t *testing.T) {
	at := time.Date(2024, 12, 5, 9, 58, 24, 500e6, time.UTC)
	for tz, want := range map[string]string{
		"UTC":                 "Thu Dec 05 2024 09:58:24 GMT+0000 (Coordinated Universal Time)",
		"Africa/Johannesburg": "Thu Dec 05 2024 11:58:24 GMT+0200 (South Africa Standard Time)",
		"America/New_York":    "Thu Dec 05 2024 04:58:24 GMT-0500 (EST)",
	} {
		c := New(Options{TimeZone: tz})
		if got := c.jsDateString(at); got != want {
			t.Errorf("%s: %q", tz, got)
		}
		back, ok := parseJSDateIn(want, time.UTC)
		if !ok || !back.Equal(at.Truncate(time.Second)) {
			t.Errorf("%s: round trip %v", tz, back)
		}
	}
	if !strings.Contains(New(Options{}).jsDateString(at), "GMT+0000") {
		t.Error("default zone must be UTC")
	}
}
