// Package dhis2 is an in-process simulator of the DHIS2 Web API, used by the
// tests of the dhis2 adaptor and of the examples. Production code never
// imports it.
//
// It is faithful where a client can tell the difference: authentication
// (Basic and personal access tokens) and its 401/403 WebMessages, the
// aggregate import (POST /api/dataValueSets) with its validation order, error
// codes, natural-key upsert, import counts and the response envelope that
// changed in 2.38 (bare ImportSummary vs WebMessage 200/409), the async job
// endpoints, the tracker importer (POST /api/tracker, sync and async, flat and
// nested payloads, E1xxx error codes), tracker and metadata exports with their
// paging envelopes, and the deprecated tracker endpoints. Fault injection
// (FailNext, SetLatency) lets client tests exercise retries and timeouts.
//
// The simulated version (Options.Version) drives every version-dependent
// behaviour; the rules come from /work/shared/design/fhir-dhis2.md §1.
package dhis2

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/sim/simkit"
)

// Options configure a Server. The zero value simulates DHIS2 2.40.0 with the
// users admin/district.
type Options struct {
	// Addr is where Start listens (default 127.0.0.1:0, a free port).
	Addr string
	// Version is the simulated DHIS2 version, "2.36" … "2.42", optionally
	// with a patch ("2.40.3"); a missing patch means .0. Default "2.40".
	Version string
	// Users accepted with Basic auth; default admin/district.
	Users []User
	// Tokens are personal access tokens accepted as "Authorization: ApiToken
	// <token>"; they act as a superuser.
	Tokens []string
	// Now is the clock (default time.Now); it stamps created/lastUpdated and
	// decides "future date" validations.
	Now func() time.Time
	// Authorities restricts users (by username) to the listed authorities;
	// users not listed are superusers ("ALL"). See the Auth* constants.
	Authorities map[string][]string
	// JobPolls is how many polls of a job's notifications it takes before an
	// async job completes (0 = completes before the POST returns). It lets a
	// test observe an in-progress job and the /report 404.
	JobPolls int
}

// User is a Basic-auth account.
type User struct{ Username, Password string }

// Authorities the simulator checks.
const (
	AuthAll              = "ALL"
	AuthDataValueAdd     = "F_DATAVALUE_ADD"
	AuthTrackerImport    = "F_TRACKER_IMPORTER_EXPERIMENTAL"
	AuthMetadataRead     = "F_METADATA_READ"
	AuthTrackedEntityAdd = "F_TRACKED_ENTITY_INSTANCE_ADD"
)

// Recorded is one request as the server received it. The Authorization
// header and any password/token value are redacted.
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
	opts   Options
	ver    version
	red    *redact.Redactor
	ln     *simkit.Listener
	faults simkit.Faults

	mu       sync.Mutex
	md       *metaStore
	values   map[dvKey]*storedValue
	valueSeq int64
	tes      map[string]map[string]any
	enrs     map[string]map[string]any
	events   map[string]map[string]any
	rels     map[string]map[string]any
	teOrder  []string
	enOrder  []string
	evOrder  []string
	relOrder []string
	jobs     map[string]*job
	requests []Recorded
	tokens   map[string]bool
	users    map[string]User
}

// New returns a Server that is not listening yet; call Start.
func New(o Options) *Server {
	if o.Version == "" {
		o.Version = "2.40"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(o.Users) == 0 {
		o.Users = []User{{Username: "admin", Password: "district"}}
	}
	v, err := parseVersion(o.Version)
	if err != nil {
		// A bad version is a programming error in a test; fail loudly at the
		// first request rather than silently simulating something else.
		v = version{bad: err}
	}
	s := &Server{
		opts:   o,
		ver:    v,
		red:    redact.New(),
		md:     newMetaStore(),
		values: map[dvKey]*storedValue{},
		tes:    map[string]map[string]any{},
		enrs:   map[string]map[string]any{},
		events: map[string]map[string]any{},
		rels:   map[string]map[string]any{},
		jobs:   map[string]*job{},
		tokens: map[string]bool{},
		users:  map[string]User{},
	}
	for _, u := range o.Users {
		s.users[u.Username] = u
		s.red.AddValues(u.Password)
	}
	for _, t := range o.Tokens {
		s.tokens[t] = true
		s.red.AddValues(t)
	}
	return s
}

// Start listens on Options.Addr (a free port of 127.0.0.1 by default) and
// serves plain HTTP.
func (s *Server) Start() error {
	if s.ver.bad != nil {
		return s.ver.bad
	}
	ln, err := simkit.Listen("dhis2", s.opts.Addr, s)
	if err != nil {
		return err
	}
	s.ln = ln
	return nil
}

// URL is the server root (without /api), e.g. http://127.0.0.1:41234.
func (s *Server) URL() string { return s.ln.URL() }

// Close stops the server and drops open connections.
func (s *Server) Close() { s.ln.Close() }

// FailNext makes the next n requests answer status without being processed.
// 502/503/504 get an HTML body (what a reverse proxy sends); other codes a
// DHIS2 WebMessage. 429 and 503 carry Retry-After: 1.
func (s *Server) FailNext(n int, status int) { s.faults.FailNext(n, status) }

// FailNextWithBody is FailNext with a literal body (e.g. malformed JSON).
func (s *Server) FailNextWithBody(n int, status int, body string) {
	s.faults.FailNextWithBody(n, status, body)
}

// SetLatency delays every response by d (until the client gives up), to
// exercise client timeouts.
func (s *Server) SetLatency(d time.Duration) { s.faults.SetLatency(d) }

// Requests returns every request received so far, oldest first.
func (s *Server) Requests() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Recorded, len(s.requests))
	for i, r := range s.requests {
		out[i] = s.redacted(r)
	}
	return out
}

// ---- version ----

type version struct {
	major, minor, patch int
	bad                 error
}

var versionRe = regexp.MustCompile(`^2\.(\d{2})(?:\.(\d+))?$`)

func parseVersion(v string) (version, error) {
	m := versionRe.FindStringSubmatch(v)
	if m == nil {
		return version{}, fmt.Errorf("dhis2 sim: invalid version %q (want 2.36 … 2.42, optional patch)", v)
	}
	minor, _ := strconv.Atoi(m[1])
	patch := 0
	if m[2] != "" {
		patch, _ = strconv.Atoi(m[2])
	}
	if minor < 36 || minor > 42 {
		return version{}, fmt.Errorf("dhis2 sim: unsupported version %q (want 2.36 … 2.42)", v)
	}
	return version{major: 2, minor: minor, patch: patch}, nil
}

func (v version) String() string { return fmt.Sprintf("%d.%d.%d", v.major, v.minor, v.patch) }

// atLeast compares against minor.patch of the 2.x line.
func (v version) atLeast(minor, patch int) bool {
	if v.minor != minor {
		return v.minor > minor
	}
	return v.patch >= patch
}

// hasRejectedIndexes: ImportSummary.rejectedIndexes appeared in 2.39.2,
// 2.40.1 and 2.41.0.
func (v version) hasRejectedIndexes() bool {
	switch v.minor {
	case 39:
		return v.patch >= 2
	case 40:
		return v.patch >= 1
	}
	return v.minor >= 41
}

// unchangedIsIgnored: an identical re-post counts as ignored from 2.39.5,
// 2.40.3 and 2.41.0 (updated before).
func (v version) unchangedIsIgnored() bool {
	switch v.minor {
	case 39:
		return v.patch >= 5
	case 40:
		return v.patch >= 3
	}
	return v.minor >= 41
}

// ---- request plumbing ----

type request struct {
	w      http.ResponseWriter
	r      *http.Request
	path   string // path below /api, e.g. "/dataValueSets"
	apiVer int    // version segment in the path (/api/37/...), 0 if none
	user   string
	auths  []string
	body   []byte
	q      url.Values
}

func (rq *request) has(auth string) bool {
	if rq.auths == nil {
		return true
	}
	for _, a := range rq.auths {
		if a == AuthAll || a == auth {
			return true
		}
	}
	return false
}

var apiPathRe = regexp.MustCompile(`^/api(?:/(\d{2}))?(/.*)?$`)

// ServeHTTP makes Server usable with httptest too.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		writeWebMessage(w, http.StatusBadRequest, "ERROR", "Could not read request body", nil)
		return
	}
	s.mu.Lock()
	s.record(r, body)
	s.mu.Unlock()
	fault, alive := s.faults.Next(r.Context())
	if !alive {
		return
	}
	if fault.Status != 0 {
		writeFault(w, fault.Status, fault.Body)
		return
	}
	if s.ver.bad != nil {
		writeWebMessage(w, http.StatusInternalServerError, "ERROR", s.ver.bad.Error(), nil)
		return
	}

	m := apiPathRe.FindStringSubmatch(strings.TrimSuffix(r.URL.Path, "/"))
	if m == nil {
		writeWebMessage(w, http.StatusNotFound, "ERROR", "Not Found", nil)
		return
	}
	rq := &request{w: w, r: r, path: m[2], body: body, q: r.URL.Query()}
	if m[1] != "" {
		rq.apiVer, _ = strconv.Atoi(m[1])
		// DHIS2 accepts path versions from 28 up to its own.
		if rq.apiVer < 28 || rq.apiVer > s.ver.minor {
			writeWebMessage(w, http.StatusNotFound, "ERROR", "API version is invalid", nil)
			return
		}
	}
	// ".json" suffixes select the representation; JSON is all we speak.
	rq.path = strings.TrimSuffix(rq.path, ".json")
	if !s.authenticate(rq) {
		w.Header().Set("WWW-Authenticate", `Basic realm="DHIS2"`)
		writeWebMessage(w, http.StatusUnauthorized, "ERROR", "Unauthorized", nil)
		return
	}
	s.route(rq)
}

// record keeps the raw request; Requests redacts on the way out, which keeps
// redaction (a JSON walk per body) off the request path.
func (s *Server) record(r *http.Request, body []byte) {
	s.requests = append(s.requests, Recorded{
		Method: r.Method,
		Path:   r.URL.Path,
		Query:  r.URL.Query(),
		Header: r.Header.Clone(),
		Body:   append([]byte(nil), body...),
		Time:   s.opts.Now(),
	})
}

func (s *Server) redacted(rec Recorded) Recorded {
	q, _ := url.ParseQuery(s.red.String(rec.Query.Encode()))
	rec.Header, rec.Query = simkit.MaskHeader(s.red, rec.Header), q
	rec.Body = s.red.JSON(append([]byte(nil), rec.Body...))
	return rec
}

func writeFault(w http.ResponseWriter, code int, body string) {
	simkit.RetryAfter(w, code)
	if body != "" {
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
		return
	}
	if simkit.IsProxyStatus(code) {
		simkit.WriteProxyPage(w, code, "nginx")
		return
	}
	msg := http.StatusText(code)
	if code >= 500 {
		msg = "An unexpected error occurred"
	}
	writeWebMessage(w, code, "ERROR", msg, nil)
}

func (s *Server) authenticate(rq *request) bool {
	h := rq.r.Header.Get("Authorization")
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok {
		return false
	}
	switch strings.ToLower(scheme) {
	case "basic":
		user, pass, err := simkit.BasicAuth(h)
		if err != nil {
			return false
		}
		s.mu.Lock()
		u, found := s.users[user]
		s.mu.Unlock()
		if !found || !simkit.PasswordOK(u.Password, pass) {
			return false
		}
		rq.user, rq.auths = u.Username, s.opts.Authorities[u.Username]
		return true
	case "apitoken":
		// PATs came with 2.37 (ApiTokenController).
		if !s.ver.atLeast(37, 0) {
			return false
		}
		s.mu.Lock()
		ok := s.tokens[strings.TrimSpace(cred)]
		s.mu.Unlock()
		if ok {
			rq.user = "admin"
		}
		return ok
	}
	return false
}

// ---- responses ----

// webMessage is DHIS2's generic envelope (overview.md "Error and info
// messages"). Field order follows the server's output.
type webMessage struct {
	HTTPStatus     string `json:"httpStatus"`
	HTTPStatusCode int    `json:"httpStatusCode"`
	Status         string `json:"status"`
	Message        string `json:"message,omitempty"`
	DevMessage     string `json:"devMessage,omitempty"`
	ErrorCode      string `json:"errorCode,omitempty"`
	Response       any    `json:"response,omitempty"`
}

func writeWebMessage(w http.ResponseWriter, code int, status, msg string, resp any) {
	writeJSON(w, code, webMessage{
		HTTPStatus:     httpStatusName(code),
		HTTPStatusCode: code,
		Status:         status,
		Message:        msg,
		Response:       resp,
	})
}

// httpStatusName is Spring's HttpStatus reason phrase, which DHIS2 puts in
// httpStatus ("Not Found", "Conflict", …).
func httpStatusName(code int) string {
	switch code {
	case http.StatusRequestEntityTooLarge:
		return "Payload Too Large"
	}
	return http.StatusText(code)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) notFound(rq *request) {
	writeWebMessage(rq.w, http.StatusNotFound, "ERROR", "Not Found", nil)
}

func (s *Server) forbidden(rq *request, msg string) {
	writeWebMessage(rq.w, http.StatusForbidden, "ERROR", msg, nil)
}

func (s *Server) conflict(rq *request, msg string, errorCode string) {
	writeJSON(rq.w, http.StatusConflict, webMessage{
		HTTPStatus: "Conflict", HTTPStatusCode: http.StatusConflict, Status: "ERROR",
		Message: msg, ErrorCode: errorCode,
	})
}

func (s *Server) badRequest(rq *request, msg string) {
	writeWebMessage(rq.w, http.StatusBadRequest, "ERROR", msg, nil)
}

func (s *Server) methodNotAllowed(rq *request) {
	writeWebMessage(rq.w, http.StatusMethodNotAllowed, "ERROR",
		fmt.Sprintf("Request method '%s' not supported", rq.r.Method), nil)
}

// decodeJSON parses the request body, answering 415/400 as DHIS2 does when
// the content type is wrong or the body does not parse.
func (s *Server) decodeJSON(rq *request, v any) bool {
	ct := rq.r.Header.Get("Content-Type")
	if ct != "" && !strings.Contains(strings.ToLower(ct), "json") {
		writeWebMessage(rq.w, http.StatusUnsupportedMediaType, "ERROR",
			fmt.Sprintf("Content type '%s' not supported", ct), nil)
		return false
	}
	body := bytes.TrimPrefix(rq.body, []byte("\xef\xbb\xbf"))
	if len(bytes.TrimSpace(body)) == 0 {
		s.badRequest(rq, "Required request body is missing")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		s.badRequest(rq, "JSON parse error: "+err.Error())
		return false
	}
	return true
}

// ---- routing ----

func (s *Server) route(rq *request) {
	p := rq.path
	seg := strings.Split(strings.Trim(p, "/"), "/")
	get := rq.r.Method == http.MethodGet
	switch {
	case p == "/system/info":
		if !get {
			s.methodNotAllowed(rq)
			return
		}
		s.systemInfo(rq)
	case p == "/me":
		writeJSON(rq.w, 200, map[string]any{"id": uidFor("user:" + rq.user), "username": rq.user,
			"name": rq.user, "authorities": authList(rq.auths)})
	case strings.HasPrefix(p, "/me/authorization/"):
		writeJSON(rq.w, 200, rq.has(strings.TrimPrefix(p, "/me/authorization/")))
	case p == "/system/id" || p == "/system/uid":
		n, _ := strconv.Atoi(rq.q.Get("limit"))
		if n <= 0 {
			n = 1
		}
		if n > 10000 {
			s.conflict(rq, "Limit must be less than or equal to 10000", "")
			return
		}
		codes := make([]string, n)
		for i := range codes {
			codes[i] = newUID()
		}
		writeJSON(rq.w, 200, map[string]any{"codes": codes})
	case p == "/apiToken" && rq.r.Method == http.MethodPost && s.ver.atLeast(37, 0):
		s.createToken(rq)
	case p == "/dataValueSets":
		switch rq.r.Method {
		case http.MethodPost:
			s.postDataValueSets(rq)
		case http.MethodGet:
			s.getDataValueSets(rq)
		default:
			s.methodNotAllowed(rq)
		}
	case len(seg) == 4 && seg[0] == "system" && (seg[1] == "tasks" || seg[1] == "taskSummaries"):
		s.systemTask(rq, seg[1], seg[2], seg[3])
	case p == "/tracker":
		if rq.r.Method != http.MethodPost {
			s.methodNotAllowed(rq)
			return
		}
		s.postTracker(rq)
	case len(seg) >= 3 && seg[0] == "tracker" && seg[1] == "jobs":
		s.trackerJob(rq, seg[2], len(seg) == 4 && seg[3] == "report")
	case len(seg) >= 2 && seg[0] == "tracker" && get:
		s.trackerExport(rq, seg[1:])
	case seg[0] == "trackedEntityInstances" || seg[0] == "events" || seg[0] == "enrollments":
		s.legacy(rq, seg)
	case metadataCollections[seg[0]] != "":
		if !get {
			s.methodNotAllowed(rq)
			return
		}
		s.metadataGet(rq, seg)
	default:
		s.notFound(rq)
	}
}

func authList(a []string) []string {
	if a == nil {
		return []string{AuthAll}
	}
	return a
}

func (s *Server) systemInfo(rq *request) {
	now := s.opts.Now()
	writeJSON(rq.w, 200, map[string]any{
		"contextPath":      s.URL(),
		"userAgent":        rq.r.UserAgent(),
		"version":          s.ver.String(),
		"revision":         "sim0000",
		"buildTime":        "2024-01-01T00:00:00.000",
		"serverDate":       now.Format(dhisTime),
		"serverTimeZoneId": "UTC",
		"calendar":         "iso8601",
		"dateFormat":       "yyyy-mm-dd",
		"systemName":       "DHIS 2 simulator",
		"systemId":         uidFor("system"),
	})
}

func (s *Server) createToken(rq *request) {
	key := "d2pat_" + randomAlnum(32) + fmt.Sprintf("%010d", randInt(1e10))
	s.mu.Lock()
	s.tokens[key] = true
	s.red.AddValues(key)
	s.mu.Unlock()
	writeJSON(rq.w, http.StatusCreated, webMessage{
		HTTPStatus: "Created", HTTPStatusCode: http.StatusCreated, Status: "OK",
		Response: map[string]any{
			"responseType": "ApiTokenCreationResponse",
			"key":          key,
			"uid":          newUID(),
			"klass":        "org.hisp.dhis.security.apikey.ApiToken",
			"errorReports": []any{},
		},
	})
}

// ---- identifiers and time ----

const dhisTime = "2006-01-02T15:04:05.000"

const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

var uidRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{10}$`)

func validUID(s string) bool { return uidRe.MatchString(s) }

func randInt(n int64) int64 {
	v, err := rand.Int(rand.Reader, big.NewInt(n))
	if err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return v.Int64()
}

func randomAlnum(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alnum[randInt(int64(len(alnum)))]
	}
	return string(b)
}

// newUID mints a DHIS2 UID: a letter then ten alphanumerics.
func newUID() string {
	return string(alnum[randInt(52)]) + randomAlnum(10)
}

// uidFor derives a stable UID from a seed (for objects that must not change
// between calls, like the system id).
func uidFor(seed string) string {
	var h uint64 = 1469598103934665603
	for i := 0; i < len(seed); i++ {
		h ^= uint64(seed[i])
		h *= 1099511628211
	}
	b := make([]byte, 11)
	b[0] = alnum[h%52]
	for i := 1; i < 11; i++ {
		h = h*6364136223846793005 + 1442695040888963407
		b[i] = alnum[(h>>33)%62]
	}
	return string(b)
}
