package notify

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/internal/testpki"
	smtpsim "github.com/jobmediator/jobmediator/sim/smtp"
)

// flushDue tells every incident that is due by the notifier's clock.
func (n *Notifier) flushDue() {
	n.mu.Lock()
	n.flushLocked(n.o.Now())
	n.mu.Unlock()
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// hookSink is an HTTP receiver that checks signatures like a real
// consumer would and keeps what verified.
type hookSink struct {
	srv    *httptest.Server
	secret string

	mu       sync.Mutex
	got      []Message
	raw      []string
	bad      int
	fail     int // answer 503 to this many requests first
	arrived  chan struct{}
	requests int
}

func newHookSink(t *testing.T, secret string) *hookSink {
	h := &hookSink{secret: secret, arrived: make(chan struct{}, 10000)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.requests++
		if h.fail > 0 {
			h.fail--
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if r.Header.Get("Content-Type") != "application/json" || !Verify(h.secret, body, r.Header.Get(SignatureHeader)) {
			h.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var m Message
		if err := json.Unmarshal(body, &m); err != nil {
			h.bad++
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		h.got = append(h.got, m)
		h.raw = append(h.raw, string(body))
		w.WriteHeader(http.StatusNoContent)
		h.arrived <- struct{}{}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookSink) messages() []Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Message(nil), h.got...)
}

// waitFor blocks until n verified messages arrived (or fails the test).
func (h *hookSink) waitFor(t *testing.T, n int) []Message {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for len(h.messages()) < n {
		select {
		case <-h.arrived:
		case <-deadline:
			t.Fatalf("webhook sink: %d messages after 20s, want %d", len(h.messages()), n)
		}
	}
	return h.messages()
}

// mailServer starts the test SMTP server with STARTTLS and AUTH, and a
// mail server config trusting its certificate.
func mailServer(t *testing.T, implicit bool) (*smtpsim.Server, SMTP) {
	t.Helper()
	ca, err := testpki.NewCA("notify test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Server("mail", "127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := smtpsim.Start(smtpsim.Options{
		TLS: &tls.Config{Certificates: []tls.Certificate{leaf.TLS}}, Implicit: implicit,
		Username: "alerts@example.org", Password: "s3cret-smtp-pass",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	scheme := "smtp"
	if implicit {
		scheme = "smtps"
	}
	cfg, err := ParseSMTPURL(scheme + "://alerts%40example.org:s3cret-smtp-pass@" + srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	cfg.RootCAs = ca.Pool()
	cfg.Timeout = 10 * time.Second
	return srv, cfg
}

// mailText is a received mail's subject and decoded body.
func mailText(t *testing.T, m smtpsim.Message) (subject, body string) {
	t.Helper()
	pm, err := m.Parsed()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(pm.Body)
	dec, err := decodeQP(b)
	if err != nil {
		t.Fatal(err)
	}
	return pm.Header.Get("Subject"), dec
}

func fastRetry() Retry {
	return Retry{Attempts: 4, Backoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
}

func containsAll(t *testing.T, what, s string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Errorf("%s does not contain %q:\n%s", what, p, s)
		}
	}
}
