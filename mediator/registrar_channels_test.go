package mediator

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/jobmediator/jobmediator/sim/openhim"
)

// These tests run the registrar against the OpenHIM simulator, which
// behaves as core 8.5 does here: POST /mediators/:urn/channels saves
// channels without scheduling polling ones, names are unique (500 E11000),
// and a channel saved through PUT /channels/:id is (re)scheduled and fires
// at once.

const syncCapture = "../testdata/shared/openhim/channel-sync-requests-from-source.md"

// routeServer stands in for the mediator's own port: it records what core
// routes to it.
type routeServer struct {
	mu   sync.Mutex
	reqs []*http.Request
	srv  *httptest.Server
}

func newRouteServer(t *testing.T) *routeServer {
	rs := &routeServer{}
	rs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs.mu.Lock()
		rs.reqs = append(rs.reqs, r.Clone(context.Background()))
		rs.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(rs.srv.Close)
	return rs
}

func (rs *routeServer) requests(path string) []*http.Request {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var out []*http.Request
	for _, r := range rs.reqs {
		if r.URL.Path == path {
			out = append(out, r)
		}
	}
	return out
}

func (rs *routeServer) hostPort(t *testing.T) (string, int) {
	host, port, err := net.SplitHostPort(strings.TrimPrefix(rs.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(port)
	return host, n
}

func startSimCore(t *testing.T) *openhim.Core {
	t.Helper()
	core := openhim.New(openhim.Options{})
	if err := core.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(core.Close)
	return core
}

// syncRegistration is the registration of a project whose workflows are
// given as name → polling schedule ("" for an HTTP channel).
func syncRegistration(host string, port int, revision int64, workflows map[string]string) Registration {
	var specs []ChannelSpec
	var keys []string
	for wf, polling := range workflows {
		specs = append(specs, ChannelSpec{Workflow: wf, Path: "/" + wf, Methods: []string{"POST"}, Polling: polling})
		keys = append(keys, wf)
	}
	sort.Strings(keys)
	id := Identity{URN: "urn:mediator:jobmediator", Name: "Job Mediator", Version: "1.0.0", RouteHost: host, RoutePort: port}
	reg := BuildRegistration(id, specs, nil, keys)
	reg.Revision = revision
	reg.Version = RegistrationVersion("1.0.0", reg)
	return reg
}

// startRegistrar runs a registrar against apiURL until the test ends;
// stop ends it earlier.
func startRegistrar(t *testing.T, apiURL string, reg Registration, opts RegistrarOptions) (*Registrar, func()) {
	t.Helper()
	c, err := NewClient(ClientOptions{APIURL: apiURL, Username: openhim.RootEmail, Password: openhim.RootPassword, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	opts.InstallChannels = true
	if opts.Interval == 0 {
		opts.Interval = 5 * time.Millisecond
	}
	if opts.Backoff.Initial == 0 {
		opts.Backoff = Backoff{Initial: time.Millisecond, Max: 4 * time.Millisecond}
	}
	r := NewRegistrar(c, reg, nil, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return r, stop
}

// runRegistrar runs a registrar against the simulator until its channels
// are synced.
func runRegistrar(t *testing.T, core *openhim.Core, reg Registration) (*Registrar, func()) {
	t.Helper()
	r, stop := startRegistrar(t, core.APIURL(), reg, RegistrarOptions{})
	waitFor(t, "the channels synced", func() bool { return r.Status().Channels != "" })
	return r, stop
}

// refusingProxy stands in front of the simulator and answers the requests
// refuse picks (status, body) itself: a core whose rights or database
// behave otherwise than the simulator's, for one call.
func refusingProxy(t *testing.T, core *openhim.Core, refuse func(*http.Request) (int, string)) string {
	target, _ := url.Parse(core.APIURL())
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status, body := refuse(r); status != 0 {
			http.Error(w, body, status)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	return proxy.URL
}

func channelNamed(core *openhim.Core, name string) map[string]any {
	for _, ch := range core.Channels() {
		if ch["name"] == name {
			return ch
		}
	}
	return nil
}

func statesByName(st RegistrarStatus) map[string]ChannelState {
	out := map[string]ChannelState{}
	for _, s := range st.ChannelStates {
		out[s.Name] = s
	}
	return out
}

// A polling workflow installed as a default channel polls on a core that
// was not restarted, because the registrar saves it back through
// PUT /channels/:id.
func TestInstalledPollingChannelPolls(t *testing.T) {
	core := startSimCore(t)
	rs := newRouteServer(t)
	host, port := rs.hostPort(t)
	r, _ := runRegistrar(t, core, syncRegistration(host, port, 1, map[string]string{"ingest": "", "pull": "1 hour"}))
	waitFor(t, "core's first poll of the installed channel", func() bool { return len(rs.requests("/pull")) >= 1 })
	poll := rs.requests("/pull")[0]
	ch := channelNamed(core, "Job Mediator – pull")
	if ch == nil || poll.Method != http.MethodGet || poll.Header.Get("channel-id") != ch["_id"] {
		t.Fatalf("poll %s %s channel-id=%q, channel %v", poll.Method, poll.URL, poll.Header.Get("channel-id"), ch)
	}
	st := r.Status()
	states := statesByName(st)
	if st.Channels != "installed" || states["Job Mediator – pull"].Polling != "scheduled" ||
		states["Job Mediator – ingest"].State != ChannelInstalled || len(st.Problems) != 0 {
		t.Fatalf("status %+v", st)
	}
}

// A workflow added to the project after the first install gets its channel
// on the next start; the channels already there are left alone, and one
// whose name another mediator holds is reported with the fix, once.
func TestChannelSyncAddsNewWorkflowsAndReportsCollisions(t *testing.T) {
	core := startSimCore(t)
	rs := newRouteServer(t)
	host, port := rs.hostPort(t)
	_, stop := runRegistrar(t, core, syncRegistration(host, port, 1, map[string]string{"ingest": ""}))
	stop()
	// Another mediator's channel holds a name this one will want.
	otherID, err := core.AddChannel(map[string]any{"name": "Job Mediator – taken", "urlPattern": "^/taken$", "methods": []any{"POST"},
		"allow": []any{"x"}, "routes": []any{map[string]any{"name": "other", "host": "10.9.9.9", "port": 9.0, "primary": true}}})
	if err != nil {
		t.Fatal(err)
	}
	before := len(core.Requests())
	reg2 := syncRegistration(host, port, 2, map[string]string{"ingest": "", "pull": "1 hour", "taken": ""})
	r, _ := runRegistrar(t, core, reg2)
	// Heartbeats go on; the collision is not retried.
	hb := func() int {
		n := 0
		for _, q := range core.Requests()[before:] {
			if strings.HasSuffix(q.Path, "/heartbeat") {
				n++
			}
		}
		return n
	}
	waitFor(t, "five heartbeats after the sync", func() bool { return hb() >= 5 })
	waitFor(t, "the poll of the added channel", func() bool { return len(rs.requests("/pull")) >= 1 })

	st := r.Status()
	states := statesByName(st)
	if st.Channels != ChannelConflict {
		t.Errorf("channels = %q, want conflict", st.Channels)
	}
	if s := states["Job Mediator – ingest"]; s.State != ChannelPresent {
		t.Errorf("ingest %+v", s)
	}
	if s := states["Job Mediator – pull"]; s.State != ChannelInstalled || s.Polling != "scheduled" {
		t.Errorf("pull %+v", s)
	}
	taken := states["Job Mediator – taken"]
	if taken.State != ChannelConflict || !strings.Contains(taken.Problem, "10.9.9.9:9") || !strings.Contains(taken.Fix, "MEDIATOR_NAME") {
		t.Errorf("taken %+v", taken)
	}
	if len(st.Problems) != 1 || !strings.Contains(st.Problems[0], "MEDIATOR_NAME") {
		t.Errorf("problems %q", st.Problems)
	}
	// The other mediator's channel is untouched and ours are there once.
	if ch := channelNamed(core, "Job Mediator – taken"); ch["_id"] != otherID || len(core.Channels()) != 3 {
		t.Errorf("channels in core: %v", core.Channels())
	}

	// The requests, in order, as the capture written from core's source.
	var got []openhim.RecordedRequest
	for _, q := range core.Requests()[before:] {
		if strings.Contains(q.Path, "/channels") {
			got = append(got, q)
		}
	}
	want, err := openhim.ReadCaptures(syncCapture)
	if err != nil {
		t.Fatal(err)
	}
	pullID, _ := channelNamed(core, "Job Mediator – pull")["_id"].(string)
	// One listing more than the capture: after installing, the registrar
	// lists again to learn the new channel's id.
	order := []int{0, 1, 0, 2, 3}
	if len(got) != len(order) {
		t.Fatalf("channel requests %d, want %d: %+v", len(got), len(order), got)
	}
	for i, wi := range order {
		w, g := want[wi], got[i]
		line := strings.ReplaceAll(w.Head[0], "<id>", pullID)
		if gl := g.Method + " " + g.Path + " HTTP/1.1"; gl != line {
			t.Errorf("request %d = %q, want %q (%s)", i, gl, line, w.Title)
		}
		for _, name := range w.HeaderNames() {
			wv, _ := w.Header(name)
			if gv := g.Header.Get(name); gv != wv {
				t.Errorf("request %d header %s = %q, want %q", i, name, gv, wv)
			}
		}
		switch {
		case w.Body == "":
			if g.Body != "" {
				t.Errorf("request %d has a body %q", i, g.Body)
			}
		case g.Method == http.MethodPost:
			var wb, gb any
			_ = json.Unmarshal([]byte(w.Body), &wb)
			if err := json.Unmarshal([]byte(g.Body), &gb); err != nil || !reflect.DeepEqual(wb, gb) {
				t.Errorf("install body %s, want %s", g.Body, w.Body)
			}
		case g.Method == http.MethodPut:
			// The document as read: same keys as the capture's example,
			// same values as the channel core holds.
			var wb, gb map[string]any
			_ = json.Unmarshal([]byte(w.Body), &wb)
			if err := json.Unmarshal([]byte(g.Body), &gb); err != nil {
				t.Fatalf("PUT body %s", g.Body)
			}
			for k := range wb {
				if _, ok := gb[k]; !ok {
					t.Errorf("PUT body lacks %q: %s", k, g.Body)
				}
			}
			if gb["_id"] != pullID || gb["type"] != "polling" || gb["pollingSchedule"] != "1 hour" || gb["name"] != "Job Mediator – pull" {
				t.Errorf("PUT body %s", g.Body)
			}
		}
	}
}

// A polling channel an operator switched off in the console stays off: it
// is reported as disabled and not saved.
func TestDisabledPollingChannelIsLeftOff(t *testing.T) {
	core := startSimCore(t)
	rs := newRouteServer(t)
	host, port := rs.hostPort(t)
	reg := syncRegistration(host, port, 1, map[string]string{"pull": "1 hour"})
	def := reg.DefaultChannelConfig[0]
	doc, _ := json.Marshal(def)
	var ch map[string]any
	_ = json.Unmarshal(doc, &ch)
	ch["status"] = "disabled"
	if _, err := core.AddChannel(ch); err != nil {
		t.Fatal(err)
	}
	r, _ := runRegistrar(t, core, reg)
	st := r.Status()
	if s := statesByName(st)[def.Name]; s.State != ChannelPresent || s.Polling != "disabled" || len(st.Problems) != 0 {
		t.Fatalf("status %+v", st)
	}
	for _, q := range core.Requests() {
		if q.Method == http.MethodPut {
			t.Fatalf("a disabled channel was saved: %s %s", q.Method, q.Path)
		}
	}
}

// When core refuses to save the polling channel (a user without the right
// on a core with roles; core 8.5 answers the same 403 to a non-admin), the
// channel is installed but not polled, and the status says so with the fix.
// A proxy in front of the simulator refuses only that call.
func TestUnschedulablePollingIsReported(t *testing.T) {
	core := startSimCore(t)
	api := refusingProxy(t, core, func(r *http.Request) (int, string) {
		if r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/channels/") {
			// openhim-core-js:src/api/channels.js updateChannel
			return http.StatusForbidden, "User root@openhim.org is not an admin, API access to updateChannel denied."
		}
		return 0, ""
	})
	rs := newRouteServer(t)
	host, port := rs.hostPort(t)
	r, _ := startRegistrar(t, api, syncRegistration(host, port, 1, map[string]string{"pull": "1 hour"}), RegistrarOptions{})
	waitFor(t, "the channels synced", func() bool { return r.Status().Channels != "" })
	st := r.Status()
	s := statesByName(st)["Job Mediator – pull"]
	if st.Channels != "installed" || s.State != ChannelInstalled || s.Polling != "not scheduled" ||
		!strings.Contains(s.Problem, "HTTP 403") || !strings.Contains(s.Fix, "channel-manage-all") {
		t.Fatalf("status %+v", st)
	}
	if len(st.Problems) != 1 || !strings.Contains(st.Problems[0], "core has not scheduled this polling channel") {
		t.Fatalf("problems %q", st.Problems)
	}
	// The mediator stays ready: every other workflow still works.
	waitFor(t, "readiness with the problem reported", func() bool { return r.Ready() && len(r.Status().Problems) == 1 })
}

// A sync that fails because core is failing is tried again while core
// answers heartbeats, and ends installed once core recovers; the failure
// showed in the status meanwhile.
func TestFailedChannelSyncIsRetried(t *testing.T) {
	core := startSimCore(t)
	var mu sync.Mutex
	failing := 2 // the first two channel installs answer 500
	api := refusingProxy(t, core, func(r *http.Request) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/channels") && failing > 0 {
			failing--
			return http.StatusInternalServerError, "Could not load mediator default channel config (urn: x): MongoNetworkError: connection reset"
		}
		return 0, ""
	})
	rs := newRouteServer(t)
	host, port := rs.hostPort(t)
	logs := &syncBuffer{}
	l := logrus.New()
	l.SetOutput(logs)
	r, _ := startRegistrar(t, api, syncRegistration(host, port, 1, map[string]string{"ingest": ""}),
		RegistrarOptions{Interval: 2 * time.Millisecond, Logger: l, Backoff: Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond}})
	waitFor(t, "the channel installed after core recovers", func() bool { return r.Status().Channels == "installed" })
	// Each failed attempt was reported (the status said the same until the
	// next attempt).
	if n := strings.Count(logs.String(), "MongoNetworkError"); n != 2 {
		t.Errorf("%d failed attempts logged, want 2:\n%s", n, logs.String())
	}
	if st := r.Status(); len(st.Problems) != 0 || channelNamed(core, "Job Mediator – ingest") == nil {
		t.Fatalf("status %+v, channels %v", st, core.Channels())
	}
}

// A sync core refuses for good (a 4xx: here a name core's stored defaults
// lack, as when a registration was not accepted) is reported and not
// tried again, however long core answers heartbeats.
func TestRefusedChannelSyncIsNotRetried(t *testing.T) {
	core := startSimCore(t)
	var mu sync.Mutex
	installs, heartbeats := 0, 0
	api := refusingProxy(t, core, func(r *http.Request) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case strings.HasSuffix(r.URL.Path, "/heartbeat"):
			heartbeats++
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/channels"):
			installs++
			// openhim-core-js:src/api/mediators.js loadDefaultChannels
			return http.StatusBadRequest, "Could not load mediator default channel config, one or more channels in the request body not found in the mediator config (urn: urn:mediator:jobmediator)"
		}
		return 0, ""
	})
	rs := newRouteServer(t)
	host, port := rs.hostPort(t)
	r, _ := startRegistrar(t, api, syncRegistration(host, port, 1, map[string]string{"ingest": ""}),
		RegistrarOptions{Interval: time.Millisecond, Backoff: Backoff{Initial: time.Millisecond, Max: time.Millisecond}})
	waitFor(t, "twenty heartbeats", func() bool { mu.Lock(); defer mu.Unlock(); return heartbeats >= 20 })
	st := r.Status()
	mu.Lock()
	n := installs
	mu.Unlock()
	if n != 1 || st.Channels != ChannelFailed || len(st.Problems) != 1 || !strings.Contains(st.Problems[0], "HTTP 400") {
		t.Fatalf("%d installs, status %+v", n, st)
	}
}

// Which stored channel of one of our names is ours: the urn mark decides;
// without it (earlier versions, core metadata imports, hand-made), the
// route to this mediator or the description an earlier version wrote.
func TestRegistrarOwnsChannel(t *testing.T) {
	reg := syncRegistration("10.0.0.5", 4001, 1, map[string]string{"ingest": ""})
	c, err := NewClient(ClientOptions{APIURL: "http://127.0.0.1:1", Username: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	r := NewRegistrar(c, reg, nil, RegistrarOptions{})
	def := reg.DefaultChannelConfig[0]
	here := []Route{{Host: "10.0.0.5", Port: 4001}}
	elsewhere := []Route{{Host: "10.9.9.9", Port: 4001}}
	for _, c := range []struct {
		name string
		ch   CoreChannel
		ours bool
	}{
		{"our urn, moved host", CoreChannel{Description: `Runs workflow "ingest" on Job Mediator (urn:mediator:jobmediator)`, Routes: elsewhere}, true},
		{"another urn, same route", CoreChannel{Description: `Runs workflow "ingest" on Job Mediator (urn:mediator:other)`, Routes: here}, false},
		{"earlier version, moved host", CoreChannel{Description: `Runs workflow "ingest" on Job Mediator`, Routes: elsewhere}, true},
		{"hand-made, routes here", CoreChannel{Description: "made by hand", Routes: here}, true},
		{"hand-made, routes elsewhere", CoreChannel{Routes: elsewhere}, false},
		{"earlier version of another workflow", CoreChannel{Description: `Runs workflow "other" on Job Mediator`, Routes: elsewhere}, false},
	} {
		if got := r.owns(c.ch, def); got != c.ours {
			t.Errorf("%s: owns = %v, want %v", c.name, got, c.ours)
		}
	}
}

// An API user that may not list channels: the registrar installs every
// default channel blind, and says that its polling channel may not be
// scheduled, with the fix.
func TestChannelSyncWithoutListing(t *testing.T) {
	core := startSimCore(t)
	api := refusingProxy(t, core, func(r *http.Request) (int, string) {
		if r.Method == http.MethodGet && r.URL.Path == "/channels" {
			return http.StatusForbidden, "User root@openhim.org is not an admin, API access to getChannels denied."
		}
		return 0, ""
	})
	rs := newRouteServer(t)
	host, port := rs.hostPort(t)
	r, _ := startRegistrar(t, api, syncRegistration(host, port, 1, map[string]string{"ingest": "", "pull": "1 hour"}), RegistrarOptions{})
	waitFor(t, "the channels synced", func() bool { return r.Status().Channels != "" })
	st := r.Status()
	if st.Channels != "installed" || len(core.Channels()) != 2 {
		t.Fatalf("status %+v, channels %v", st, core.Channels())
	}
	if len(st.Problems) != 1 || !strings.Contains(st.Problems[0], "Job Mediator – pull: polling channel may not be scheduled") || !strings.Contains(st.Problems[0], "HTTP 403") {
		t.Fatalf("problems %q", st.Problems)
	}
}

// Saving a polling channel while core fails (503) is tried again; once core
// saves it, it is scheduled and the problem is gone.
func TestPollingSaveIsRetriedWhileCoreFails(t *testing.T) {
	core := startSimCore(t)
	var mu sync.Mutex
	failing := 1
	api := refusingProxy(t, core, func(r *http.Request) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		if r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/channels/") && failing > 0 {
			failing--
			return http.StatusServiceUnavailable, "Service Unavailable"
		}
		return 0, ""
	})
	rs := newRouteServer(t)
	host, port := rs.hostPort(t)
	r, _ := startRegistrar(t, api, syncRegistration(host, port, 1, map[string]string{"pull": "1 hour"}), RegistrarOptions{})
	waitFor(t, "the polling channel scheduled on the second try", func() bool {
		st := r.Status()
		return len(st.ChannelStates) == 1 && st.ChannelStates[0].Polling == "scheduled" && len(st.Problems) == 0
	})
	waitFor(t, "core's poll", func() bool { return len(rs.requests("/pull")) >= 1 })
}

// Our own channel (by its urn mark) that routes to where this mediator no
// longer is, e.g. an old container's host name: left as it is, reported
// with the fix.
func TestOwnChannelRoutingElsewhereIsReported(t *testing.T) {
	core := startSimCore(t)
	rs := newRouteServer(t)
	host, port := rs.hostPort(t)
	reg := syncRegistration(host, port, 1, map[string]string{"ingest": ""})
	doc, _ := json.Marshal(reg.DefaultChannelConfig[0])
	var ch map[string]any
	_ = json.Unmarshal(doc, &ch)
	ch["routes"].([]any)[0].(map[string]any)["host"] = "3f2a9c1d7e4b" // a replaced container
	if _, err := core.AddChannel(ch); err != nil {
		t.Fatal(err)
	}
	r, _ := runRegistrar(t, core, reg)
	st := r.Status()
	s := statesByName(st)["Job Mediator – ingest"]
	if st.Channels != "already installed" || s.State != ChannelPresent || !strings.Contains(s.Problem, "routes to 3f2a9c1d7e4b:") ||
		!strings.Contains(s.Fix, "MEDIATOR_HOST") || len(st.Problems) != 1 {
		t.Fatalf("status %+v", st)
	}
	if got := channelNamed(core, "Job Mediator – ingest")["routes"].([]any)[0].(map[string]any)["host"]; got != "3f2a9c1d7e4b" {
		t.Fatalf("the channel was changed: host %v", got)
	}
}
