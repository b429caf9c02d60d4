package mediator

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/jobmediator/jobmediator/internal/testwait"
)

// waitFor polls cond until it holds, failing after a bounded time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.For(t, what, 5*time.Second, cond)
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testRegistrar(t *testing.T, core *fakeCore, opts RegistrarOptions, store ...*ConfigStore) (*Registrar, *ConfigStore, *syncBuffer, func()) {
	t.Helper()
	srv := core.start()
	logs := &syncBuffer{}
	l := logrus.New()
	l.SetOutput(logs)
	l.SetLevel(logrus.InfoLevel)
	l.SetFormatter(&logrus.TextFormatter{DisableColors: true, DisableTimestamp: true})
	c, err := NewClient(ClientOptions{APIURL: srv.URL, Username: rootEmail, Password: rootPassword, Logger: l, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Interval == 0 {
		opts.Interval = 5 * time.Millisecond
	}
	if opts.Backoff.Initial == 0 {
		opts.Backoff = Backoff{Initial: time.Millisecond, Max: 4 * time.Millisecond}
	}
	opts.Logger = l
	st := NewConfigStore(nil)
	if len(store) > 0 {
		st = store[0]
	}
	reg := validRegistration()
	r := NewRegistrar(c, reg, st, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	stop := func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	}
	t.Cleanup(stop)
	return r, st, logs, stop
}

func heartbeats(core *fakeCore) []map[string]any {
	var out []map[string]any
	for _, r := range core.requests() {
		if strings.HasSuffix(r.Path, "/heartbeat") {
			var m map[string]any
			_ = json.Unmarshal([]byte(r.Body), &m)
			out = append(out, m)
		}
	}
	return out
}

func TestRegistrarRetriesRegistrationThenHeartbeats(t *testing.T) {
	core := newFakeCore(t)
	core.regFailures = 4 // core "down" for four attempts
	core.storedConfig = map[string]any{"enabled_nightly_pull": false}
	start := time.Now().Add(-90 * time.Second)
	r, store, logs, stop := testRegistrar(t, core, RegistrarOptions{Start: start})
	waitFor(t, "three heartbeats", func() bool { return len(heartbeats(core)) >= 3 })
	stop()

	if n := core.count("POST", "/mediators"); n != 5 {
		t.Errorf("registration attempts = %d, want 5 (4 failures + 1 success)", n)
	}
	// Order: all registrations before the first heartbeat.
	reqs := core.requests()
	firstHB := -1
	for i, q := range reqs {
		if strings.HasSuffix(q.Path, "/heartbeat") && firstHB < 0 {
			firstHB = i
		}
		if q.Path == "/mediators" && firstHB >= 0 {
			t.Errorf("registration after heartbeats started")
		}
	}
	hbs := heartbeats(core)
	if hbs[0]["config"] != true {
		t.Errorf("first heartbeat = %v, want config:true", hbs[0])
	}
	for i, hb := range hbs[1:] {
		if _, has := hb["config"]; has {
			t.Errorf("heartbeat %d = %v, want no config flag", i+1, hb)
		}
	}
	if up, _ := hbs[0]["uptime"].(float64); up < 90 || up > 120 {
		t.Errorf("uptime = %v, want seconds since Start", hbs[0]["uptime"])
	}
	if got := store.Get(); got["enabled_nightly_pull"] != false {
		t.Errorf("config not applied: %v", got)
	}
	st := r.Status()
	if !st.Registered || st.LastHeartbeat.IsZero() || st.Failures != 0 || st.LastError != "" || st.URN != "urn:mediator:jobmediator" {
		t.Errorf("status = %+v", st)
	}
	out := logs.String()
	if n := strings.Count(out, "OpenHIM registration failed"); n != 1 {
		t.Errorf("registration failure logged %d times, want once:\n%s", n, out)
	}
	if n := strings.Count(out, "registered with OpenHIM core"); n != 1 {
		t.Errorf("registration success logged %d times:\n%s", n, out)
	}
	if n := strings.Count(out, "config updated from OpenHIM console"); n != 1 {
		t.Errorf("config update logged %d times:\n%s", n, out)
	}
	assertNoSecrets(t, out)
}

func TestRegistrarAppliesConsoleChangeOnce(t *testing.T) {
	core := newFakeCore(t)
	core.storedConfig = map[string]any{"enabled_nightly_pull": true, "credential_fhir": map[string]any{"apiKey": ""}}
	changed := map[string]any{"enabled_nightly_pull": false, "credential_fhir": map[string]any{"apiKey": "console-SECRET-9"}}
	b, _ := json.Marshal(changed)
	// Heartbeats: config:true answer, two empties, the console change
	// (delivered once), then empties.
	core.hbBodies = []string{"", "", "", string(b), "", "OK", ""}
	// The first queued body answers the config:true beat with "" here;
	// make it the stored config instead.
	sc, _ := json.Marshal(core.storedConfig)
	core.hbBodies[0] = string(sc)

	var fired atomic.Int32
	var gotOld, gotNew map[string]any
	store := NewConfigStore(nil)
	store.OnChange(func(old, new map[string]any) {
		if fired.Add(1) == 2 {
			gotOld, gotNew = old, new
		}
	})
	r, _, logs, stop := testRegistrar(t, core, RegistrarOptions{}, store)
	waitFor(t, "all queued heartbeats", func() bool { return len(heartbeats(core)) >= 9 })
	stop()
	// Once for the initial config, once for the console change.
	if n := fired.Load(); n != 2 {
		t.Fatalf("OnChange fired %d times, want 2", n)
	}
	if gotOld["enabled_nightly_pull"] != true || gotNew["enabled_nightly_pull"] != false {
		t.Errorf("OnChange old=%v new=%v", gotOld, gotNew)
	}
	if store.Get()["enabled_nightly_pull"] != false {
		t.Errorf("store = %v", store.Get())
	}
	out := logs.String()
	if c := strings.Count(out, "config updated from OpenHIM console"); c != 2 {
		t.Errorf("config update logged %d times, want 2 (initial + console change):\n%s", c, out)
	}
	if !strings.Contains(out, "credential_fhir") || strings.Contains(out, "console-SECRET-9") {
		t.Errorf("log must list changed keys but no values:\n%s", out)
	}
	if !r.Ready() {
		t.Error("not ready after healthy heartbeats")
	}
}

func TestRegistrarReregistersOn404(t *testing.T) {
	core := newFakeCore(t)
	core.hbStatus = []int{200, 200, 404} // third heartbeat: mediator deleted in the console
	_, _, logs, stop := testRegistrar(t, core, RegistrarOptions{})
	waitFor(t, "re-registration and config heartbeat", func() bool {
		hbs := heartbeats(core)
		return core.count("POST", "/mediators") == 2 && len(hbs) >= 5
	})
	stop()
	hbs := heartbeats(core)
	// hb0 config:true, hb1 plain, hb2 → 404, then register, hb3 config:true.
	if hbs[0]["config"] != true || hbs[3]["config"] != true {
		t.Errorf("heartbeats = %v; want config:true first and right after re-registration", hbs)
	}
	if _, has := hbs[2]["config"]; has {
		t.Errorf("plain heartbeat carried config: %v", hbs[2])
	}
	if c := core.count("POST", "/mediators"); c != 2 {
		t.Errorf("registrations = %d, want 2", c)
	}
	if !strings.Contains(logs.String(), "does not know this mediator urn") {
		t.Errorf("404 not logged:\n%s", logs.String())
	}
}

func TestRegistrarKeepsAskingForConfigUntilAHeartbeatSucceeds(t *testing.T) {
	core := newFakeCore(t)
	core.hbStatus = []int{500, 500, 200}
	r, _, _, stop := testRegistrar(t, core, RegistrarOptions{})
	waitFor(t, "four heartbeats", func() bool { return len(heartbeats(core)) >= 4 })
	stop()
	hbs := heartbeats(core)
	for i := 0; i < 3; i++ {
		if hbs[i]["config"] != true {
			t.Errorf("heartbeat %d = %v, want config:true until one succeeds", i, hbs[i])
		}
	}
	if _, has := hbs[3]["config"]; has {
		t.Errorf("heartbeat 3 = %v", hbs[3])
	}
	if c := core.count("POST", "/mediators"); c != 1 {
		t.Errorf("a 500 heartbeat caused re-registration (%d)", c)
	}
	_ = r
}

func TestRegistrarInstallsChannels(t *testing.T) {
	for _, exists := range []bool{false, true} {
		core := newFakeCore(t)
		core.channelsExist = exists
		r, _, _, stop := testRegistrar(t, core, RegistrarOptions{InstallChannels: true})
		waitFor(t, "a heartbeat", func() bool { return len(heartbeats(core)) >= 1 })
		stop()
		want := "installed"
		if exists {
			want = "already installed"
		}
		if got := r.Status().Channels; got != want {
			t.Errorf("exists=%v: channels = %q, want %q", exists, got, want)
		}
		if c := core.count("POST", "/mediators/urn:mediator:jobmediator/channels"); c != 1 {
			t.Errorf("install calls = %d", c)
		}
	}
}

func TestRegistrarReadiness(t *testing.T) {
	core := newFakeCore(t)
	var now atomic.Int64
	now.Store(time.Unix(1_700_000_000, 0).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	core.regFailures = 1 << 30 // never registers
	r, _, _, stop := testRegistrar(t, core, RegistrarOptions{Now: clock, Interval: time.Hour})
	waitFor(t, "registration attempts", func() bool { return core.count("POST", "/mediators") >= 2 })
	if r.Ready() {
		t.Error("ready while unregistered")
	}
	st := r.Status()
	if st.Registered || st.Failures < 1 || !strings.Contains(st.LastError, "HTTP 503") {
		t.Errorf("status = %+v", st)
	}
	stop()

	core2 := newFakeCore(t)
	r2, _, _, stop2 := testRegistrar(t, core2, RegistrarOptions{Now: clock, Interval: time.Hour})
	waitFor(t, "first heartbeat", func() bool { return r2.Status().Ready })
	now.Add(int64(3 * time.Hour)) // exactly three intervals: still ready
	if !r2.Ready() {
		t.Error("not ready at 3 intervals")
	}
	now.Add(int64(time.Second))
	if r2.Ready() {
		t.Error("ready after 3 intervals without a heartbeat")
	}
	stop2()
}

func TestRegistrarStopsPromptly(t *testing.T) {
	core := newFakeCore(t)
	core.regFailures = 1 << 30
	_, _, _, stop := testRegistrar(t, core, RegistrarOptions{Backoff: Backoff{Initial: time.Hour, Max: time.Hour}})
	waitFor(t, "first attempt", func() bool { return core.count("POST", "/mediators") >= 1 })
	stop() // fails the test if Run does not return
}

func TestRegistrarLogsUnreachableCoreOnce(t *testing.T) {
	// Nothing listens on the port: every attempt fails with a transport
	// error whose text may vary; it is logged once.
	logs := &syncBuffer{}
	l := logrus.New()
	l.SetOutput(logs)
	l.SetFormatter(&logrus.TextFormatter{DisableColors: true, DisableTimestamp: true})
	c, err := NewClient(ClientOptions{APIURL: "http://127.0.0.1:1", Username: rootEmail, Password: rootPassword, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r := NewRegistrar(c, validRegistration(), nil, RegistrarOptions{Logger: l, Backoff: Backoff{Initial: time.Millisecond, Max: 2 * time.Millisecond}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	waitFor(t, "several attempts", func() bool { return r.Status().Failures >= 5 })
	cancel()
	<-done
	out := logs.String()
	if n := strings.Count(out, "OpenHIM registration failed"); n != 1 {
		t.Errorf("logged %d times:\n%s", n, out)
	}
	if !strings.Contains(out, "cannot reach core at http://127.0.0.1:1") {
		t.Errorf("log does not say core is unreachable:\n%s", out)
	}
	assertNoSecrets(t, out)
}
