package daemon

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/notify"
)

// A workflow's notify: adds its own webhook (secret from a credential),
// filters its events, and the global sink still hears everything else.
func TestNotifierRoutesFromOptions(t *testing.T) {
	type got struct {
		mu   sync.Mutex
		msgs []notify.Message
	}
	sink := func(secret string, g *got) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			if !notify.Verify(secret, b, r.Header.Get(notify.SignatureHeader)) {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			var m notify.Message
			json.Unmarshal(b, &m)
			g.mu.Lock()
			g.msgs = append(g.msgs, m)
			g.mu.Unlock()
		}))
		t.Cleanup(s.Close)
		return s
	}
	var global, team got
	gs, ts := sink("global-secret", &global), sink("team-secret", &team)

	dir := t.TempDir()
	opts := filepath.Join(dir, "jobmediator.yaml")
	os.WriteFile(opts, []byte("workflows:\n  hello-upstream:\n    notify: {events: [dead_letter], webhook: team-hook}\n"), 0o644)
	p, err := config.LoadProjectWith("../examples/hello-upstream", config.LoadOptions{OptionsPath: opts})
	if err != nil {
		t.Fatal(err)
	}
	creds := config.NewCredentials(map[string]map[string]any{"team-hook": {"url": ts.URL + "/t0ken-path", "secret": "team-secret"}})
	red := redact.New()
	s := config.DefaultSettings()
	s.NotifyWebhookURL, s.NotifyWebhookSecret = gs.URL, "global-secret"
	s.NotifyWindow = time.Hour // only Stop flushes: nothing depends on timing
	n, err := newNotifier(s, p, creds, red, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sinks := n.Sinks(); len(sinks) != 2 || sinks[1].Workflows[0] != "hello-upstream" || strings.Contains(sinks[1].Target, "t0ken") {
		t.Fatalf("sinks = %+v", sinks)
	}
	n.Start(context.Background())
	n.Report(notify.Event{Kind: notify.RunFailed, Workflow: "hello-upstream", Error: "not notified: events say dead_letter only"})
	n.Report(notify.Event{Kind: notify.DeadLetter, Workflow: "hello-upstream", Error: "gave up after 5 attempts"})
	n.Report(notify.Event{Kind: notify.Store, Error: "store down"})
	if err := n.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(global.msgs) != 2 || len(team.msgs) != 1 || team.msgs[0].Event != notify.DeadLetter {
		t.Fatalf("global %+v\nteam %+v", global.msgs, team.msgs)
	}
	if red.String("x "+ts.URL+"/t0ken-path") == "x "+ts.URL+"/t0ken-path" || red.String("team-secret") != redact.Mask {
		t.Error("the team webhook's URL and secret are not redacted")
	}

	// Mail recipients per workflow need a mail server.
	os.WriteFile(opts, []byte("workflows:\n  hello-upstream:\n    notify: {email: [team@example.org]}\n"), 0o644)
	p, _ = config.LoadProjectWith("../examples/hello-upstream", config.LoadOptions{OptionsPath: opts})
	if _, err := newNotifier(config.DefaultSettings(), p, creds, red, nil, nil); err == nil || !strings.Contains(err.Error(), "JM_SMTP_URL") {
		t.Fatalf("email without a mail server: %v", err)
	}
}

// The console's settings page lists the sinks and its button sends a
// test notification to each.
func TestNotifySection(t *testing.T) {
	var got []string
	var mu sync.Mutex
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, string(b))
		mu.Unlock()
	}))
	defer hook.Close()
	wh, _ := notify.NewWebhook(hook.URL+"/<script>", "k")
	d := &Daemon{notifier: notify.New(notify.Options{Sinks: []notify.Sink{wh}})}
	sec := d.notifySection()
	page, err := sec.Render(context.Background(), `tok"en`)
	if err != nil || !strings.Contains(page, hook.URL+"/…") || !strings.Contains(page, `value="tok&#34;en"`) || !strings.Contains(page, "Send a test notification") {
		t.Fatalf("section: %v\n%s", err, page)
	}
	msg, err := sec.Post(httptest.NewRequest(http.MethodPost, "/console/settings/notifications", nil))
	if err != nil || !strings.Contains(msg, "Test notification sent to webhook") || len(got) != 1 || !strings.Contains(got[0], `"status":"test"`) {
		t.Fatalf("post: %q %v, delivered %v", msg, err, got)
	}

	none := (&Daemon{}).notifySection()
	if page, _ := none.Render(context.Background(), "t"); !strings.Contains(page, "No notification sink") || strings.Contains(page, "<form") {
		t.Fatalf("no sinks: %s", page)
	}
	if _, err := none.Post(httptest.NewRequest(http.MethodPost, "/", nil)); err == nil {
		t.Fatal("a test with no sinks must fail")
	}
}
