// Package oscar is an in-process simulator of the OSCaR interoperability API
// (/api/v1, Children in Families' oscar-web), used by the tests of the
// examples/cambodia-referrals two-way sync, whose OSCaR jobs use the http ≤5
// adaptor. Production code never imports it.
//
// What it reproduces (design doc /work/shared/design/openfn-jobs.md §6.2,
// and the behaviour of OSCaR's Api::V1::OrganizationsController):
//
//   - devise_token_auth sign-in for admin users: POST
//     /api/v1/admin_auth/sign_in {"email","password"} → 200 {"data":{id,
//     email, uid, provider, …}} with the headers access-token, token-type
//     (Bearer), client, expiry (unix seconds) and uid, plus a session
//     cookie. Each sign-in is a new "client" (device); a user keeps at most
//     10, the oldest is evicted, as devise_token_auth does. Tokens last
//     Options.TokenTTL (default 2 weeks) on the simulator clock and are not
//     rotated per request, which the jobs rely on (they reuse one set of
//     headers for a whole `each`). A bad login is 401 {"success":false,
//     "errors":["Invalid login credentials. Please try again."]}; a protected
//     call without valid access-token/client/uid headers is 401
//     {"errors":["You need to sign in or sign up before continuing."]}. A
//     Basic Authorization header (http ≤5 sends one because username is set)
//     is ignored. /api/v1/admin_auths/sign_in (the spelling in the brief) is
//     accepted as an alias; the real route and the jobs use admin_auth.
//   - GET /api/v1/organizations/clients?since_date=… → {"data":[…]}: clients
//     that came from (or were referred to) the external system ("referred
//     external") changed at or after since_date (timestamp precision,
//     created_at or updated_at), then the other shareable clients created or
//     updated on or after since_date's *date* (OSCaR compares DATE(…) for
//     those), each group newest updated first. Only clients with a name,
//     gender and date of birth are shared. since_date is parsed like Ruby's
//     Time.parse ("YYYY-MM-DD HH:MM:SS", ISO 8601, …; zone-less values are
//     in Options.Location, default UTC); an unparsable value is a 500, as
//     ArgumentError is in OSCaR. end_date switches to the historical query
//     (created between the dates, oldest first). referred_external is
//     accepted and ignored, as OSCaR does.
//   - POST /api/v1/organizations/clients/upsert {"organization":{…}}:
//     without organization or organization_name → 422 {"message":"Record
//     error. Please check OSCaR logs for details."}. A known global_id
//     updates that client (touching updated_at only when a value changes),
//     adds a referral when is_referred is true and applies referral_status
//     (one of Accepted/Exited/Referred, else 422). Otherwise the payload is
//     a new referral from Primero, keyed by external_id: it waits for an NGO
//     to accept it (AcceptReferral) and only then becomes a client. A
//     referral is validated like OSCaR's Referral model (client name, case
//     worker name and phone, level_of_risk in high/medium/low/no action, at
//     least one service whose name OSCaR knows) → 422 {"external_id",
//     "message":{field:[errors]}}. Success is {"external_id","message":
//     "Record saved."}. Deviation, on purpose: OSCaR inserts a second
//     referral when the same external_id is posted again; the simulator
//     keys pending referrals by (external_id, service uuid) so a repeated
//     payload updates instead of duplicating (a new service uuid still adds
//     a referral, which is how the jobs send multi-service cases).
//   - PUT /api/v1/organizations/referrals/update_statuses {"data":[{
//     client_global_id, referral_id, referral_status, …}]}: statuses must be
//     one of Accepted/Active/Exited/Referred; an unknown client or referral
//     or a bad status is 422 {"error","message":"Record error. Please check
//     OSCaR logs for details."}, and items before the failing one stay
//     applied (no transaction, as in OSCaR). A status change touches the
//     client.
//   - PUT /api/v1/organizations/clients/update_links {"data":[{global_id,
//     external_id, external_id_display}]} sets the external ids of known
//     clients without touching updated_at (OSCaR uses update_columns), so a
//     link does not make a client reappear in the since query; unknown
//     global_ids are skipped. A missing data is a 500 (OSCaR raises
//     NameError there).
//   - GET /api/v1/organizations → the organizations seen so far.
//
// Trailing slashes are accepted (the jobs post to …/upsert/). Unknown routes
// are 404 {"status":404,"error":"Not Found"}.
package oscar

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/sim/simkit"
)

// Options configure a Server. The zero value has one admin user
// openfn@oscar.org / oscar-password and the wall clock.
type Options struct {
	// Addr is where Start listens (default 127.0.0.1:0, a free port).
	Addr  string
	Users []User
	// Now is the base clock (default time.Now); AdvanceClock adds to it.
	Now func() time.Time
	// TokenTTL is the access-token lifetime (default 2 weeks, the
	// devise_token_auth default).
	TokenTTL time.Duration
	// Services are the OSCaR service names a referral may ask for; default
	// DefaultServices.
	Services []string
	// Location interprets zone-less since_date values (default UTC).
	Location *time.Location
}

// User is an OSCaR admin API user.
type User struct {
	Email, Password string
}

// Recorded is one request as received; access-token, Authorization and
// passwords are masked.
type Recorded struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
	Time     time.Time
}

// DefaultServices are OSCaR service names (the ones the Cambodia service map
// knows). "Not Specified" is deliberately absent: OSCaR rejects such
// referrals, which the integration documents.
var DefaultServices = []string{
	"Community Reintegration Support", "Community social work", "Counselling for abuse survivors", "Day care services",
	"Detox / rehabilitation services", "Detox support", "Direct financial assistance", "Direct material assistance",
	"Direct medical support", "Disability respite care", "Disability-aid provision", "Domestic adoption support",
	"Drug and Alcohol Counselling", "Emergency foster care", "Family counselling / mediation", "Family preservation",
	"Family reunification", "Family support", "Generalist counselling", "Generalist social work / case work",
	"Health education", "Income generation services", "Independent Living", "Kinship care", "Legal advocacy services",
	"Legal representation", "Life skills", "Long term foster care", "Material support for education (uniforms, etc)",
	"Medical training services", "Other Service", "Peripheral supports", "Post-Trafficking Counseling",
	"Prison visitation support", "Provision of medical care", "Rescue Services", "Residential Care Institution",
	"Scholarships or financial support", "School support", "Supplementary school education", "Support groups",
	"Support to access care", "Support to access legal services", "Therapeutic interventions", "Therapeutic training",
	"Transitional Accommodation", "Trauma counselling", "Vocational education and training",
}

type session struct {
	client  string
	token   string
	expires time.Time
}

// Server is an OSCaR simulator. All methods are safe for concurrent use.
type Server struct {
	opts     Options
	ln       *simkit.Listener
	faults   simkit.Faults
	clock    *simkit.Clock
	red      *redact.Redactor
	services map[string]bool

	mu        sync.Mutex
	users     map[string]User
	userIDs   map[string]int
	sessions  map[string][]session // by email, oldest first
	clients   map[string]*client   // by global_id
	order     []string
	referrals map[int]*referral
	refOrder  []int
	refSeq    int
	clientSeq int
	orgs      map[string]int
	orgOrder  []string
	requests  []Recorded
}

// New returns a Server that is not listening yet; call Start.
func New(o Options) *Server {
	if len(o.Users) == 0 {
		o.Users = []User{{Email: "openfn@oscar.org", Password: "oscar-password"}}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = 14 * 24 * time.Hour
	}
	if len(o.Services) == 0 {
		o.Services = DefaultServices
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	s := &Server{
		opts:      o,
		clock:     simkit.NewClock(o.Now),
		red:       redact.New("client"),
		services:  map[string]bool{},
		users:     map[string]User{},
		userIDs:   map[string]int{},
		sessions:  map[string][]session{},
		clients:   map[string]*client{},
		referrals: map[int]*referral{},
		refSeq:    1000,
		clientSeq: 1000,
		orgs:      map[string]int{},
	}
	for _, n := range o.Services {
		s.services[n] = true
	}
	for i, u := range o.Users {
		s.users[u.Email] = u
		s.userIDs[u.Email] = i + 1
		s.red.AddValues(u.Password)
	}
	return s
}

// Start listens on Options.Addr (a free port of 127.0.0.1 by default).
func (s *Server) Start() error {
	ln, err := simkit.Listen("oscar", s.opts.Addr, s)
	if err != nil {
		return err
	}
	s.ln = ln
	return nil
}

// URL is the server root (the jobs' baseUrl), e.g. http://127.0.0.1:41234.
func (s *Server) URL() string { return s.ln.URL() }

// Close stops the server and drops open connections.
func (s *Server) Close() { s.ln.Close() }

// FailNext makes the next n requests answer status without being
// processed: 502/503/504 with nginx's HTML page (the jobs' transformResponse
// must cope with non-JSON), other codes with a Rails JSON error.
func (s *Server) FailNext(n int, status int) { s.faults.FailNext(n, status) }

// SetLatency delays every response by d (or until the client gives up).
func (s *Server) SetLatency(d time.Duration) { s.faults.SetLatency(d) }

// AdvanceClock moves the simulator clock forward.
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
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": 400, "error": "Bad Request"})
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
		writeFault(w, fault.Status)
		return
	}
	rq := &request{w: w, r: r, path: strings.TrimRight(r.URL.Path, "/"), body: body}
	m := r.Method
	switch {
	case m == http.MethodPost && (rq.path == "/api/v1/admin_auth/sign_in" || rq.path == "/api/v1/admin_auths/sign_in"):
		s.signIn(rq)
	case m == http.MethodGet && rq.path == "/api/v1/organizations":
		s.listOrganizations(rq)
	case m == http.MethodGet && rq.path == "/api/v1/organizations/clients":
		s.protected(rq, s.listClients)
	case m == http.MethodPost && rq.path == "/api/v1/organizations/clients/upsert":
		s.protected(rq, s.upsert)
	case m == http.MethodPut && rq.path == "/api/v1/organizations/clients/update_links":
		s.protected(rq, s.updateLinks)
	case m == http.MethodPut && rq.path == "/api/v1/organizations/referrals/update_statuses":
		s.protected(rq, s.updateStatuses)
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"status": 404, "error": "Not Found"})
	}
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

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"status":500,"error":"Internal Server Error"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeFault(w http.ResponseWriter, code int) {
	if simkit.IsProxyStatus(code) {
		simkit.WriteProxyPage(w, code, "nginx/1.10.2")
		return
	}
	simkit.RetryAfter(w, code)
	writeJSON(w, code, map[string]any{"status": code, "error": http.StatusText(code)})
}

func serverError(w http.ResponseWriter) {
	writeJSON(w, http.StatusInternalServerError, map[string]any{"status": 500, "error": "Internal Server Error"})
}

// ---- auth ----

func randToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

const maxDevices = 10

func (s *Server) signIn(rq *request) {
	var creds struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	ct := rq.r.Header.Get("Content-Type")
	if strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		_ = rq.r.ParseForm()
		creds.Email, creds.Password = rq.r.PostForm.Get("email"), rq.r.PostForm.Get("password")
	} else if len(rq.body) > 0 {
		if err := json.Unmarshal(rq.body, &creds); err != nil {
			writeJSON(rq.w, http.StatusBadRequest, map[string]any{"status": 400, "error": "Bad Request"})
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[creds.Email]
	if !ok || !simkit.PasswordOK(u.Password, creds.Password) {
		writeJSON(rq.w, http.StatusUnauthorized, map[string]any{"success": false,
			"errors": []string{"Invalid login credentials. Please try again."}})
		return
	}
	sess := session{client: randToken(), token: randToken(), expires: s.now().Add(s.opts.TokenTTL)}
	list := append(s.sessions[u.Email], sess)
	if len(list) > maxDevices {
		list = list[len(list)-maxDevices:]
	}
	s.sessions[u.Email] = list
	s.red.AddValues(sess.token)
	h := rq.w.Header()
	h.Set("access-token", sess.token)
	h.Set("token-type", "Bearer")
	h.Set("client", sess.client)
	h.Set("expiry", strconv.FormatInt(sess.expires.Unix(), 10))
	h.Set("uid", u.Email)
	h.Add("Set-Cookie", "_oscar_session="+randToken()+"; path=/; HttpOnly")
	writeJSON(rq.w, http.StatusOK, map[string]any{"data": map[string]any{
		"id": s.userIDs[u.Email], "email": u.Email, "uid": u.Email, "provider": "email",
		"first_name": "External User", "last_name": "External User", "token": nil,
	}})
}

// protected runs h when the devise_token_auth headers identify a live
// session.
func (s *Server) protected(rq *request, h func(*request)) {
	tok := rq.r.Header.Get("access-token")
	cl := rq.r.Header.Get("client")
	uid := rq.r.Header.Get("uid")
	s.mu.Lock()
	ok := false
	if u, known := s.users[uid]; known && tok != "" && cl != "" {
		now := s.now()
		for _, sess := range s.sessions[uid] {
			if sess.client == cl && simkit.PasswordOK(sess.token, tok) && now.Before(sess.expires) {
				ok = true
				rq.user = u
			}
		}
	}
	s.mu.Unlock()
	if !ok {
		writeJSON(rq.w, http.StatusUnauthorized, map[string]any{"errors": []string{"You need to sign in or sign up before continuing."}})
		return
	}
	h(rq)
}

// ---- ids ----

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// newULID returns a ULID (what OSCaR's GlobalIdentity uses) at time t.
func newULID(t time.Time) string {
	var out [26]byte
	ms := uint64(t.UnixMilli())
	for i := 9; i >= 0; i-- {
		out[i] = crockford[ms&31]
		ms >>= 5
	}
	var rnd [16]byte
	_, _ = rand.Read(rnd[:])
	for i := 10; i < 26; i++ {
		out[i] = crockford[rnd[i-10]&31]
	}
	return string(out[:])
}

func (s *Server) orgID(name string) int {
	if id, ok := s.orgs[name]; ok {
		return id
	}
	id := len(s.orgs) + 1
	s.orgs[name] = id
	s.orgOrder = append(s.orgOrder, name)
	return id
}

func (s *Server) listOrganizations(rq *request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]any, 0, len(s.orgOrder))
	for _, n := range s.orgOrder {
		out = append(out, map[string]any{"id": s.orgs[n], "short_name": n, "full_name": strings.ToUpper(n), "country": "cambodia"})
	}
	writeJSON(rq.w, http.StatusOK, out)
}
