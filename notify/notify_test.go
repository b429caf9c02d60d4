package notify

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/internal/redact"
)

func decodeQP(b []byte) (string, error) {
	out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(b)))
	return string(out), err
}

// The storm: 1,000 failed runs of one workflow within a minute make
// exactly one message per sink, counting 1,000 with the first and last
// error and a link to the runs page; recovery makes one more.
func TestStormIsOneMessagePerSinkThenResolved(t *testing.T) {
	mailSrv, mailCfg := mailServer(t, false)
	hook := newHookSink(t, "hook-signing-secret")
	email, err := NewEmail(mailCfg, "Job Mediator <jm@example.org>", []string{"ops@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	email.Retry = fastRetry()
	wh, err := NewWebhook(hook.srv.URL+"/alerts", "hook-signing-secret")
	if err != nil {
		t.Fatal(err)
	}
	wh.Retry = fastRetry()

	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	clk := &clock{t: t0}
	n := New(Options{
		Sinks: []Sink{wh, email}, Window: time.Minute, Now: clk.Now, Mediator: "Job Mediator",
		RunsURL: func(wf string) string { return "https://jm.example.org/console/runs?workflow=" + url.QueryEscape(wf) },
	})
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer n.Stop(context.Background())

	for i := 0; i < 1000; i++ {
		at := t0.Add(time.Duration(i) * 59 * time.Second / 1000)
		clk.Set(at)
		n.Report(Event{Kind: RunFailed, Workflow: "dhis2-sync", RunID: fmt.Sprintf("run-%d", i),
			Error: fmt.Sprintf("upstream DHIS2 answered 503 (attempt %d)", i)})
	}
	// Within the window nothing is told yet; the window closes at +60s.
	n.flushDue()
	if got := hook.messages(); len(got) != 0 {
		t.Fatalf("messages before the window closed: %+v", got)
	}
	clk.Set(t0.Add(time.Minute))
	n.flushDue()

	msgs := hook.waitFor(t, 1)
	m := msgs[0]
	if m.Status != Firing || m.Event != RunFailed || m.Workflow != "dhis2-sync" || m.Count != 1000 || m.Total != 1000 {
		t.Fatalf("webhook message = %+v", m)
	}
	if m.FirstError != "upstream DHIS2 answered 503 (attempt 0)" || m.LastError != "upstream DHIS2 answered 503 (attempt 999)" || m.LastRunID != "run-999" {
		t.Errorf("first/last = %q / %q / %q", m.FirstError, m.LastError, m.LastRunID)
	}
	if m.RunsURL != "https://jm.example.org/console/runs?workflow=dhis2-sync" || !m.FirstAt.Equal(t0) {
		t.Errorf("runs URL %q, first at %v", m.RunsURL, m.FirstAt)
	}
	mails := mailSrv.WaitFor(1, 20*time.Second)
	if len(mails) != 1 {
		t.Fatalf("%d mails, want 1", len(mails))
	}
	if !mails[0].TLS || mails[0].AuthUser != "alerts@example.org" || mails[0].From != "jm@example.org" || mails[0].To[0] != "ops@example.org" {
		t.Errorf("mail transaction: TLS %v, auth %q, from %q, to %v", mails[0].TLS, mails[0].AuthUser, mails[0].From, mails[0].To)
	}
	subj, body := mailText(t, mails[0])
	containsAll(t, "subject", subj, "FAILING", "dhis2-sync", "1000 times")
	containsAll(t, "mail body", body, "1000 times", "upstream DHIS2 answered 503 (attempt 0)",
		"upstream DHIS2 answered 503 (attempt 999)", "https://jm.example.org/console/runs?workflow=dhis2-sync", "digests")

	// The upstream heals.
	clk.Set(t0.Add(2 * time.Minute))
	n.RunSucceeded("dhis2-sync")
	msgs = hook.waitFor(t, 2)
	if r := msgs[1]; r.Status != Resolved || r.Workflow != "dhis2-sync" || r.Total != 1000 || r.Count != 0 {
		t.Fatalf("resolved message = %+v", r)
	}
	mails = mailSrv.WaitFor(2, 20*time.Second)
	subj, _ = mailText(t, mails[1])
	containsAll(t, "resolved subject", subj, "RESOLVED", "dhis2-sync")

	if err := n.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(hook.messages()) != 2 || len(mailSrv.Messages()) != 2 || hook.bad != 0 {
		t.Fatalf("after the storm: %d webhooks (%d unverified), %d mails; want 2 and 2", len(hook.messages()), hook.bad, len(mailSrv.Messages()))
	}
}

// An incident that stays open is told again at most once per Repeat, as a
// digest of what happened since; then resolved.
func TestOpenIncidentRepeatsAtMostOncePerRepeat(t *testing.T) {
	hook := newHookSink(t, "k")
	wh, _ := NewWebhook(hook.srv.URL, "k")
	wh.Retry = fastRetry()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := &clock{t: t0}
	n := New(Options{Sinks: []Sink{wh}, Window: time.Minute, Repeat: time.Hour, Now: clk.Now})
	n.Start(context.Background())
	defer n.Stop(context.Background())

	n.Report(Event{Kind: Store, Error: "dial tcp 10.0.0.5:27017: connection refused"})
	clk.Set(t0.Add(time.Minute))
	n.flushDue()
	hook.waitFor(t, 1)
	for i := 1; i <= 30; i++ { // a failed ping every minute for half an hour
		clk.Set(t0.Add(time.Duration(i+1) * time.Minute))
		n.Report(Event{Kind: Store, Error: "dial tcp 10.0.0.5:27017: connection refused"})
		n.flushDue()
	}
	clk.Set(t0.Add(61 * time.Minute))
	n.flushDue()
	msgs := hook.waitFor(t, 2)
	if msgs[1].Count != 30 || msgs[1].Total != 31 || !strings.Contains(msgs[1].Summary, "still failing") {
		t.Fatalf("repeat digest = %+v", msgs[1])
	}
	n.Resolve(Store, "")
	msgs = hook.waitFor(t, 3)
	if msgs[2].Status != Resolved || msgs[2].Event != Store {
		t.Fatalf("resolved = %+v", msgs[2])
	}
	n.Stop(context.Background())
	if len(hook.messages()) != 3 {
		t.Fatalf("%d messages, want 3", len(hook.messages()))
	}
}

// Recovery before the window closes still tells what happened, then that
// it is resolved; a resolve with nothing open sends nothing.
func TestResolveInsideWindowTellsFirst(t *testing.T) {
	hook := newHookSink(t, "k")
	wh, _ := NewWebhook(hook.srv.URL, "k")
	n := New(Options{Sinks: []Sink{wh}, Window: time.Hour})
	n.Start(context.Background())
	n.RunSucceeded("never-failed")
	n.Report(Event{Kind: OpenHIM, Error: "heartbeat: 502 from core"})
	n.Report(Event{Kind: OpenHIM, Error: "heartbeat: 502 from core"})
	n.Resolve(OpenHIM, "")
	msgs := hook.waitFor(t, 2)
	if msgs[0].Status != Firing || msgs[0].Count != 2 || msgs[1].Status != Resolved {
		t.Fatalf("messages = %+v", msgs)
	}
	n.Stop(context.Background())
	if len(hook.messages()) != 2 {
		t.Fatalf("%d messages, want 2", len(hook.messages()))
	}
}

// Per-workflow routing: events filter, own recipients, the failing
// threshold, and silence.
func TestRoutes(t *testing.T) {
	global := newHookSink(t, "g")
	own := newHookSink(t, "o")
	gw, _ := NewWebhook(global.srv.URL, "g")
	ow, _ := NewWebhook(own.srv.URL, "o")
	n := New(Options{Sinks: []Sink{gw}, Window: time.Hour, Routes: map[string]Route{
		"quiet":   {Events: []Kind{}},
		"flaky":   {Events: []Kind{Failing}, Failing: Threshold{Times: 3, Within: time.Minute}, Sinks: []Sink{ow}},
		"default": {},
	}})
	n.Start(context.Background())
	t0 := time.Now()
	n.Report(Event{Kind: RunFailed, Workflow: "quiet", Error: "x"})
	// flaky: two failures, a gap past the threshold window, then three.
	n.RunFailedRetrying(Event{Workflow: "flaky", Error: "e1", Time: t0})
	n.Report(Event{Kind: RunFailed, Workflow: "flaky", Error: "e2", Time: t0.Add(10 * time.Second)})
	if open := n.Open(); len(open) != 0 {
		t.Fatalf("open before the threshold: %v", open)
	}
	for i := 0; i < 3; i++ {
		n.RunFailedRetrying(Event{Workflow: "flaky", Error: fmt.Sprintf("f%d", i), Time: t0.Add(2*time.Minute + time.Duration(i)*time.Second)})
	}
	n.Report(Event{Kind: DeadLetter, Workflow: "default", Error: "gave up after 5 attempts"})
	if got := strings.Join(n.Open(), "|"); got != "dead_letter default|failing flaky" {
		t.Fatalf("open = %q", got)
	}
	n.Stop(context.Background()) // flushes what is pending
	g := global.messages()
	o := own.messages()
	if len(g) != 2 || len(o) != 1 {
		t.Fatalf("global got %+v, own got %+v", g, o)
	}
	if o[0].Event != Failing || o[0].Workflow != "flaky" || o[0].Count != 3 || o[0].FirstError != "f0" {
		t.Errorf("failing message = %+v", o[0])
	}
}

// Nothing secret leaves in any encoding; payload excerpts only on opt-in,
// redacted.
func TestMessagesCarryNoSecrets(t *testing.T) {
	const secret = "Tr0ub4dor&3-dhis2-password"
	red := redact.New()
	red.AddValues(secret)
	mailSrv, mailCfg := mailServer(t, true) // implicit TLS this time
	hook := newHookSink(t, "k")
	email, _ := NewEmail(mailCfg, "jm@example.org", []string{"ops@example.org"})
	wh, _ := NewWebhook(hook.srv.URL, "k")
	n := New(Options{Sinks: []Sink{wh, email}, Window: time.Hour, Redactor: red, Routes: map[string]Route{
		"opted": {PayloadExcerpt: true},
	}})
	n.Start(context.Background())
	payload := []byte(`{"patient":"Jane","password":"` + secret + `","zz_note":"` + strings.Repeat("x", 2000) + `"}`)
	errMsg := "POST https://admin:" + secret + "@dhis2.example.org/api failed: 401 (password " + secret + ")"
	n.Report(Event{Kind: RunFailed, Workflow: "plain", Error: errMsg, Payload: payload})
	n.Report(Event{Kind: RunFailed, Workflow: "opted", Error: errMsg, Payload: payload})
	n.Stop(context.Background())

	var all strings.Builder
	for _, r := range hook.raw {
		all.WriteString(r)
	}
	mails := mailSrv.Messages()
	if len(mails) != 2 || len(hook.raw) != 2 {
		t.Fatalf("%d mails, %d webhooks; want 2 and 2", len(mails), len(hook.raw))
	}
	for _, m := range mails {
		all.Write(m.Data)
		_, body := mailText(t, m)
		all.WriteString(body)
	}
	text := all.String()
	for _, enc := range []string{secret, url.QueryEscape(secret), base64.StdEncoding.EncodeToString([]byte(secret)), jsonEsc(secret)} {
		if strings.Contains(text, enc) {
			t.Errorf("secret leaked as %q", enc)
		}
	}
	var plain, opted Message
	for _, m := range hook.messages() {
		if m.Workflow == "plain" {
			plain = m
		} else {
			opted = m
		}
	}
	if plain.Excerpt != "" || strings.Contains(text, "Jane") && plain.Excerpt != "" {
		t.Errorf("payload excerpt without opt-in: %q", plain.Excerpt)
	}
	if !strings.Contains(opted.Excerpt, `"patient":"Jane"`) || len(opted.Excerpt) > ExcerptLimit+len("…") {
		t.Errorf("opted-in excerpt = %q (%d bytes)", opted.Excerpt, len(opted.Excerpt))
	}
	if !strings.Contains(plain.FirstError, redact.Mask) {
		t.Errorf("error not redacted: %q", plain.FirstError)
	}
}

func jsonEsc(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// Webhook deliveries retry 503s with backoff and stop on a 4xx.
func TestWebhookRetries(t *testing.T) {
	hook := newHookSink(t, "k")
	hook.fail = 2
	wh, _ := NewWebhook(hook.srv.URL, "k")
	wh.Retry = fastRetry()
	if err := wh.Send(context.Background(), Message{ID: "1", Event: Test, Status: Testing}); err != nil {
		t.Fatal(err)
	}
	if hook.requests != 3 || len(hook.messages()) != 1 {
		t.Fatalf("requests %d, delivered %d; want 3 and 1", hook.requests, len(hook.messages()))
	}
	// Signed with another secret: the receiver says 401, which is final.
	bad, _ := NewWebhook(hook.srv.URL+"/hooks/T0KEN-in-path", "wrong")
	bad.Retry = fastRetry()
	before := hook.requests
	err := bad.Send(context.Background(), Message{ID: "2"})
	if err == nil || !strings.Contains(err.Error(), "401") || hook.requests != before+1 {
		t.Fatalf("err %v after %d requests", err, hook.requests-before)
	}
	if strings.Contains(err.Error(), "T0KEN") {
		t.Errorf("error repeats the URL: %v", err)
	}
}

// The mail client refuses what it must: a password over a server without
// STARTTLS, a wrong password (final, not retried), an untrusted server.
func TestEmailFailures(t *testing.T) {
	_, good := mailServer(t, false)
	wrongPass := good
	wrongPass.Password = "nope"
	untrusted := good
	untrusted.RootCAs = nil // the system pool does not know the test CA
	cases := []struct {
		name string
		cfg  SMTP
		want string
	}{
		{"wrong password", wrongPass, "535"},
		{"untrusted certificate", untrusted, "certificate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, _ := NewEmail(c.cfg, "jm@example.org", []string{"ops@example.org"})
			e.Retry = fastRetry()
			err := e.Send(context.Background(), Message{ID: "x", Status: Testing, Event: Test, SentAt: time.Now()})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			if strings.Contains(err.Error(), c.cfg.Password) {
				t.Errorf("error holds the password: %v", err)
			}
		})
	}
}

// SendTest reaches every sink and says which failed.
func TestSendTest(t *testing.T) {
	mailSrv, mailCfg := mailServer(t, false)
	hook := newHookSink(t, "k")
	email, _ := NewEmail(mailCfg, "jm@example.org", []string{"ops@example.org"})
	wh, _ := NewWebhook(hook.srv.URL, "k")
	dead, _ := NewWebhook("http://127.0.0.1:1/hook", "k")
	dead.Retry = Retry{Attempts: 1}
	n := New(Options{Sinks: []Sink{wh, email}, Routes: map[string]Route{"wf": {Sinks: []Sink{dead}}}})
	res := n.SendTest(context.Background())
	if len(res) != 3 || res[0].Error != "" || res[1].Error != "" || res[2].Error == "" || res[2].Workflows[0] != "wf" {
		t.Fatalf("results = %+v", res)
	}
	if len(hook.messages()) != 1 || hook.messages()[0].Status != Testing || len(mailSrv.Messages()) != 1 {
		t.Fatalf("test deliveries: %d webhooks, %d mails", len(hook.messages()), len(mailSrv.Messages()))
	}
	_, body := mailText(t, mailSrv.Messages()[0])
	containsAll(t, "test mail", body, "test notification")
	if got := n.Sinks(); got[0].Target != hook.srv.URL+"/…" || got[1].Kind != "email" {
		t.Errorf("sinks = %+v", got)
	}
}

func TestParseSMTPURL(t *testing.T) {
	cases := []struct {
		in   string
		want SMTP
		err  string
	}{
		{"smtp://u:p%40ss@mail.example.org", SMTP{Host: "mail.example.org", Port: 587, Username: "u", Password: "p@ss"}, ""},
		{"smtps://u:p@mail.example.org", SMTP{Host: "mail.example.org", Port: 465, Username: "u", Password: "p", Implicit: true}, ""},
		{"smtp://relay:25", SMTP{Host: "relay", Port: 25}, ""},
		{"http://u:p@x", SMTP{}, "scheme"},
		{"smtp://u@x", SMTP{}, "no password"},
		{"smtp://:99999", SMTP{}, "no host"},
	}
	for _, c := range cases {
		got, err := ParseSMTPURL(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: %+v %v", c.in, got, err)
		}
	}
}

// A sink that is down never blocks Report: its outbox drops the oldest.
func TestSlowSinkNeverBlocks(t *testing.T) {
	block := make(chan struct{})
	s := &funcSink{send: func(ctx context.Context, m Message) error { <-block; return nil }}
	n := New(Options{Sinks: []Sink{s}, Window: time.Nanosecond, Outbox: 2})
	n.Start(context.Background())
	done := make(chan struct{})
	go func() {
		for i := 0; i < 200; i++ {
			n.Report(Event{Kind: RunFailed, Workflow: fmt.Sprintf("wf%d", i), Error: "x"})
			n.flushDue()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Report blocked behind a stuck sink")
	}
	close(block)
	n.Stop(context.Background())
}

type funcSink struct {
	send func(context.Context, Message) error
}

func (f *funcSink) Kind() string                              { return "func" }
func (f *funcSink) Target() string                            { return "func" }
func (f *funcSink) Send(ctx context.Context, m Message) error { return f.send(ctx, m) }
