// Package fhir is an in-process simulator of a FHIR R4 server (JSON only),
// used by the tests of the fhir adaptor and of the examples. Production code
// never imports it.
//
// It is faithful where a client can tell the difference: content negotiation
// (415/406), the CRUD interactions with versioning headers (Location, ETag,
// Last-Modified, If-Match, Prefer), conditional create/update/delete with the
// 0/1/many rules, search with paging links that must be followed verbatim,
// transaction (atomic, R4 processing order, urn:uuid rewriting) and batch
// (independent entries) bundles, and errors that are always OperationOutcome
// with the status a real server (HAPI in its default, lenient-search mode)
// answers. Resources are parsed and validated with the project's fhir
// package, so the simulator rejects what that package rejects. Fault
// injection (FailNext, DropNext, SetLatency) lets client tests exercise
// retries and timeouts. The rules come from
// /work/shared/design/fhir-dhis2.md §2.
//
// Status choices (documented because servers differ):
//   - 400: unparsable JSON, anything fhir.Validate reports as an error
//     (unknown elements, wrong cardinality, bad codes, decimals beyond 18
//     digits, missing resourceType), resourceType/URL mismatch, id mismatch,
//     bad search syntax, unresolvable urn:uuid references, a transaction
//     touching one resource twice.
//   - 422: business rules on a structurally valid resource: with
//     Options.CheckReferences, a reference to a resource that does not exist
//     (code "processing").
//   - 412: If-Match mismatch (code "conflict") and conditional operations
//     matching several resources (code "multiple-matches").
//   - DELETE answers 204 (200 with an OperationOutcome under
//     Prefer: return=OperationOutcome), also for a missing resource.
package fhir

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jobmediator/jobmediator/fhir"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/sim/simkit"
)

// Options configure a Server. The zero value serves /fhir without auth,
// 10 resources per search page.
type Options struct {
	// Addr is where Start listens (default 127.0.0.1:0, a free port).
	Addr string
	// BaseURL is the path prefix of the FHIR base, default "/fhir"; "/"
	// serves at the root.
	BaseURL string
	// PageSize is the default search page size (default 10); _count
	// overrides it up to MaxPageSize.
	PageSize int
	// BearerTokens, when set, are accepted as "Authorization: Bearer <t>".
	BearerTokens []string
	// Users are accepted with Basic auth. If neither BearerTokens nor Users
	// is set, no authentication is required. GET /metadata is always public
	// (SMART servers must publish it unauthenticated).
	Users []User
	// Now is the clock (default time.Now); it stamps meta.lastUpdated.
	Now func() time.Time
	// CheckReferences makes writes fail with 422 when a relative reference
	// (Type/id) names a resource that does not exist, like HAPI's
	// referential-integrity check. Off by default (Microsoft's server and
	// many test servers do not check).
	CheckReferences bool
}

// User is a Basic-auth account.
type User struct {
	Username, Password string
}

// MaxPageSize caps _count.
const MaxPageSize = 100

// Recorded is one request as the server received it. The Authorization
// header is masked and any configured password/token is scrubbed from the
// other headers, the query and the body (otherwise kept byte for byte).
type Recorded struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
	Time   time.Time
}

// Server is a running (or not yet started) simulator. All methods are safe
// for concurrent use.
type Server struct {
	opts     Options
	base     string // path prefix, "" for root
	red      *redact.Redactor
	ln       *simkit.Listener
	faults   simkit.Faults
	tokens   map[string]bool
	users    map[string]string
	authused bool

	mu       sync.Mutex
	st       *store
	seq      int64 // last server-assigned id
	order    int64 // creation order of entities (default search order)
	uuidSeq  int64
	searches map[string]*savedSearch
	saved    []string // search ids, oldest first, for eviction
	requests []Recorded
}

// New returns a Server that is not listening yet; call Start.
func New(o Options) *Server {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PageSize <= 0 {
		o.PageSize = 10
	}
	if o.PageSize > MaxPageSize {
		o.PageSize = MaxPageSize
	}
	base := o.BaseURL
	if base == "" {
		base = "/fhir"
	}
	base = "/" + strings.Trim(base, "/")
	if base == "/" {
		base = ""
	}
	s := &Server{
		opts:     o,
		base:     base,
		red:      redact.New(),
		tokens:   map[string]bool{},
		users:    map[string]string{},
		st:       newStore(),
		searches: map[string]*savedSearch{},
	}
	for _, t := range o.BearerTokens {
		s.tokens[t] = true
		s.red.AddValues(t)
	}
	for _, u := range o.Users {
		s.users[u.Username] = u.Password
		s.red.AddValues(u.Password)
	}
	s.authused = len(s.tokens) > 0 || len(s.users) > 0
	return s
}

// Start listens on Options.Addr (a free port of 127.0.0.1 by default) and
// serves plain HTTP.
func (s *Server) Start() error {
	ln, err := simkit.Listen("fhir", s.opts.Addr, s)
	if err != nil {
		return err
	}
	s.ln = ln
	return nil
}

// URL is the FHIR base URL including the base path, e.g.
// http://127.0.0.1:41234/fhir.
func (s *Server) URL() string { return s.ln.URL() + s.base }

// Close stops the server and drops open connections.
func (s *Server) Close() { s.ln.Close() }

// FailNext makes the next n requests answer status without being
// processed. 502 and 504 get an HTML body (what a reverse proxy sends);
// other codes an OperationOutcome. 429 and 503 carry Retry-After: 1.
func (s *Server) FailNext(n int, status int) { s.faults.FailNext(n, status) }

// DropNext makes the next n requests get a 200 response whose body is cut
// off mid-JSON and the connection closed, as when a proxy or server dies
// while answering.
func (s *Server) DropNext(n int) { s.faults.DropNext(n) }

// SetLatency delays every response by d (or until the client gives up), to
// exercise client timeouts.
func (s *Server) SetLatency(d time.Duration) { s.faults.SetLatency(d) }

// Requests returns every request received so far, oldest first.
func (s *Server) Requests() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Recorded, len(s.requests))
	copy(out, s.requests)
	return out
}

// ServeHTTP makes Server usable with httptest too (then URL() is wrong:
// use the httptest URL plus the base path).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		writeOutcome(w, jsonCT, failure(http.StatusBadRequest, fhir.IssueStructure, "", "could not read request body: %v", err))
		return
	}
	s.mu.Lock()
	s.record(r, body)
	s.mu.Unlock()
	fault, alive := s.faults.Next(r.Context())
	switch {
	case !alive:
		return
	case fault.Status != 0:
		writeFault(w, fault.Status)
		return
	case fault.Drop:
		dropConnection(w)
		return
	}
	s.handle(w, r, body)
}

func (s *Server) record(r *http.Request, body []byte) {
	h := simkit.MaskHeader(s.red, r.Header)
	q, _ := url.ParseQuery(s.red.String(r.URL.RawQuery))
	s.requests = append(s.requests, Recorded{
		Method: r.Method,
		Path:   r.URL.Path,
		Query:  q,
		Header: h,
		Body:   []byte(s.red.String(string(body))),
		Time:   s.opts.Now(),
	})
}

func writeFault(w http.ResponseWriter, code int) {
	// 503 stays an OperationOutcome ("transient"): FHIR servers answer it
	// themselves while they start or shed load.
	if code == http.StatusBadGateway || code == http.StatusGatewayTimeout {
		simkit.WriteProxyPage(w, code, "nginx")
		return
	}
	simkit.RetryAfter(w, code)
	issue := codeProcessing
	switch code {
	case http.StatusTooManyRequests:
		issue = codeThrottled
	case http.StatusServiceUnavailable:
		issue = codeTransient
	case http.StatusInternalServerError:
		issue = codeException
	case http.StatusUnauthorized:
		issue = codeLogin
	case http.StatusForbidden:
		issue = codeForbidden
	}
	writeOutcome(w, jsonCT, failure(code, issue, "", "simulated failure: %d %s", code, http.StatusText(code)))
}

// dropConnection promises a long body, sends part of it and closes the
// socket, so the client sees an unexpected EOF while reading.
func dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		// httptest.ResponseRecorder: the closest is a truncated body.
		w.Header().Set("Content-Type", fhirCT)
		w.Header().Set("Content-Length", "4096")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":`)
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	writeRaw(buf, "HTTP/1.1 200 OK\r\nContent-Type: "+fhirCT+"\r\nContent-Length: 4096\r\n\r\n"+
		`{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":`)
}

func writeRaw(buf *bufio.ReadWriter, s string) {
	_, _ = buf.WriteString(s)
	_ = buf.Flush()
}

// authenticate checks the Authorization header; it returns "" when the
// request may proceed, else the reason for the 401.
func (s *Server) authenticate(r *http.Request) string {
	if !s.authused {
		return ""
	}
	a := r.Header.Get("Authorization")
	if a == "" {
		return "authentication required"
	}
	scheme, cred, _ := strings.Cut(a, " ")
	cred = strings.TrimSpace(cred)
	switch strings.ToLower(scheme) {
	case "bearer":
		if s.tokens[cred] {
			return ""
		}
		return "invalid bearer token"
	case "basic":
		u, p, err := simkit.BasicAuth(a)
		if err != nil {
			return "malformed Basic credentials"
		}
		if want, known := s.users[u]; known && simkit.PasswordOK(want, p) {
			return ""
		}
		return "invalid username or password"
	}
	return fmt.Sprintf("unsupported authorization scheme %q", scheme)
}

func (s *Server) challenge(w http.ResponseWriter, reason string) {
	if len(s.tokens) > 0 {
		code := ""
		if reason == "invalid bearer token" {
			code = `, error="invalid_token"`
		}
		w.Header().Add("WWW-Authenticate", `Bearer realm="fhir"`+code)
	}
	if len(s.users) > 0 {
		w.Header().Add("WWW-Authenticate", `Basic realm="fhir"`)
	}
	writeOutcome(w, jsonCT, failure(http.StatusUnauthorized, codeLogin, "", "%s", reason))
}
