// Package recorder is the one way out for adaptors: an HTTP client that
// records every exchange, redacted, so it can become an OpenHIM orchestration
// and a line of run history.
package recorder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jobmediator/jobmediator/internal/redact"
)

// Exchange is one outbound call made by an adaptor, already redacted. The
// mediator turns each into an OpenHIM orchestration; the store keeps them in
// run history. Non-HTTP adaptors (SQL) record exchanges too, with Method set
// to the operation ("SQL") and URL to the target.
type Exchange struct {
	Name     string
	Step     string
	Request  ExchangeRequest
	Response *ExchangeResponse // nil when no response arrived
	Error    string            // transport error, "" if a response arrived
}

// ExchangeRequest is the request half of an Exchange.
type ExchangeRequest struct {
	Method string
	URL    string
	Header http.Header
	Body   string
	Time   time.Time
}

// ExchangeResponse is the response half of an Exchange.
type ExchangeResponse struct {
	Status int
	Header http.Header
	Body   string
	Time   time.Time
}

// DefaultMaxRecordedBody caps each body kept in an exchange. OpenHIM keeps at
// most 15 MiB per transaction in total, and big orchestration bodies make the
// console unusable (ecosystem.md §2 #10).
const DefaultMaxRecordedBody = 64 << 10

// Recorder collects a run's exchanges. It is safe for concurrent use.
type Recorder struct {
	mu        sync.Mutex
	exchanges []Exchange
	red       *redact.Redactor
	maxBody   int
	props     map[string]string
	// OnAdd, when set, sees every exchange as it is recorded (already
	// redacted): a run in a worker process streams its orchestrations to
	// the mediator, so they survive the worker dying mid-run.
	OnAdd func(Exchange)
}

// NewRecorder returns a recorder that redacts with red (nil: defaults only).
func NewRecorder(red *redact.Redactor) *Recorder {
	if red == nil {
		red = redact.New()
	}
	return &Recorder{red: red, maxBody: DefaultMaxRecordedBody}
}

// Redactor returns the redactor the recorder applies.
func (r *Recorder) Redactor() *redact.Redactor { return r.red }

// Add records an exchange after redacting URL, headers, bodies and error.
func (r *Recorder) Add(ex Exchange) {
	ex.Request.URL = r.red.URL(ex.Request.URL)
	ex.Request.Header = r.red.Header(ex.Request.Header)
	ex.Request.Body = r.body(ex.Request.Header.Get("Content-Type"), ex.Request.Body)
	if ex.Response != nil {
		resp := *ex.Response
		resp.Header = r.red.Header(resp.Header)
		resp.Body = r.body(resp.Header.Get("Content-Type"), resp.Body)
		ex.Response = &resp
	}
	ex.Error = r.red.String(ex.Error)
	r.AddRedacted(ex)
}

// AddRedacted records an exchange that was redacted already (by the same
// rules, in a worker process) without redacting it again.
func (r *Recorder) AddRedacted(ex Exchange) {
	r.mu.Lock()
	r.exchanges = append(r.exchanges, ex)
	r.mu.Unlock()
	if r.OnAdd != nil {
		r.OnAdd(ex)
	}
}

func (r *Recorder) body(ct, b string) string {
	if b == "" {
		return b
	}
	s := string(r.red.Body(ct, []byte(b)))
	if len(s) > r.maxBody {
		s = s[:r.maxBody] + fmt.Sprintf("\n[truncated %d bytes by jobmediator]", len(s)-r.maxBody)
	}
	return s
}

// Exchanges returns a copy of what was recorded, in order.
func (r *Recorder) Exchanges() []Exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Exchange(nil), r.exchanges...)
}

// SetProperty records a fact about the run for the OpenHIM transaction's
// properties (e.g. the DHIS2 import counts of the last import), so it is
// visible in the console without opening an orchestration body. Adaptors call
// it; the mediator merges Properties into the envelope. The value is
// redacted like everything else the recorder keeps.
func (r *Recorder) SetProperty(key, value string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.props == nil {
		r.props = map[string]string{}
	}
	r.props[key] = r.red.String(value)
}

// Properties returns a copy of the properties set so far (nil if none).
func (r *Recorder) Properties() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.props == nil {
		return nil
	}
	out := make(map[string]string, len(r.props))
	for k, v := range r.props {
		out[k] = v
	}
	return out
}

// Response is what Client.Do returns: the whole body is read, because jobs
// need it as state and the recorder needs it as an orchestration.
type Response struct {
	Status     int
	StatusText string
	Header     http.Header
	Body       []byte
	URL        string
	Duration   time.Duration
}

// NetError is a transport failure, coded like Node's errors (ECONNREFUSED,
// ETIMEDOUT, ECONNRESET, ENOTFOUND, EBODYTOOLARGE) because OpenFn jobs and our
// retry classification both look at the code.
type NetError struct {
	Code    string
	Message string
	URL     string
}

func (e *NetError) Error() string { return e.Message }

// Transient reports whether retrying could succeed.
func (e *NetError) Transient() bool { return e.Code != "EBODYTOOLARGE" && e.Code != "EINVALIDURL" }

// Client is the HTTP client all adaptors use. Every request is recorded.
type Client struct {
	HTTP    *http.Client
	Rec     *Recorder
	Timeout time.Duration // per request; default 300s like OpenFn's common request
	MaxBody int64         // response body cap; default 64 MiB
	Step    string        // prefixes orchestration names
	// CutOff, when set, is set if the caller's context ended while a
	// request was in flight (see adaptors.Run.CutOff).
	CutOff *atomic.Bool
	// Replay, when set, answers the first call made through this client
	// (or a copy of it) instead of sending it, and records nothing: the
	// call was sent and recorded already (see adaptors.NativeResult).
	Replay *Replay
}

// Replay is the outcome of a call already made: a response, or the
// transport error it ended in.
type Replay struct {
	Resp *Response
	Err  error
	used atomic.Bool
}

// Transport is the outbound transport adaptors share by default: Go's
// default transport settings, but keeping up to 128 idle connections per
// host. With the default 2, concurrent runs calling one busy upstream
// closed and redialled a connection on most calls.
var Transport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 512
	t.MaxIdleConnsPerHost = 128
	return t
}()

// NoRedirects is the redirect policy of every outbound client: a 3xx is
// the adaptor's answer to handle (and one orchestration), as in OpenFn's
// adaptors, whether the run is in a worker process, in the daemon or in
// `jobmediator run` — one policy, so JM_ISOLATION never changes what a job
// sees.
func NoRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// NewClient returns a client recording into rec (hc nil: a client on
// Transport that does not follow redirects).
func NewClient(hc *http.Client, rec *Recorder) *Client {
	if hc == nil {
		hc = &http.Client{Transport: Transport, CheckRedirect: NoRedirects}
	}
	return &Client{HTTP: hc, Rec: rec, Timeout: 300 * time.Second, MaxBody: 64 << 20}
}

// ForStep returns a shallow copy that names orchestrations after step.
func (c *Client) ForStep(step string) *Client {
	cp := *c
	cp.Step = step
	return &cp
}

// Do sends req (whose body, if any, is body) and records the exchange under
// name (e.g. "POST /api/dataValueSets"). Redirects are not followed unless the
// underlying http.Client does so.
func (c *Client) Do(ctx context.Context, name string, req *http.Request, body []byte) (*Response, error) {
	if r := c.Replay; r != nil && r.used.CompareAndSwap(false, true) {
		return r.Resp, r.Err
	}
	if c.CutOff != nil {
		defer func(caller context.Context) {
			if caller.Err() != nil {
				c.CutOff.Store(true)
			}
		}(ctx)
	}
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	req = req.WithContext(ctx)
	if body != nil {
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	orch := name
	if c.Step != "" {
		orch = c.Step + ": " + name
	}
	ex := Exchange{Name: orch, Step: c.Step, Request: ExchangeRequest{
		Method: req.Method, URL: req.URL.String(), Header: req.Header.Clone(), Body: string(body), Time: time.Now().UTC(),
	}}
	if ex.Request.Header == nil {
		ex.Request.Header = http.Header{}
	}
	start := time.Now()
	resp, err := c.HTTP.Do(req)
	if err != nil {
		ne := classify(err, req.URL)
		ex.Error = ne.Message
		c.record(ex)
		return nil, ne
	}
	defer resp.Body.Close()
	max := c.MaxBody
	if max <= 0 {
		max = 64 << 20
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err == nil && int64(len(data)) > max {
		err = &NetError{Code: "EBODYTOOLARGE", Message: fmt.Sprintf("%s %s: response body exceeds %d bytes", req.Method, req.URL.Redacted(), max)}
	}
	now := time.Now().UTC()
	ex.Response = &ExchangeResponse{Status: resp.StatusCode, Header: resp.Header.Clone(), Body: string(data), Time: now}
	if err != nil {
		var ne *NetError
		if !errors.As(err, &ne) {
			ne = classify(err, req.URL)
		}
		ex.Error = ne.Message
		c.record(ex)
		return nil, ne
	}
	c.record(ex)
	return &Response{
		Status: resp.StatusCode, StatusText: http.StatusText(resp.StatusCode), Header: resp.Header,
		Body: data, URL: req.URL.String(), Duration: time.Since(start),
	}, nil
}

func (c *Client) record(ex Exchange) {
	if c.Rec != nil {
		c.Rec.Add(ex)
	}
}

// classify maps Go transport errors onto Node-style codes.
func classify(err error, u *url.URL) *NetError {
	target := u.Redacted()
	code := "ECONNRESET"
	var dnsErr *net.DNSError
	var urlErr *url.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		code = "ETIMEDOUT"
	case errors.Is(err, context.Canceled):
		code = "ECANCELED"
	case errors.Is(err, syscall.ECONNREFUSED):
		code = "ECONNREFUSED"
	case errors.As(err, &dnsErr):
		code = "ENOTFOUND"
	case errors.As(err, &urlErr) && urlErr.Timeout():
		code = "ETIMEDOUT"
	case strings.Contains(err.Error(), "unsupported protocol scheme"):
		code = "EINVALIDURL"
	}
	msg := err.Error()
	if errors.As(err, &urlErr) {
		msg = urlErr.Err.Error()
	}
	switch code {
	case "ETIMEDOUT":
		msg = "request timed out"
	case "ECONNREFUSED":
		msg = "connection refused"
	}
	return &NetError{Code: code, Message: fmt.Sprintf("%s %s: %s (%s)", "request to", target, msg, code), URL: target}
}
