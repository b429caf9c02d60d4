package e2e

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/internal/testpki"
	"github.com/jobmediator/jobmediator/notify"
	"github.com/jobmediator/jobmediator/sim/openhim"
	smtpsim "github.com/jobmediator/jobmediator/sim/smtp"
)

// signedSink receives notification webhooks and keeps those whose
// signature verifies.
type signedSink struct {
	srv      *httptest.Server
	mu       sync.Mutex
	got      []notify.Message
	raw      []string
	unsigned int
}

func newSignedSink(t *testing.T, secret string) *signedSink {
	s := &signedSink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		defer s.mu.Unlock()
		var m notify.Message
		if !notify.Verify(secret, body, r.Header.Get(notify.SignatureHeader)) || json.Unmarshal(body, &m) != nil {
			s.unsigned++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		s.got = append(s.got, m)
		s.raw = append(s.raw, string(body))
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *signedSink) messages() []notify.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]notify.Message(nil), s.got...)
}

// Done when, first half: an operator sets an SMTP URL and a webhook, breaks
// an upstream and receives one email and one signed webhook naming the
// workflow and the error, then a "resolved" when it heals.
func TestBrokenUpstreamNotifiesOnceThenResolves(t *testing.T) {
	const storm = 1000
	const (
		smtpPW     = "smtp-Pass-e2e-91"
		hookSecret = "hook-Secret-e2e-37"
	)
	ca, err := testpki.NewCA("mail CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Server("mail", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	mail, err := smtpsim.Start(smtpsim.Options{TLS: &tls.Config{Certificates: []tls.Certificate{leaf.TLS}},
		Username: "alerts", Password: smtpPW})
	if err != nil {
		t.Fatal(err)
	}
	defer mail.Close()
	caFile, _ := ca.Write(t.TempDir(), "mail-ca")
	hook := newSignedSink(t, hookSecret)

	up := newRecords(t)
	opts := filepath.Join(t.TempDir(), "jobmediator.yaml")
	os.WriteFile(opts, []byte("workflows:\n  hello-upstream:\n    path: /hello\n    retry: {max_attempts: 0}\n"), 0o644)
	p := start(t, map[string]string{
		"JM_PROJECT":               "../examples/hello-upstream",
		"JM_OPTIONS":               opts,
		"JM_CREDENTIALS":           exampleCredentials(t, up.srv.URL, upstreamPW),
		"JM_NOTIFY_WEBHOOK_URL":    hook.srv.URL + "/jm-alerts",
		"JM_NOTIFY_WEBHOOK_SECRET": hookSecret,
		"JM_SMTP_URL":              "smtp://alerts:" + url.QueryEscape(smtpPW) + "@" + mail.Addr(),
		"JM_SMTP_CA_FILE":          caFile,
		"JM_NOTIFY_EMAIL_FROM":     "Job Mediator <jm@example.org>",
		"JM_NOTIFY_EMAIL_TO":       "ops@example.org",
		"JM_NOTIFY_WINDOW":         "20s", // the storm takes a few seconds
		"JM_PUBLIC_URL":            "https://jm.example.org",
	})

	post := func(name string) int {
		resp, err := http.Post(p.URL()+"/hello", "application/json", strings.NewReader(`{"name":"`+name+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	up.mu.Lock()
	up.down = true
	up.mu.Unlock()
	// 1,000 failing runs, eight callers at a time.
	began := time.Now()
	var wg sync.WaitGroup
	var bad sync.Map
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < storm/8; i++ {
				if code := post("storm"); code < 500 {
					bad.Store(code, true)
				}
			}
		}()
	}
	wg.Wait()
	bad.Range(func(k, _ any) bool { t.Errorf("a run against a broken upstream answered %v", k); return true })
	t.Logf("%d failing runs took %v", storm, time.Since(began))
	waitFor(t, "the storm's webhook", 60*time.Second, func() bool { return len(hook.messages()) >= 1 })
	mails := mail.WaitFor(1, 60*time.Second)
	if len(mails) != 1 {
		t.Fatalf("%d mails for the storm, want 1", len(mails))
	}
	m := hook.messages()[0]
	if m.Status != notify.Firing || m.Event != notify.RunFailed || m.Workflow != "hello-upstream" || m.Count != storm ||
		!strings.Contains(m.LastError, "503") || m.RunsURL != "https://jm.example.org/console/runs?workflow=hello-upstream" {
		t.Fatalf("storm webhook = %+v", m)
	}
	subject, body := mailContent(t, mails[0])
	for _, want := range []string{"hello-upstream", "FAILING", fmt.Sprintf("%d times", storm)} {
		if !strings.Contains(subject, want) {
			t.Errorf("mail subject %q lacks %q", subject, want)
		}
	}
	if !strings.Contains(body, "503") || !strings.Contains(body, "hello-upstream") {
		t.Errorf("mail body lacks the workflow or the error:\n%s", body)
	}
	if !mails[0].TLS || mails[0].AuthUser != "alerts" {
		t.Errorf("mail went without STARTTLS/AUTH: tls=%v auth=%q", mails[0].TLS, mails[0].AuthUser)
	}

	// The upstream heals; the next run succeeds and closes the incident.
	up.mu.Lock()
	up.down = false
	up.mu.Unlock()
	if code := post("healed"); code != 200 {
		t.Fatalf("healed run answered %d", code)
	}
	waitFor(t, "the resolved webhook", 30*time.Second, func() bool { return len(hook.messages()) >= 2 })
	mails = mail.WaitFor(2, 30*time.Second)
	if r := hook.messages()[1]; r.Status != notify.Resolved || r.Workflow != "hello-upstream" || r.Total != storm {
		t.Fatalf("resolved webhook = %+v", r)
	}
	if subject, _ := mailContent(t, mails[1]); !strings.Contains(subject, "RESOLVED") {
		t.Fatalf("second mail subject %q", subject)
	}

	if err := p.stop(t); err != nil {
		t.Fatal(err)
	}
	if n, k := len(hook.messages()), len(mail.Messages()); n != 2 || k != 2 || hook.unsigned != 0 {
		t.Fatalf("after the storm and its recovery: %d webhooks (%d unsigned), %d mails; want 2 and 2", n, hook.unsigned, k)
	}
	// No secret in any encoding in what was sent or logged.
	var sent strings.Builder
	sent.WriteString(p.Logs())
	sent.WriteString(strings.Join(hook.raw, "\n"))
	for _, ml := range mail.Messages() {
		sent.Write(ml.Data)
	}
	for _, secret := range []string{smtpPW, hookSecret, upstreamPW} {
		for _, enc := range []string{secret, url.QueryEscape(secret), base64.StdEncoding.EncodeToString([]byte(secret))} {
			if strings.Contains(sent.String(), enc) {
				t.Errorf("secret leaked as %q", enc)
			}
		}
	}
}

func mailContent(t *testing.T, m smtpsim.Message) (subject, body string) {
	t.Helper()
	pm, err := m.Parsed()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(quotedprintable.NewReader(pm.Body))
	return pm.Header.Get("Subject"), string(b)
}

// Done when, second half: a direct webhook with API keys rejects
// strangers; the mediator serves HTTPS and accepts OpenHIM core by its
// client certificate on a secured route; certificates reload on SIGHUP.
func TestHTTPSClientCertificatesAndInbox(t *testing.T) {
	ca, _ := testpki.NewCA("mediator CA")
	stranger, _ := testpki.NewCA("stranger CA")
	server, _ := ca.Server("jobmediator", "127.0.0.1")
	coreCert, _ := ca.Client("openhim-core")
	intruder, _ := stranger.Client("openhim-core")
	dir := t.TempDir()
	certFile, keyFile, _ := server.Write(dir, "server")
	caFile, _ := ca.Write(dir, "clients")

	const apiKey = "ak-partner-e2e-5521"
	opts := filepath.Join(dir, "jobmediator.yaml")
	os.WriteFile(opts, []byte("workflows:\n  hello-upstream:\n    path: /hello\n    retry: {max_attempts: 0}\n    inbox: [{type: api_key, credential: partner}]\n"), 0o644)

	client := func(cert *testpki.Leaf) *http.Client {
		c := &tls.Config{RootCAs: ca.Pool()}
		if cert != nil {
			c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert.TLS, nil }
		}
		return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: c}}
	}
	routeTLS := &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{coreCert.TLS}}
	up := newRecords(t)
	creds := exampleCredentials(t, up.srv.URL, upstreamPW)
	cb, _ := os.ReadFile(creds)
	os.WriteFile(creds, append(cb, []byte("partner:\n  key: "+apiKey+"\n")...), 0o600)
	core, _, p := mediatorWithCoreTLS(t, map[string]string{
		"JM_OPTIONS": opts, "JM_CREDENTIALS": creds,
		"TLS_CERT_FILE": certFile, "TLS_KEY_FILE": keyFile, "TLS_CLIENT_CA_FILE": caFile,
	}, client(nil), routeTLS)

	// OpenHIM core routes over a secured route and shows its certificate.
	med, _ := core.Mediator("urn:mediator:jobmediator")
	chans, _ := json.Marshal(med["defaultChannelConfig"])
	if !strings.Contains(string(chans), `"secured":true`) {
		t.Fatalf("with TLS on, the default channel's route must be secured: %s", chans)
	}
	resp, body := route(t, core, "/hello", `{"name":"via core"}`)
	if resp.StatusCode != 200 || !strings.Contains(body, `"stored":true`) {
		t.Fatalf("routed over mTLS: %d %s", resp.StatusCode, body)
	}

	post := func(c *http.Client, headers map[string]string) (int, error) {
		req, _ := http.NewRequest(http.MethodPost, p.URL()+"/hello", strings.NewReader(`{"name":"direct"}`))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		r, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		r.Body.Close()
		return r.StatusCode, nil
	}
	cases := []struct {
		name    string
		c       *http.Client
		headers map[string]string
		status  int
		handErr bool
	}{
		{"core's certificate", client(coreCert), nil, 200, false},
		{"no certificate, no key", client(nil), nil, 401, false},
		{"no certificate, the partner's key", client(nil), map[string]string{"x-api-key": apiKey}, 200, false},
		{"no certificate, a wrong key", client(nil), map[string]string{"x-api-key": "ak-guess"}, 404, false},
		{"a certificate from another CA", client(intruder), map[string]string{"x-api-key": apiKey}, 0, true},
	}
	for _, c := range cases {
		code, err := post(c.c, c.headers)
		if c.handErr {
			if err == nil {
				t.Errorf("%s: the handshake succeeded (%d)", c.name, code)
			}
			continue
		}
		if err != nil || code != c.status {
			t.Errorf("%s: %d %v, want %d", c.name, code, err, c.status)
		}
	}
	// The image's HEALTHCHECK (jobmediator healthcheck) speaks HTTPS too.
	hc := exec.Command(binary, "healthcheck", "--path", "/healthz")
	hc.Env = []string{"SERVER_PORT=" + strconv.Itoa(p.port), "TLS_CERT_FILE=" + certFile}
	if out, err := hc.CombinedOutput(); err != nil {
		t.Fatalf("healthcheck over HTTPS: %v %s", err, out)
	}
	// Plain HTTP on the HTTPS port is refused.
	if r, err := http.Get(strings.Replace(p.URL(), "https", "http", 1) + "/healthz"); err == nil {
		r.Body.Close()
		if r.StatusCode == 200 {
			t.Error("plain HTTP answered 200 on the HTTPS port")
		}
	}

	// A renewed certificate is served after SIGHUP, the process keeps going.
	renewed, _ := ca.Server("jobmediator-renewed", "127.0.0.1")
	os.WriteFile(certFile, renewed.CertPEM, 0o600)
	os.WriteFile(keyFile, renewed.KeyPEM, 0o600)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the renewed certificate", 20*time.Second, func() bool {
		conn, err := tls.Dial("tcp", strings.TrimPrefix(p.URL(), "https://"), &tls.Config{RootCAs: ca.Pool()})
		if err != nil {
			return false
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName == "jobmediator-renewed"
	})
	if code, err := post(client(nil), map[string]string{"x-api-key": apiKey}); err != nil || code != 200 {
		t.Fatalf("after the reload: %d %v", code, err)
	}
	if strings.Contains(p.Logs(), apiKey) {
		t.Error("the API key is in the logs")
	}
}

// switchable is a reverse proxy in front of core's API that can be taken
// down (503) and brought back, as a core restart or a network cut would.
type switchable struct {
	srv  *httptest.Server
	mu   sync.Mutex
	down bool
}

func newSwitchable(t *testing.T, target string) *switchable {
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	s := &switchable{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		down := s.down
		s.mu.Unlock()
		if down {
			http.Error(w, "core is restarting", http.StatusServiceUnavailable)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *switchable) set(down bool) { s.mu.Lock(); s.down = down; s.mu.Unlock() }

// Queued work that gives up is one dead_letter message (not a run_failed
// per attempt), resolved by the next good run; core lost is an openhim
// message, resolved once heartbeats are accepted again.
func TestDeadLettersAndOpenHIMLost(t *testing.T) {
	const hookSecret = "hook-Secret-e2e-52"
	hook := newSignedSink(t, hookSecret)
	core := openhim.New(openhim.Options{DisablePolling: true})
	if err := core.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(core.Close)
	api := newSwitchable(t, core.APIURL())
	up := newRecords(t)
	opts := filepath.Join(t.TempDir(), "jobmediator.yaml")
	os.WriteFile(opts, []byte("workflows:\n  hello-upstream:\n    path: /hello\n    retry: {max_attempts: 2, initial_backoff: 200ms, max_backoff: 200ms}\n"), 0o644)
	p := start(t, map[string]string{
		"JM_PROJECT": "../examples/hello-upstream", "JM_OPTIONS": opts,
		"JM_CREDENTIALS":        exampleCredentials(t, up.srv.URL, upstreamPW),
		"OPENHIM_URL":           api.srv.URL,
		"OPENHIM_USERNAME":      openhim.RootEmail,
		"OPENHIM_PASSWORD":      openhim.RootPassword,
		"MEDIATOR_HOST":         "127.0.0.1",
		"HEARTBEAT_INTERVAL":    "1s",
		"JM_NOTIFY_WEBHOOK_URL": hook.srv.URL, "JM_NOTIFY_WEBHOOK_SECRET": hookSecret,
		"JM_NOTIFY_WINDOW": "1s",
	})
	waitReady(t, p)
	post := func() int {
		resp, err := http.Post(p.URL()+"/hello", "application/json", strings.NewReader(`{"name":"q"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	kinds := func() []string {
		var out []string
		for _, m := range hook.messages() {
			out = append(out, string(m.Status)+" "+string(m.Event))
		}
		return out
	}

	up.mu.Lock()
	up.down = true
	up.mu.Unlock()
	if code := post(); code != http.StatusBadGateway {
		t.Fatalf("first attempt answered %d", code)
	}
	waitFor(t, "the dead_letter message", 30*time.Second, func() bool { return len(hook.messages()) >= 1 })
	if m := hook.messages()[0]; m.Event != notify.DeadLetter || m.Workflow != "hello-upstream" || !strings.Contains(m.LastError, "gave up after 2 attempts") {
		t.Fatalf("first message = %+v", m)
	}
	up.mu.Lock()
	up.down = false
	up.mu.Unlock()
	if code := post(); code != 200 {
		t.Fatalf("healed run answered %d", code)
	}
	waitFor(t, "dead_letter resolved", 30*time.Second, func() bool { return len(hook.messages()) >= 2 })

	api.set(true)
	waitFor(t, "the openhim message", 30*time.Second, func() bool { return len(hook.messages()) >= 3 })
	api.set(false)
	waitFor(t, "openhim resolved", 30*time.Second, func() bool { return len(hook.messages()) >= 4 })
	if err := p.stop(t); err != nil {
		t.Fatal(err)
	}
	want := []string{"firing dead_letter", "resolved dead_letter", "firing openhim", "resolved openhim"}
	if got := kinds(); strings.Join(got, "|") != strings.Join(want, "|") || hook.unsigned != 0 {
		t.Fatalf("messages %v (%d unsigned), want %v", got, hook.unsigned, want)
	}
	if strings.Contains(strings.Join(hook.raw, ""), openhim.RootPassword) {
		t.Fatal("core's password in a notification")
	}
}
