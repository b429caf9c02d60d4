package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/sim/openhim"
)

// syncUpstream is both ends of a polled sync: GET /source lists the records
// changed in (since, until] (by their timestamp), POST /target stores a
// batch and counts every delivery of every record. The target can be made
// to fail (503, nothing stored).
type syncUpstream struct {
	srv        *httptest.Server
	mu         sync.Mutex
	source     []srcRecord
	windows    [][2]string // (since, until) of every GET /source, as sent
	deliveries map[string]int
	batches    []targetBatch // successful POST /target bodies, in order
	down       bool
}

type srcRecord struct {
	ID string    `json:"id"`
	At time.Time `json:"updatedAt"`
}

type targetBatch struct {
	Poll   int         `json:"poll"`
	Window pollWindow  `json:"window"`
	Recs   []srcRecord `json:"records"`
}

type pollWindow struct {
	Since *time.Time `json:"since"`
	Until time.Time  `json:"until"`
}

func newSyncUpstream(t *testing.T) *syncUpstream {
	u := &syncUpstream{deliveries: map[string]int{}}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		u.mu.Lock()
		defer u.mu.Unlock()
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/source":
			since, until := r.URL.Query().Get("since"), r.URL.Query().Get("until")
			u.windows = append(u.windows, [2]string{since, until})
			hi, err := time.Parse(time.RFC3339Nano, until)
			if err != nil {
				http.Error(w, `{"error":"until must be RFC 3339"}`, http.StatusBadRequest)
				return
			}
			var lo time.Time
			if since != "" {
				if lo, err = time.Parse(time.RFC3339Nano, since); err != nil {
					http.Error(w, `{"error":"since must be RFC 3339"}`, http.StatusBadRequest)
					return
				}
			}
			out := []srcRecord{}
			for _, rec := range u.source {
				if rec.At.After(lo) && !rec.At.After(hi) {
					out = append(out, rec)
				}
			}
			json.NewEncoder(w).Encode(map[string]any{"records": out})
		case r.Method == http.MethodPost && r.URL.Path == "/target":
			if u.down {
				http.Error(w, `{"error":"maintenance"}`, http.StatusServiceUnavailable)
				return
			}
			var b targetBatch
			if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
				http.Error(w, `{"error":"bad batch"}`, http.StatusBadRequest)
				return
			}
			for _, rec := range b.Recs {
				u.deliveries[rec.ID]++
			}
			u.batches = append(u.batches, b)
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"stored":%d}`, len(b.Recs))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *syncUpstream) add(id string, at time.Time) {
	u.mu.Lock()
	u.source = append(u.source, srcRecord{ID: id, At: at})
	u.mu.Unlock()
}

func (u *syncUpstream) fail(down bool) {
	u.mu.Lock()
	u.down = down
	u.mu.Unlock()
}

// lastBatch is the latest batch the target stored, and how many it holds.
func (u *syncUpstream) lastBatch() (targetBatch, int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.batches) == 0 {
		return targetBatch{}, 0
	}
	return u.batches[len(u.batches)-1], len(u.batches)
}

func (u *syncUpstream) deliveriesCopy() map[string]int {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := map[string]int{}
	for k, v := range u.deliveries {
		out[k] = v
	}
	return out
}

func (u *syncUpstream) lastWindow() [2]string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.windows[len(u.windows)-1]
}

// switchProxy stands where core's route points (MEDIATOR_HOST/PORT), like a
// service in front of the container, so a restarted mediator on a new port
// is reached through the channel core already has.
type switchProxy struct {
	srv    *httptest.Server
	target atomic.Pointer[url.URL]
}

func newSwitchProxy(t *testing.T) *switchProxy {
	sp := &switchProxy{}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(sp.target.Load())
		r.Out.Host = r.In.Host
	}}
	sp.srv = httptest.NewServer(rp)
	t.Cleanup(sp.srv.Close)
	return sp
}

func (sp *switchProxy) to(p *proc) {
	u, _ := url.Parse(p.URL())
	sp.target.Store(u)
}

func (sp *switchProxy) port() string { return strings.TrimPrefix(sp.srv.URL, "http://127.0.0.1:") }

// fakeClock is core's clock: it decides x-openhim-lastrunat, so each poll's
// window is known to the second.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// apiGet reads the operator API with the test's token.
func apiGet(t *testing.T, p *proc, path string, into any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.URL()+path, nil)
	req.Header.Set("Authorization", "Bearer e2e-api-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// pollingCursor is the polling workflow's stored cursor: its watermark and
// carried state.
func pollingCursor(t *testing.T, p *proc, workflow string) (watermark string, polls int) {
	t.Helper()
	var body struct {
		Cursors map[string]struct {
			Value struct {
				Watermark string         `json:"watermark"`
				State     map[string]any `json:"state"`
			} `json:"value"`
		} `json:"cursors"`
	}
	apiGet(t, p, "/api/cursors/"+workflow, &body)
	c := body.Cursors["polling"]
	n, _ := c.Value.State["polls"].(float64)
	return c.Value.Watermark, int(n)
}

func orchestrationNames(tx openhim.Transaction) string {
	var names []string
	for _, o := range tx.Orchestrations {
		names = append(names, fmt.Sprint(o["name"]))
	}
	return strings.Join(names, " | ")
}

// TestPollingChannelThroughCore: a workflow with `polling:` becomes a
// polling channel in core; core's polls (fired by hand) each pull only what
// changed since the last successful poll, the watermark survives a restart
// of the binary, and a poll whose target fails leaves the watermark where
// it was so the next poll covers its window too.
func TestPollingChannelThroughCore(t *testing.T) {
	began := time.Now()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	clock := &fakeClock{t: t0}
	core := openhim.New(openhim.Options{DisablePolling: true, Now: clock.Now})
	if err := core.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(core.Close)
	up := newSyncUpstream(t)
	proxy := newSwitchProxy(t)
	creds := filepath.Join(t.TempDir(), "credentials.yaml")
	os.WriteFile(creds, []byte("upstream:\n  baseUrl: "+up.srv.URL+"\n"), 0o600)
	env := map[string]string{
		"JM_PROJECT":         "testdata/polling/poll",
		"JM_CREDENTIALS":     creds,
		"JM_DATA_DIR":        t.TempDir(), // shared by both processes
		"JM_API_TOKEN":       "e2e-api-token",
		"OPENHIM_URL":        core.APIURL(),
		"OPENHIM_USERNAME":   openhim.RootEmail,
		"OPENHIM_PASSWORD":   openhim.RootPassword,
		"MEDIATOR_HOST":      "127.0.0.1",
		"MEDIATOR_PORT":      proxy.port(),
		"HEARTBEAT_INTERVAL": "1s",
	}
	p := start(t, env)
	proxy.to(p)
	waitReady(t, p)

	// Registration: a polling channel with the schedule, routed to us.
	var chID string
	waitFor(t, "the polling channel", 20*time.Second, func() bool { chID = channelNamed(core, "poll-source"); return chID != "" })
	var ch map[string]any
	for _, c := range core.Channels() {
		if c["_id"] == chID {
			ch = c
		}
	}
	routes, _ := ch["routes"].([]any)
	if ch["type"] != "polling" || ch["pollingSchedule"] != "*/5 * * * *" || len(routes) != 1 {
		t.Fatalf("channel is not the polling channel asked for: %v", ch)
	}
	rt, _ := routes[0].(map[string]any)
	if rt["host"] != "127.0.0.1" || fmt.Sprint(rt["port"]) != proxy.port() || rt["path"] != "/poll-source" {
		t.Fatalf("polling channel's route does not lead to the mediator: %v", rt)
	}

	// poll fires core's polling job at core time `when` and returns the
	// transaction it stored.
	var pollTxs []string
	poll := func(when time.Time, wantOK bool) openhim.Transaction {
		t.Helper()
		clock.set(when)
		code, err := core.TriggerPolling(chID)
		if wantOK && (code != 200 || err != nil) {
			t.Fatalf("poll at %s: %d %v", when.Format(time.TimeOnly), code, err)
		}
		if !wantOK && code != 500 {
			t.Fatalf("poll at %s with the target down: %d, want 500 (route failed)", when.Format(time.TimeOnly), code)
		}
		core.Wait()
		var last openhim.Transaction
		n := 0
		for _, tx := range core.Transactions() {
			if tx.ChannelID == chID {
				last = tx
				n++
			}
		}
		if n != len(pollTxs)+1 {
			t.Fatalf("poll at %s: core holds %d polling transactions, want %d", when.Format(time.TimeOnly), n, len(pollTxs)+1)
		}
		pollTxs = append(pollTxs, last.ID)
		return last
	}
	successful := func(tx openhim.Transaction) {
		t.Helper()
		names := orchestrationNames(tx)
		if tx.Status != "Successful" || !strings.Contains(names, "GET /source") || !strings.Contains(names, "POST /target") {
			t.Fatalf("poll transaction %s: status %q, orchestrations %s", tx.ID, tx.Status, names)
		}
		if tx.Properties["workflow"] != "poll-source" || tx.Request["method"] != "GET" {
			t.Fatalf("poll transaction %s: properties %v, request %v", tx.ID, tx.Properties, tx.Request["method"])
		}
	}
	// delivered checks the batch of the poll that just ran and that no
	// record has ever been delivered twice.
	delivered := func(poll int, since string, until time.Time, ids ...string) {
		t.Helper()
		b, n := up.lastBatch()
		var got []string
		for _, r := range b.Recs {
			got = append(got, r.ID)
		}
		sort.Strings(got)
		if b.Poll != poll || strings.Join(got, ",") != strings.Join(ids, ",") || !b.Window.Until.Equal(until) {
			t.Fatalf("batch %d: poll %d, window %v..%v, records %v; want poll %d, until %s, records %v",
				n, b.Poll, b.Window.Since, b.Window.Until, got, poll, until.Format(time.RFC3339), ids)
		}
		if w := up.lastWindow(); w[0] != since {
			t.Fatalf("poll %d asked the source for since=%q, want %q", poll, w[0], since)
		}
		for id, k := range up.deliveriesCopy() {
			if k != 1 {
				t.Fatalf("record %s delivered %d times", id, k)
			}
		}
	}

	// Poll 1: first run, everything up to lastrunat.
	up.add("r1", at(1))
	up.add("r2", at(2))
	successful(poll(at(3), true))
	delivered(1, "", at(3), "r1", "r2")
	// Poll 2: only what changed since poll 1 (r5 sits after lastrunat:
	// the next window has it).
	up.add("r3", at(4))
	up.add("r4", at(5))
	up.add("r5", at(7))
	successful(poll(at(6), true))
	delivered(2, at(3).Format(time.RFC3339), at(6), "r3", "r4")
	if wm, n := pollingCursor(t, p, "poll-source"); wm != at(6).Format(time.RFC3339) || n != 2 {
		t.Fatalf("cursor after poll 2: watermark %q, polls %d", wm, n)
	}

	// Restart the binary on the same data directory.
	if err := p.stop(t); err != nil {
		t.Fatal(err)
	}
	p = start(t, env)
	proxy.to(p)
	waitReady(t, p)
	if got := channelNamed(core, "poll-source"); got != chID {
		t.Fatalf("the restart replaced the polling channel: %s, was %s", got, chID)
	}
	successful(poll(at(9), true))
	delivered(3, at(6).Format(time.RFC3339), at(9), "r5")

	// The target fails: the poll is Failed in core, nothing advances.
	up.add("r6", at(10))
	up.fail(true)
	failed := poll(at(12), false)
	if failed.Status != "Failed" || !strings.Contains(orchestrationNames(failed), "POST /target") {
		t.Fatalf("poll with the target down: status %q, orchestrations %s", failed.Status, orchestrationNames(failed))
	}
	if wm, n := pollingCursor(t, p, "poll-source"); wm != at(9).Format(time.RFC3339) || n != 3 {
		t.Fatalf("a failed poll moved the cursor: watermark %q, polls %d", wm, n)
	}
	// Recovered: the next poll re-covers the failed window (r6) and its own.
	up.fail(false)
	up.add("r7", at(13))
	successful(poll(at(15), true))
	delivered(4, at(9).Format(time.RFC3339), at(15), "r6", "r7")
	if d := up.deliveriesCopy(); len(d) != 7 {
		t.Fatalf("target holds %d distinct records, want r1..r7: %v", len(d), d)
	}
	if wm, n := pollingCursor(t, p, "poll-source"); wm != at(15).Format(time.RFC3339) || n != 4 {
		t.Fatalf("cursor after recovery: watermark %q, polls %d", wm, n)
	}
	t.Logf("5 polls across a restart in %s", time.Since(began).Round(time.Millisecond))
}

// keyedLedger stores each POST /ledger body under its Idempotency-Key and
// counts every delivery: a key seen twice is one record delivered twice.
type keyedLedger struct {
	srv    *httptest.Server
	mu     sync.Mutex
	bodies map[string][]pollWindow
}

func newKeyedLedger(t *testing.T) *keyedLedger {
	l := &keyedLedger{bodies: map[string][]pollWindow{}}
	l.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		var win pollWindow
		if r.URL.Path != "/ledger" || key == "" || json.NewDecoder(r.Body).Decode(&win) != nil {
			http.Error(w, `{"error":"POST /ledger with an Idempotency-Key and a window"}`, http.StatusBadRequest)
			return
		}
		l.mu.Lock()
		first := len(l.bodies[key]) == 0
		l.bodies[key] = append(l.bodies[key], win)
		l.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if first {
			w.WriteHeader(http.StatusCreated)
		}
		fmt.Fprintf(w, `{"key":%q}`, key)
	}))
	t.Cleanup(l.srv.Close)
	return l
}

func (l *keyedLedger) snapshot() map[string][]pollWindow {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string][]pollWindow{}
	for k, v := range l.bodies {
		out[k] = append([]pollWindow(nil), v...)
	}
	return out
}

// TestCronPullRecordedInCore: a Lightning cron workflow (@every 1s) runs on
// the binary's own scheduler; each run is recorded in core (POST, then PUT
// with the orchestrations and final status) on the workflow's channel, and
// a console rerun of one of them runs the same window again under the same
// idempotency key: no new record upstream, the live cursor untouched.
func TestCronPullRecordedInCore(t *testing.T) {
	began := time.Now()
	core := openhim.New(openhim.Options{DisablePolling: true})
	if err := core.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(core.Close)
	l := newKeyedLedger(t)
	creds := filepath.Join(t.TempDir(), "credentials.yaml")
	os.WriteFile(creds, []byte("upstream:\n  baseUrl: "+l.srv.URL+"\n"), 0o600)
	p := start(t, map[string]string{
		"JM_PROJECT":         "testdata/polling/cron",
		"JM_CREDENTIALS":     creds,
		"JM_API_TOKEN":       "e2e-api-token",
		"OPENHIM_URL":        core.APIURL(),
		"OPENHIM_USERNAME":   openhim.RootEmail,
		"OPENHIM_PASSWORD":   openhim.RootPassword,
		"MEDIATOR_HOST":      "127.0.0.1",
		"HEARTBEAT_INTERVAL": "1s",
	})
	waitReady(t, p)
	var chID string
	waitFor(t, "the pull's channel", 20*time.Second, func() bool { chID = channelNamed(core, "pull"); return chID != "" })

	// pulls are the finished transactions of the workflow, oldest first.
	pulls := func() (done []openhim.Transaction, all []openhim.Transaction) {
		for _, tx := range core.Transactions() {
			if tx.Properties["workflow"] != "pull" || tx.ParentID != "" {
				continue
			}
			all = append(all, tx)
			if tx.Status != "Processing" {
				done = append(done, tx)
			}
		}
		return done, all
	}
	var done []openhim.Transaction
	waitFor(t, "three recorded cron runs", 30*time.Second, func() bool { done, _ = pulls(); return len(done) >= 3 })

	// Every run is on the channel, Successful, with the mediator's
	// orchestration, and was created (POST) before it was finished (PUT).
	reqs := core.Requests()
	sent := l.snapshot()
	for _, tx := range done[:3] {
		if tx.ChannelID != chID || tx.Status != "Successful" || !strings.Contains(orchestrationNames(tx), "POST /ledger") {
			t.Fatalf("cron transaction %s: channel %q (want %q), status %q, orchestrations %s",
				tx.ID, tx.ChannelID, chID, tx.Status, orchestrationNames(tx))
		}
		// The recorded request is what a console rerun replays.
		hs, _ := tx.Request["headers"].(map[string]any)
		if hs["x-jobmediator-trigger"] != "cron" || tx.Request["method"] != "POST" || tx.Request["path"] != "/pull" {
			t.Fatalf("cron transaction %s: request %v %v %v", tx.ID, tx.Request["method"], tx.Request["path"], hs)
		}
		// The completing PUT replaces properties; the trigger must survive it.
		if tx.Properties["trigger"] != "cron" || tx.Properties["run_id"] == nil {
			t.Fatalf("cron transaction %s: properties %v, want trigger cron and the run id", tx.ID, tx.Properties)
		}
		posted, put := -1, -1
		for i, r := range reqs {
			var doc struct {
				ID string `json:"_id"`
			}
			switch {
			case r.Method == http.MethodPost && r.Path == "/transactions" && json.Unmarshal([]byte(r.Body), &doc) == nil && doc.ID == tx.ID:
				posted = i
			case r.Method == http.MethodPut && r.Path == "/transactions/"+tx.ID && put < 0:
				put = i
			}
		}
		if posted < 0 || put < posted {
			t.Fatalf("transaction %s: POST /transactions at %d, PUT at %d; want a POST, then a PUT", tx.ID, posted, put)
		}
		// The run's idempotency key is its transaction id.
		if len(sent[tx.ID]) != 1 {
			t.Fatalf("transaction %s reached the upstream %d times under its id", tx.ID, len(sent[tx.ID]))
		}
	}
	// The cursor chains the windows: each run starts where the previous
	// successful one ended, and the first starts from nothing.
	var prev *time.Time
	for i, tx := range done[:3] {
		w := sent[tx.ID][0]
		if (prev == nil) != (w.Since == nil) || prev != nil && !w.Since.Equal(*prev) || !w.Until.After(derefOr(w.Since)) {
			t.Fatalf("run %d window %v..%v does not continue from %v", i+1, w.Since, w.Until, prev)
		}
		u := w.Until
		prev = &u
	}
	if _, all := pulls(); all[0].ID != done[0].ID {
		t.Fatalf("the first recorded run %s is not the first finished one %s", all[0].ID, done[0].ID)
	}

	// Rerun the second pull from the console.
	orig := done[1]
	window := sent[orig.ID][0]
	task, err := core.Rerun(orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.WaitTask(task, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	core.Wait()
	parent, _ := core.Transaction(orig.ID)
	if !parent.WasRerun || len(parent.ChildIDs) != 1 {
		t.Fatalf("the rerun made no child: %+v", parent)
	}
	child, _ := core.Transaction(parent.ChildIDs[0])
	if child.ParentID != orig.ID || child.ChannelID != chID || child.Status != "Successful" || !strings.Contains(orchestrationNames(child), "POST /ledger") || child.Properties["run_id"] == nil {
		t.Fatalf("rerun transaction: parent %q, channel %q, status %q, orchestrations %s", child.ParentID, child.ChannelID, child.Status, orchestrationNames(child))
	}
	after := l.snapshot()
	again := after[orig.ID]
	if len(again) != 2 || !sameWindow(again[1], window) {
		t.Fatalf("the rerun must send window %v..%v again under the original's key %s; the upstream got %v", window.Since, window.Until, orig.ID, again)
	}
	if _, ok := after[child.ID]; ok {
		t.Fatalf("the rerun created a record under its own transaction id %s", child.ID)
	}
	// No window was delivered under two keys: no duplicate record.
	seen := map[string]string{}
	for key, ws := range after {
		for _, w := range ws {
			id := w.Until.Format(time.RFC3339Nano)
			if other, dup := seen[id]; dup && other != key {
				t.Fatalf("window ending %s recorded under two keys %s and %s", id, other, key)
			}
			seen[id] = key
		}
	}
	// The live cursor never took the rerun's window.
	var cur struct {
		Cursors map[string]struct {
			Value struct {
				Watermark time.Time `json:"watermark"`
				RunID     string    `json:"runId"`
			} `json:"value"`
		} `json:"cursors"`
	}
	// A later tick's run may still be between its PUT to core and its
	// cursor write (core saw three finished runs, the store may hold two):
	// wait for the live cursor to pass the rerun's window, then check that
	// the run it names is never the rerun's.
	waitFor(t, "the live cursor past the rerun window", 20*time.Second, func() bool {
		apiGet(t, p, "/api/cursors/pull", &cur)
		return cur.Cursors["state"].Value.Watermark.After(window.Until)
	})
	if st := cur.Cursors["state"].Value; st.RunID == "" || st.RunID == child.Properties["run_id"] {
		t.Fatalf("live cursor after the rerun: %+v (rerun window until %s)", st, window.Until)
	}
	t.Logf("%d cron runs recorded and one rerun in %s", len(done), time.Since(began).Round(time.Millisecond))
}

func derefOr(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func sameWindow(a, b pollWindow) bool {
	return (a.Since == nil) == (b.Since == nil) && (a.Since == nil || a.Since.Equal(*b.Since)) && a.Until.Equal(b.Until)
}
