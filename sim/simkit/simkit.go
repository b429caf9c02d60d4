// Package simkit is the scaffolding the simulators under sim/ share: starting
// and stopping a plain-HTTP listener, fault injection (fail the next n
// requests, drop connections, add latency), a clock that tests can move
// forward, Basic-auth parsing with constant-time password checks, and
// masking of recorded requests. Each simulator keeps what makes it faithful
// (its error bodies, auth schemes and routes); what was copied four times
// lives here once.
package simkit

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jobmediator/jobmediator/internal/redact"
)

// DefaultAddr is where a simulator listens unless told otherwise: a free
// port of the loopback interface, so parallel tests never collide.
const DefaultAddr = "127.0.0.1:0"

// Listener is a running plain-HTTP server.
type Listener struct {
	srv *http.Server
	url string
}

// Listen serves h on addr (DefaultAddr when empty). name prefixes errors
// ("dhis2 sim: listen: …") so a port clash names the simulator.
func Listen(name, addr string, h http.Handler) (*Listener, error) {
	if addr == "" {
		addr = DefaultAddr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s sim: listen: %w", name, err)
	}
	l := &Listener{
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second},
		url: "http://" + ln.Addr().String(),
	}
	go func() {
		// Serve returns ErrServerClosed after Close; nothing else is
		// expected from a loopback listener, and a test sees a refused
		// connection if it happens.
		_ = l.srv.Serve(ln)
	}()
	return l, nil
}

// URL is the origin, e.g. http://127.0.0.1:41234. Empty on a nil Listener
// (a simulator that was never started).
func (l *Listener) URL() string {
	if l == nil {
		return ""
	}
	return l.url
}

// Close stops serving and drops open connections (a simulator going away
// mid-request is a fault clients must survive too). Safe on nil.
func (l *Listener) Close() {
	if l == nil {
		return
	}
	_ = l.srv.Close()
}

// Fault is what Faults.Next decided for one request. The zero value means
// "serve normally".
type Fault struct {
	Status int    // answer this status without processing the request
	Body   string // literal body for Status (empty: the simulator's own error page)
	Drop   bool   // cut the response off mid-body and close the connection
}

// Faults injects failures. The zero value injects none; all methods are
// safe for concurrent use.
type Faults struct {
	mu       sync.Mutex
	failN    int
	failCode int
	failBody string
	dropN    int
	latency  time.Duration
}

// FailNext makes the next n requests answer status without being processed.
func (f *Faults) FailNext(n, status int) { f.FailNextWithBody(n, status, "") }

// FailNextWithBody is FailNext with a literal body (e.g. malformed JSON).
func (f *Faults) FailNextWithBody(n, status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failN, f.failCode, f.failBody = n, status, body
}

// DropNext makes the next n requests (after any FailNext ones) get a
// truncated response and a closed connection.
func (f *Faults) DropNext(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dropN = n
}

// SetLatency delays every response by d (or until the client gives up).
func (f *Faults) SetLatency(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.latency = d
}

// Next takes the fault for one request and waits out the latency. It
// returns false when the client went away while waiting: the caller then
// writes nothing.
func (f *Faults) Next(ctx context.Context) (Fault, bool) {
	f.mu.Lock()
	var ft Fault
	switch {
	case f.failN > 0:
		f.failN--
		ft = Fault{Status: f.failCode, Body: f.failBody}
	case f.dropN > 0:
		f.dropN--
		ft = Fault{Drop: true}
	}
	latency := f.latency
	f.mu.Unlock()
	if latency > 0 {
		t := time.NewTimer(latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ft, false
		}
	}
	return ft, true
}

// RetryAfter sets Retry-After: 1 on the statuses that invite a retry (429,
// 503), as real servers and proxies do.
func RetryAfter(w http.ResponseWriter, code int) {
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
}

// IsProxyStatus reports whether a reverse proxy in front of the system
// would answer code itself (502, 503, 504) with its HTML page.
func IsProxyStatus(code int) bool {
	return code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

// WriteProxyPage writes the HTML error page nginx sends for code; server is
// the footer ("nginx", "nginx/1.10.2"). Clients must cope with a non-JSON
// body on these statuses.
func WriteProxyPage(w http.ResponseWriter, code int, server string) {
	RetryAfter(w, code)
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(code)
	txt := http.StatusText(code)
	fmt.Fprintf(w, "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1></center>\r\n<hr><center>%s</center>\r\n</body>\r\n</html>\r\n",
		code, txt, code, txt, server)
}

// Clock is a wall clock (or a test's) that AdvanceClock can move forward,
// for token expiry and "since" windows without sleeping. Safe for
// concurrent use.
type Clock struct {
	mu     sync.Mutex
	base   func() time.Time
	offset time.Duration
}

// NewClock reads base (time.Now when nil) plus the offset.
func NewClock(base func() time.Time) *Clock {
	if base == nil {
		base = time.Now
	}
	return &Clock{base: base}
}

// Now is the simulated time, in UTC.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.base().Add(c.offset).UTC()
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// ErrNoBasic is returned by BasicAuth for a missing, non-Basic or
// malformed Authorization header.
var ErrNoBasic = errors.New("no Basic credentials")

// BasicAuth reads "Authorization: Basic base64(user:password)". Unlike
// http.Request.BasicAuth it takes the header value, so simulators that
// first switch on the scheme can reuse it.
func BasicAuth(header string) (user, password string, err error) {
	scheme, cred, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "basic") {
		return "", "", ErrNoBasic
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return "", "", ErrNoBasic
	}
	user, password, ok = strings.Cut(string(raw), ":")
	if !ok {
		return "", "", ErrNoBasic
	}
	return user, password, nil
}

// PasswordOK compares a presented secret with the stored one in constant
// time; an empty presented secret never matches.
func PasswordOK(stored, presented string) bool {
	return presented != "" && subtle.ConstantTimeCompare([]byte(stored), []byte(presented)) == 1
}

// MaskHeader returns a copy of h with every secret red knows scrubbed and
// the Authorization credentials replaced by the mask (the scheme stays, so
// a test can still tell Basic from Bearer).
func MaskHeader(red *redact.Redactor, h http.Header) http.Header {
	out := red.Header(h.Clone())
	if a := h.Get("Authorization"); a != "" {
		scheme, _, _ := strings.Cut(a, " ")
		out.Set("Authorization", scheme+" "+redact.Mask)
	}
	return out
}
