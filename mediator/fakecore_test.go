package mediator

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeCore reproduces the answers of openhim-core-js 8.5 that the client
// depends on (openhim.md §1–§3, §7.1, §15), with switches for the variants.
type fakeCore struct {
	t *testing.T

	mu sync.Mutex
	// users
	email, password, salt string
	basicEnabled          bool
	tokenEnabled          bool
	forbidden             bool          // authenticated but not permitted: 403
	clockOffset           time.Duration // core's clock minus real time
	// state
	registered    map[string]Registration
	regFailures   int      // answer the next N registrations with 503
	hbBodies      []string // queued heartbeat bodies, else ""
	hbStatus      []int    // queued heartbeat statuses, else 200
	storedConfig  map[string]any
	channelsExist bool
	// log of every request
	reqs []recordedReq
}

type recordedReq struct {
	Method, Path string
	Header       http.Header
	Body         string
}

const (
	rootEmail    = "root@openhim.org"
	rootPassword = "openhim-password"
	rootSalt     = "d9bcb40e-ae65-478f-962e-5e5e5e7d0a01"
)

func newFakeCore(t *testing.T) *fakeCore {
	return &fakeCore{t: t, email: rootEmail, password: rootPassword, salt: rootSalt,
		basicEnabled: true, tokenEnabled: true, registered: map[string]Registration{}}
}

func (f *fakeCore) start() *httptest.Server {
	s := httptest.NewServer(f)
	f.t.Cleanup(s.Close)
	return s
}

func (f *fakeCore) requests() []recordedReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recordedReq(nil), f.reqs...)
}

func (f *fakeCore) count(method, path string) int {
	n := 0
	for _, r := range f.requests() {
		if r.Method == method && r.Path == path {
			n++
		}
	}
	return n
}

func (f *fakeCore) text(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// authenticate mirrors core ≥7.2: any auth-* header means token only.
func (f *fakeCore) authenticate(r *http.Request) (ok bool, viaBasic bool) {
	if r.Header.Get("auth-username") != "" || r.Header.Get("auth-token") != "" || r.Header.Get("auth-ts") != "" || r.Header.Get("auth-salt") != "" {
		if !f.tokenEnabled {
			return false, false
		}
		user, ts, salt, tok := r.Header.Get("auth-username"), r.Header.Get("auth-ts"), r.Header.Get("auth-salt"), r.Header.Get("auth-token")
		if user == "" || ts == "" || salt == "" || tok == "" || !strings.EqualFold(user, f.email) {
			return false, false
		}
		when, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return false, false
		}
		coreNow := time.Now().Add(f.clockOffset)
		if d := coreNow.Sub(when); d > 10*time.Second || d < -10*time.Second {
			return false, false
		}
		return tok == Token(PasswordHash(f.salt, f.password), salt, ts), false
	}
	h := r.Header.Get("Authorization")
	if !strings.HasPrefix(h, "Basic ") || !f.basicEnabled {
		return false, false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h, "Basic "))
	if err != nil {
		return false, false
	}
	u, p, _ := strings.Cut(string(raw), ":")
	return strings.EqualFold(u, f.email) && p == f.password, true
}

func (f *fakeCore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, recordedReq{Method: r.Method, Path: r.URL.EscapedPath(), Header: r.Header.Clone(), Body: string(body)})

	if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/authenticate/") {
		email := strings.TrimPrefix(r.URL.Path, "/authenticate/")
		if !strings.EqualFold(email, f.email) || !f.tokenEnabled {
			f.text(w, 404, "Could not find user by email "+email)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"salt": f.salt, "ts": time.Now().Add(f.clockOffset).UTC().Format(TokenTimeLayout)})
		return
	}
	ok, viaBasic := f.authenticate(r)
	if !ok {
		f.text(w, 401, "Unauthorized")
		return
	}
	if f.forbidden {
		f.text(w, 403, "User "+f.email+" is not an admin, API access to addMediator denied.")
		return
	}
	// Under Basic, core's middleware leaves this body on status-only answers.
	stray := ""
	if viaBasic {
		stray = "User Authenticated Successfully"
	}
	p := r.URL.Path
	switch {
	case r.Method == http.MethodGet && p == "/about":
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"currentCoreVersion":"8.5.0","serverTimezone":"Africa/Johannesburg"}`)
	case r.Method == http.MethodPost && p == "/mediators":
		if f.regFailures > 0 {
			f.regFailures--
			f.text(w, 503, "Service Unavailable")
			return
		}
		if r.Header.Get("Content-Type") != "application/json" {
			f.text(w, 400, "URN is required")
			return
		}
		var reg Registration
		if err := json.Unmarshal(body, &reg); err != nil || reg.URN == "" {
			f.text(w, 400, "URN is required")
			return
		}
		if reg.Name == "" {
			f.text(w, 400, "Could not add Mediator via the API: ValidationError: name: Path `name` is required.")
			return
		}
		if _, exists := f.registered[reg.URN]; !exists && f.storedConfig == nil {
			f.storedConfig = reg.Config
		}
		f.registered[reg.URN] = reg
		f.text(w, 201, stray)
	case r.Method == http.MethodPost && strings.HasPrefix(p, "/mediators/") && strings.HasSuffix(p, "/heartbeat"):
		urn := strings.TrimSuffix(strings.TrimPrefix(p, "/mediators/"), "/heartbeat")
		var hb map[string]any
		if err := json.Unmarshal(body, &hb); err != nil || hb["uptime"] == nil {
			f.text(w, 400, "Bad Request")
			return
		}
		if len(f.hbStatus) > 0 {
			st := f.hbStatus[0]
			f.hbStatus = f.hbStatus[1:]
			if st == 404 {
				delete(f.registered, urn)
			}
			if st != 200 {
				f.text(w, st, http.StatusText(st))
				return
			}
		}
		if _, ok := f.registered[urn]; !ok {
			f.text(w, 404, stray)
			return
		}
		if len(f.hbBodies) > 0 {
			b := f.hbBodies[0]
			f.hbBodies = f.hbBodies[1:]
			f.text(w, 200, b)
			return
		}
		if hb["config"] == true {
			if f.storedConfig == nil {
				f.text(w, 200, "OK")
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(f.storedConfig)
			return
		}
		f.text(w, 200, "")
	case r.Method == http.MethodPost && strings.HasPrefix(p, "/mediators/") && strings.HasSuffix(p, "/channels"):
		urn := strings.TrimSuffix(strings.TrimPrefix(p, "/mediators/"), "/channels")
		reg, ok := f.registered[urn]
		if !ok {
			f.text(w, 404, "No mediator found for this urn.")
			return
		}
		var names []string
		_ = json.Unmarshal(body, &names)
		for _, n := range names {
			found := false
			for _, ch := range reg.DefaultChannelConfig {
				found = found || ch.Name == n
			}
			if !found {
				f.text(w, 400, "Could not load mediator default channel config, one or more channels in the request body not found in the mediator config (See server log for details)")
				return
			}
		}
		if f.channelsExist {
			f.text(w, 500, `Could not add channels via the API: MongoServerError: E11000 duplicate key error collection: openhim.channels index: name_1 dup key: { name: "x" }`)
			return
		}
		f.channelsExist = true
		f.text(w, 201, stray)
	case r.Method == http.MethodPost && p == "/transactions":
		f.text(w, 201, "Transaction successfully added")
	case r.Method == http.MethodPut && strings.HasPrefix(p, "/transactions/"):
		id := strings.TrimPrefix(p, "/transactions/")
		if id == "000000000000000000000000" {
			f.text(w, 500, "Could not update transaction via the API: Cannot read properties of null")
			return
		}
		f.text(w, 200, "Transaction with ID: "+id+" successfully updated")
	default:
		f.text(w, 404, "Not Found")
	}
}
