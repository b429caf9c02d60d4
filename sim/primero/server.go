// Package primero is an in-process simulator of the Primero v2 REST API
// (/api/v2), used by the tests of the primero adaptor and of the
// examples/cambodia-referrals two-way sync. Production code never imports it.
//
// What it reproduces, and where each rule comes from (design doc
// /work/shared/design/openfn-jobs.md §5.3 and §6, plus Primero's own API docs
// and error service):
//
//   - Authentication. POST /api/v2/tokens {"user":{"user_name","password"}}
//     answers 200 {"id","user_name","token"} with a JWT (HS256, "exp" claim)
//     that is also sent in the Authorization response header, as devise-jwt
//     does. A bad login is Devise's JSON failure: 401 {"error":"Invalid User
//     name or password."}. Requests need "Authorization: Bearer <jwt>" or
//     Basic credentials (the adaptor's basicAuth mode). No credentials gives
//     Devise's 401 {"error":"You need to sign in or sign up before
//     continuing."}; a bad or expired JWT gives Primero's ErrorService shape
//     401 {"errors":[{"code":401,"resource":<path>,"message":"Signature has
//     expired"}]}. Tokens live Options.TokenTTL (default 1h) on the
//     simulator clock.
//   - Errors always use {"errors":[{"code","resource","message","detail"?}]}:
//     404 "Not Found"; 422 "Invalid Record JSON" with detail = JSON pointers of
//     the offending properties (unknown fields: Primero's JSON schema has
//     additionalProperties:false, so the ≥3.2 adaptor's double-wrapped
//     {"data":{"data":…}} is rejected with detail ["/data"]); 422 per field
//     for model validation (message is the array of messages, detail the
//     field name); 422 "param is missing or the value is empty: data".
//   - Cases. GET /api/v2/cases with filters (see filter.go) → {"data":[…],
//     "metadata":{"total","per","page"}} ordered by created_at descending
//     (order_by/order override); GET/PATCH /api/v2/cases/:id; POST
//     /api/v2/cases. Creation requires module_id (a known module) and a name
//     (name, name_first or name_last); age must be an integer 0..130 and
//     date_of_birth/registration_date ISO dates. The server sets id, case_id,
//     case_id_display/short_id (last 7 chars of case_id), created_at,
//     created_by, last_updated_at/_by, owned_by (the caller unless given),
//     owned_by_agency_id, registration_date, status "open", record_state true
//     and the other bookkeeping fields a real case carries. PATCH merges
//     fields; subform arrays (services_section, …) merge element-wise by
//     unique_id, append new elements (with a generated unique_id) and drop
//     elements with "_delete": true, as Primero documents.
//   - Referrals. GET /api/v2/cases/:id/referrals; POST
//     /api/v2/cases/:id/referrals and the bulk POST /api/v2/cases/referrals
//     {"data":{"ids":[…],"transitioned_to",…}}; PATCH
//     /api/v2/cases/:case_id/referrals/:id {"data":{"status"}} with Primero's
//     state machine (accept/reject only from in_progress, done only from
//     accepted and then needs success_status; a repeated status is a no-op).
//     Extra keys in data are ignored (Rails strong parameters), which the
//     Cambodia f2-j2 job relies on.
//   - GET /api/v2/forms, /api/v2/lookups, /api/v2/locations with small seeds
//     matching the CP module the Cambodia jobs use.
//
// Where Primero's behaviour is not documented the simulator chooses: any
// top-level case field is filterable; "remote" is accepted and ignored (the
// jobs always send remote=true); "fields" is ignored (full records are
// returned); per has no upper bound (the jobs ask for 10000).
//
// Every timestamp comes from the simulator clock (Options.Now plus
// AdvanceClock), so last_updated_at cursor tests are deterministic.
package primero

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/sim/simkit"
)

// Options configure a Server. The zero value has one user openfn /
// openfn-password (agency-unicef), 20 records per page and the wall clock.
type Options struct {
	// Addr is where Start listens (default 127.0.0.1:0, a free port).
	Addr  string
	Users []User
	// PageSize is the default "per" of GET /api/v2/cases (default 20).
	PageSize int
	// Now is the base clock (default time.Now); AdvanceClock adds to it.
	Now func() time.Time
	// TokenTTL is the lifetime of a JWT from POST /api/v2/tokens (default 1h).
	TokenTTL time.Duration
	// ExtraFields are case fields permitted on top of the built-in CP form
	// fields (see PermittedFields).
	ExtraFields []string
}

// User is an account. Agency is its agency unique_id (default
// "agency-unicef"); it becomes owned_by_agency_id of the cases it creates.
type User struct {
	Username, Password string
	Agency             string
}

// Recorded is one request as received. The Authorization header is masked
// and passwords/tokens are scrubbed from the query and body.
type Recorded struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
	Time     time.Time
}

// Server is a Primero v2 simulator. All methods are safe for concurrent use.
type Server struct {
	opts   Options
	ln     *simkit.Listener
	faults simkit.Faults
	clock  *simkit.Clock
	red    *redact.Redactor
	key    []byte

	mu        sync.Mutex
	users     map[string]User
	userIDs   map[string]int
	cases     map[string]map[string]any
	order     []string // creation order
	referrals map[string][]map[string]any
	v1revs    map[string]int // CouchDB revision counters of the v1 view
	requests  []Recorded
	permitted map[string]bool
}

// New returns a Server that is not listening yet; call Start.
func New(o Options) *Server {
	if len(o.Users) == 0 {
		o.Users = []User{{Username: "openfn", Password: "openfn-password"}}
	}
	if o.PageSize <= 0 {
		o.PageSize = 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = time.Hour
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	s := &Server{
		opts:      o,
		clock:     simkit.NewClock(o.Now),
		red:       redact.New(),
		key:       key,
		users:     map[string]User{},
		userIDs:   map[string]int{},
		cases:     map[string]map[string]any{},
		referrals: map[string][]map[string]any{},
		v1revs:    map[string]int{},
		permitted: permittedSet(o.ExtraFields),
	}
	for i, u := range o.Users {
		if u.Agency == "" {
			u.Agency = "agency-unicef"
		}
		s.users[u.Username] = u
		s.userIDs[u.Username] = i + 1
		s.red.AddValues(u.Password)
	}
	return s
}

// Start listens on Options.Addr (a free port of 127.0.0.1 by default).
func (s *Server) Start() error {
	ln, err := simkit.Listen("primero", s.opts.Addr, s)
	if err != nil {
		return err
	}
	s.ln = ln
	return nil
}

// URL is the server root, e.g. http://127.0.0.1:41234 (the adaptor's "url").
func (s *Server) URL() string { return s.ln.URL() }

// Close stops the server and drops open connections.
func (s *Server) Close() { s.ln.Close() }

// FailNext makes the next n requests answer status without being processed:
// 502/503/504 with the HTML an nginx proxy sends, other codes with a Primero
// error body. 429 and 503 carry Retry-After: 1.
func (s *Server) FailNext(n int, status int) { s.faults.FailNext(n, status) }

// SetLatency delays every response by d (or until the client gives up).
func (s *Server) SetLatency(d time.Duration) { s.faults.SetLatency(d) }

// AdvanceClock moves the simulator clock forward (timestamps, token expiry).
func (s *Server) AdvanceClock(d time.Duration) { s.clock.Advance(d) }

// Now is the simulator clock.
func (s *Server) Now() time.Time { return s.clock.Now() }

func (s *Server) now() time.Time { return s.clock.Now() }

// Requests returns every request received so far, oldest first.
func (s *Server) Requests() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Recorded, len(s.requests))
	copy(out, s.requests)
	return out
}

// ---- plumbing ----

type request struct {
	w    http.ResponseWriter
	r    *http.Request
	path string
	body []byte
	user User
}

// ServeHTTP makes Server usable with httptest too.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err != nil {
		writeErrors(w, http.StatusBadRequest, apiError{Code: 400, Resource: r.URL.Path, Message: "Could not read request body"})
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
		writeFault(w, fault.Status, r.URL.Path)
		return
	}
	rq := &request{w: w, r: r, path: strings.TrimSuffix(r.URL.Path, "/"), body: body}
	if isV1Route(rq.path) {
		s.serveV1(rq) // v1.go
		return
	}
	if !strings.HasPrefix(rq.path, "/api/v2/") {
		s.notFound(rq)
		return
	}
	if rq.path == "/api/v2/tokens" {
		if r.Method != http.MethodPost {
			s.notFound(rq)
			return
		}
		s.login(rq)
		return
	}
	if !s.authenticate(rq) {
		return
	}
	s.route(rq)
}

func (s *Server) record(r *http.Request, body []byte) {
	h := simkit.MaskHeader(s.red, r.Header)
	s.requests = append(s.requests, Recorded{
		Method:   r.Method,
		Path:     r.URL.Path,
		RawQuery: s.red.String(r.URL.RawQuery),
		Header:   h,
		Body:     s.red.JSON(append([]byte(nil), body...)),
		Time:     s.now(),
	})
}

func (s *Server) route(rq *request) {
	segs := strings.Split(strings.TrimPrefix(rq.path, "/api/v2/"), "/")
	m := rq.r.Method
	switch {
	case len(segs) == 1 && segs[0] == "cases" && m == http.MethodGet:
		s.listCases(rq)
	case len(segs) == 1 && segs[0] == "cases" && m == http.MethodPost:
		s.createCase(rq)
	case len(segs) == 2 && segs[0] == "cases" && segs[1] == "referrals" && m == http.MethodPost:
		s.createReferralsBulk(rq)
	case len(segs) == 2 && segs[0] == "cases" && m == http.MethodGet:
		s.showCase(rq, segs[1])
	case len(segs) == 2 && segs[0] == "cases" && m == http.MethodPatch:
		s.updateCase(rq, segs[1])
	case len(segs) == 3 && segs[0] == "cases" && segs[2] == "referrals" && m == http.MethodGet:
		s.listReferrals(rq, segs[1])
	case len(segs) == 3 && segs[0] == "cases" && segs[2] == "referrals" && m == http.MethodPost:
		s.createReferral(rq, segs[1])
	case len(segs) == 4 && segs[0] == "cases" && segs[2] == "referrals" && m == http.MethodPatch:
		s.updateReferral(rq, segs[1], segs[3])
	case len(segs) == 1 && m == http.MethodGet && (segs[0] == "forms" || segs[0] == "lookups" || segs[0] == "locations"):
		s.catalog(rq, segs[0])
	default:
		s.notFound(rq)
	}
}

// apiError is one entry of Primero's {"errors":[…]} (ApplicationError).
type apiError struct {
	Code     int    `json:"code"`
	Resource string `json:"resource"`
	Message  any    `json:"message"`
	Detail   any    `json:"detail,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"errors":[{"code":500,"message":"encoding error"}]}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeErrors(w http.ResponseWriter, status int, errs ...apiError) {
	writeJSON(w, status, map[string]any{"errors": errs})
}

func (s *Server) notFound(rq *request) {
	writeErrors(rq.w, http.StatusNotFound, apiError{Code: 404, Resource: rq.r.URL.Path, Message: "Not Found"})
}

func writeFault(w http.ResponseWriter, code int, path string) {
	if simkit.IsProxyStatus(code) {
		simkit.WriteProxyPage(w, code, "nginx")
		return
	}
	simkit.RetryAfter(w, code)
	writeErrors(w, code, apiError{Code: code, Resource: path, Message: http.StatusText(code)})
}

// decodeData reads {"data": …}; a missing or empty data is Rails'
// ParameterMissing, which Primero reports as 422.
func decodeData(rq *request) (map[string]any, bool) {
	var env map[string]any
	dec := json.NewDecoder(bytes.NewReader(rq.body))
	dec.UseNumber()
	if err := dec.Decode(&env); err != nil {
		// Rails answers a body it cannot parse with 400 before the controller.
		writeErrors(rq.w, http.StatusBadRequest, apiError{Code: 400, Resource: rq.r.URL.Path,
			Message: "Error occurred while parsing request parameters"})
		return nil, false
	}
	data, ok := env["data"].(map[string]any)
	if !ok || len(data) == 0 {
		writeErrors(rq.w, http.StatusUnprocessableEntity, apiError{Code: 422, Resource: rq.r.URL.Path,
			Message: "param is missing or the value is empty: data"})
		return nil, false
	}
	return normalizeNumbers(data).(map[string]any), true
}

// normalizeNumbers turns json.Number into int64 where integral, else float64,
// so stored records marshal back exactly as sent.
func normalizeNumbers(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, c := range t {
			t[k] = normalizeNumbers(c)
		}
		return t
	case []any:
		for i, c := range t {
			t[i] = normalizeNumbers(c)
		}
		return t
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	}
	return v
}

// ---- authentication ----

func (s *Server) login(rq *request) {
	var body struct {
		User struct {
			UserName string `json:"user_name"`
			Password string `json:"password"`
		} `json:"user"`
	}
	if err := json.Unmarshal(rq.body, &body); err != nil {
		writeErrors(rq.w, http.StatusBadRequest, apiError{Code: 400, Resource: rq.r.URL.Path,
			Message: "Error occurred while parsing request parameters"})
		return
	}
	s.mu.Lock()
	u, ok := s.users[body.User.UserName]
	id := s.userIDs[body.User.UserName]
	now := s.now()
	s.mu.Unlock()
	if !ok || !simkit.PasswordOK(u.Password, body.User.Password) {
		writeJSON(rq.w, http.StatusUnauthorized, map[string]string{"error": "Invalid User name or password."})
		return
	}
	tok := s.issueToken(u.Username, now)
	rq.w.Header().Set("Authorization", "Bearer "+tok)
	writeJSON(rq.w, http.StatusOK, map[string]any{"id": id, "user_name": u.Username, "token": tok})
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (s *Server) issueToken(user string, now time.Time) string {
	head := b64([]byte(`{"alg":"HS256","typ":"JWT"}`))
	claims, _ := json.Marshal(map[string]any{
		"sub": user, "scp": "user", "aud": nil,
		"iat": now.Unix(), "exp": now.Add(s.opts.TokenTTL).Unix(), "jti": newUUID(),
	})
	signing := head + "." + b64(claims)
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(signing))
	tok := signing + "." + b64(mac.Sum(nil))
	s.red.AddValues(tok)
	return tok
}

// checkToken returns the user of a valid JWT or the message JWT raises.
func (s *Server) checkToken(tok string, now time.Time) (string, string) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", "Not enough or too many segments"
	}
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		return "", "Signature verification failed"
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", "Invalid segment encoding"
	}
	var c struct {
		Sub string `json:"sub"`
		Exp int64  `json:"exp"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return "", "Invalid segment encoding"
	}
	if now.Unix() >= c.Exp {
		return "", "Signature has expired"
	}
	return c.Sub, ""
}

func (s *Server) authenticate(rq *request) bool {
	h := rq.r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	cred = strings.TrimSpace(cred)
	s.mu.Lock()
	now := s.now()
	s.mu.Unlock()
	switch strings.ToLower(scheme) {
	case "bearer":
		name, msg := s.checkToken(cred, now)
		if msg != "" {
			writeErrors(rq.w, http.StatusUnauthorized, apiError{Code: 401, Resource: rq.r.URL.Path, Message: msg})
			return false
		}
		s.mu.Lock()
		u, ok := s.users[name]
		s.mu.Unlock()
		if !ok {
			writeErrors(rq.w, http.StatusUnauthorized, apiError{Code: 401, Resource: rq.r.URL.Path, Message: "Signature verification failed"})
			return false
		}
		rq.user = u
		return true
	case "basic":
		if name, pass, err := simkit.BasicAuth(h); err == nil {
			s.mu.Lock()
			u, ok := s.users[name]
			s.mu.Unlock()
			if ok && simkit.PasswordOK(u.Password, pass) {
				rq.user = u
				return true
			}
		}
		writeJSON(rq.w, http.StatusUnauthorized, map[string]string{"error": "Invalid User name or password."})
		return false
	}
	writeJSON(rq.w, http.StatusUnauthorized, map[string]string{"error": "You need to sign in or sign up before continuing."})
	return false
}

// ---- helpers ----

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// stamp is Primero's timestamp format (Rails as_json: milliseconds, Z).
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

var errBadTime = errors.New("bad time")

// parseTime accepts the date/time forms clients send in filters: RFC 3339
// with or without fraction, a bare date, and Primero v1's dd-mm-yyyy [HH:MM].
func parseTime(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02", "02-01-2006 15:04", "02-01-2006", "02-Jan-2006"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errBadTime
}
