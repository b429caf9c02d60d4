// Package mediator is everything Job Mediator says to and hears from OpenHIM
// core: the wire types (mediator response envelope, orchestrations,
// registration document), the API client (Basic and legacy token auth, CA
// bundle or self-signed TLS), registration, heartbeat with config reload, and
// the transaction context OpenHIM puts in routed request headers.
//
// It knows nothing about JavaScript: runs reach it as recorded exchanges and
// a status.
package mediator

import (
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jobmediator/jobmediator/adaptors/recorder"
)

// ContentType marks a mediator response. Core detects it with a
// case-sensitive substring match (openhim.md §4.4), so it is written exactly.
const ContentType = "application/json+openhim"

// Transaction statuses core understands (openhim.md §5.1).
const (
	StatusProcessing        = "Processing"
	StatusSuccessful        = "Successful"
	StatusCompleted         = "Completed"
	StatusCompletedWithErrs = "Completed with error(s)"
	StatusFailed            = "Failed"
	StatusPendingAsync      = "Pending Async"
)

// Response is the application/json+openhim envelope.
type Response struct {
	URN            string            `json:"x-mediator-urn"`
	Status         string            `json:"status,omitempty"`
	Response       ClientResponse    `json:"response"`
	Orchestrations []Orchestration   `json:"orchestrations,omitempty"`
	Properties     map[string]string `json:"properties,omitempty"`
	Error          *Error            `json:"error,omitempty"`
}

// ClientResponse is what core returns to its client. Body is always a string
// (an object would be stored as "[object Object]", §5.1) and Timestamp is
// always set (without it the transaction drops out of core's metrics).
type ClientResponse struct {
	Status    int               `json:"status"`
	Headers   map[string]string `json:"headers"`
	Body      string            `json:"body"`
	Timestamp time.Time         `json:"timestamp"`
}

// Orchestration is one call the mediator made while handling a transaction.
type Orchestration struct {
	Name     string        `json:"name"`
	Group    string        `json:"group,omitempty"`
	Request  *OrchRequest  `json:"request,omitempty"`
	Response *OrchResponse `json:"response,omitempty"`
	Error    *Error        `json:"error,omitempty"`
}

// OrchRequest is the request of an orchestration; Timestamp is required by
// core's schema whenever a request is present.
type OrchRequest struct {
	Host        string            `json:"host,omitempty"`
	Port        string            `json:"port,omitempty"`
	Path        string            `json:"path,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
	Querystring string            `json:"querystring,omitempty"`
	Body        string            `json:"body,omitempty"`
	Method      string            `json:"method,omitempty"`
	Timestamp   time.Time         `json:"timestamp"`
}

// OrchResponse is the response of an orchestration.
type OrchResponse struct {
	Status    int               `json:"status"`
	Headers   map[string]string `json:"headers,omitempty"`
	Body      string            `json:"body,omitempty"`
	Timestamp time.Time         `json:"timestamp"`
}

// Error is core's {message, stack} sub-document; it must be an object.
type Error struct {
	Message string `json:"message"`
	Stack   string `json:"stack,omitempty"`
}

// FromExchange turns a recorded (already redacted) exchange into an
// orchestration. Header names containing dots are rewritten, because core
// stores orchestration headers as Mongo sub-documents without escaping them.
func FromExchange(ex recorder.Exchange) Orchestration {
	o := Orchestration{Name: ex.Name}
	req := &OrchRequest{Method: ex.Request.Method, Body: ex.Request.Body, Timestamp: ex.Request.Time.UTC(),
		Headers: flatHeaders(ex.Request.Header)}
	if u, err := url.Parse(ex.Request.URL); err == nil && u.Host != "" {
		req.Host = u.Hostname()
		req.Port = u.Port()
		if req.Port == "" {
			if u.Scheme == "https" {
				req.Port = "443"
			} else if u.Scheme == "http" {
				req.Port = "80"
			}
		}
		req.Path = u.EscapedPath()
		req.Querystring = u.RawQuery
	} else {
		req.Path = ex.Request.URL
	}
	o.Request = req
	if ex.Response != nil {
		o.Response = &OrchResponse{Status: ex.Response.Status, Headers: flatHeaders(ex.Response.Header),
			Body: ex.Response.Body, Timestamp: ex.Response.Time.UTC()}
	}
	if ex.Error != "" {
		o.Error = &Error{Message: ex.Error}
	}
	return o
}

// headerKeyNoise: MongoDB field names cannot hold "." or start with "$",
// and core stores orchestration headers as fields.
var headerKeyNoise = strings.NewReplacer(".", "_", "$", "_")

func flatHeaders(h http.Header) map[string]string {
	if len(h) == 0 {
		return nil
	}
	out := make(map[string]string, len(h))
	for k, vs := range h {
		k = headerKeyNoise.Replace(strings.ToLower(k))
		out[k] = strings.Join(vs, ", ")
	}
	return out
}

// DeriveStatus is the status for a response the mediator did not classify
// itself, following the Java engine's rule (openhim.md §5.3): 5xx Failed,
// 4xx Completed, 2xx with a failed orchestration Completed with error(s),
// otherwise Successful.
func DeriveStatus(clientStatus int, orchs []Orchestration) string {
	switch {
	case clientStatus >= 500:
		return StatusFailed
	case clientStatus >= 400:
		return StatusCompleted
	}
	for _, o := range orchs {
		if o.Error != nil || (o.Response != nil && o.Response.Status >= 400) {
			return StatusCompletedWithErrs
		}
	}
	if clientStatus >= 300 {
		return StatusCompleted
	}
	return StatusSuccessful
}

// TxContext is what OpenHIM tells the mediator about a routed transaction,
// read from the headers core adds (openhim.md §4.3, §4.6, §6.3).
type TxContext struct {
	TransactionID string `json:"transactionId,omitempty"`
	ParentID      string `json:"parentId,omitempty"`  // set on reruns: the original transaction
	TaskID        string `json:"taskId,omitempty"`    // set on reruns
	ClientID      string `json:"clientId,omitempty"`  // X-OpenHIM-ClientID, or clientid on reruns
	ChannelID     string `json:"channelId,omitempty"` // polling triggers
	// LastRunAt is the polling trigger's x-openhim-lastrunat as sent (a JS
	// Date.toString() of the *current* run's start), and LastRunAtTime its
	// parsed value when it parses.
	LastRunAt     string     `json:"lastRunAt,omitempty"`
	LastRunAtTime *time.Time `json:"lastRunAtTime,omitempty"`
}

// Routed reports whether the request came through OpenHIM core.
func (t TxContext) Routed() bool { return t.TransactionID != "" }

// Rerun reports whether the request is a console/API rerun.
func (t TxContext) Rerun() bool { return t.ParentID != "" }

// TxFromRequest reads the transaction context. Header lookups are
// case-insensitive, which matters because reruns and polling triggers arrive
// with lower-cased names.
func TxFromRequest(r *http.Request) TxContext {
	h := r.Header
	t := TxContext{
		TransactionID: header(h, hTransactionID),
		ParentID:      header(h, hParentID),
		TaskID:        header(h, hTaskID),
		ClientID:      firstNonEmpty(header(h, hClientID), header(h, hRerunClientID)),
		ChannelID:     header(h, hChannelID),
		LastRunAt:     header(h, hLastRunAt),
	}
	if t.LastRunAt != "" {
		if ts, ok := ParseJSDate(t.LastRunAt); ok {
			t.LastRunAtTime = &ts
		}
	}
	return t
}

// The transaction headers' canonical names, worked out once: Header.Get
// canonicalises its key on every call, and none of these is written
// canonically, so each lookup of every routed request allocated.
var (
	hTransactionID = textproto.CanonicalMIMEHeaderKey("X-OpenHIM-TransactionID")
	hParentID      = textproto.CanonicalMIMEHeaderKey("parentid")
	hTaskID        = textproto.CanonicalMIMEHeaderKey("taskid")
	hClientID      = textproto.CanonicalMIMEHeaderKey("X-OpenHIM-ClientID")
	hRerunClientID = textproto.CanonicalMIMEHeaderKey("clientid")
	hChannelID     = textproto.CanonicalMIMEHeaderKey("channel-id")
	hLastRunAt     = textproto.CanonicalMIMEHeaderKey("X-OpenHIM-LastRunAt")
)

// header is h.Get for a key already in canonical form.
func header(h http.Header, canonical string) string {
	if v := h[canonical]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// ParseJSDate parses the date forms core sends or stores: JS
// Date.prototype.toString() ("Thu Dec 05 2024 09:58:24 GMT+0000 (Coordinated
// Universal Time)"), RFC 3339, and epoch milliseconds.
func ParseJSDate(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, " ("); i > 0 {
		s = s[:i]
	}
	for _, layout := range []string{"Mon Jan 02 2006 15:04:05 GMT-0700", time.RFC3339Nano, "2006-01-02T15:04:05.000Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), true
	}
	return time.Time{}, false
}
