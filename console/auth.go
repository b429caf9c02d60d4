package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/jobmediator/jobmediator/channels/auth"
	"github.com/jobmediator/jobmediator/store"
)

// Cookie and header names (part of the contract in docs/console.md).
const (
	SessionCookie = "jm_session"
	CSRFHeader    = "X-CSRF-Token"
	csrfField     = "csrf_token"
)

// principal is who is making a request: a console user with a session, or
// automation holding a bearer token (acts as admin, audited as "token").
type principal struct {
	User    string
	Role    store.Role
	Session *store.Session // nil for a bearer token
	Addr    string
}

func (p *principal) can(min store.Role) bool { return p != nil && rank(p.Role) >= rank(min) }

func rank(r store.Role) int {
	switch r {
	case store.RoleAdmin:
		return 3
	case store.RoleOperator:
		return 2
	case store.RoleViewer:
		return 1
	}
	return 0
}

type ctxKey struct{}

func withPrincipal(ctx context.Context, p *principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

func who(r *http.Request) *principal {
	p, _ := r.Context().Value(ctxKey{}).(*principal)
	return p
}

// randomToken is 32 random bytes, URL-safe.
func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("console: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// sessionID is what the store keys a session by: the cookie value's hash,
// so a copy of the database does not hold usable cookies.
func sessionID(cookie string) string {
	sum := sha256.Sum256([]byte(cookie))
	return hex.EncodeToString(sum[:])
}

// HashPassword encodes a password with bcrypt at cost.
func HashPassword(password string, cost int) (string, error) {
	if len(password) < 8 {
		return "", errors.New("a password needs at least 8 characters")
	}
	if len(password) > 72 {
		return "", errors.New("a password has at most 72 bytes (bcrypt's limit)")
	}
	b, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	return string(b), err
}

// dummyHash is compared against when the user does not exist, so a login
// takes as long for an unknown user as for a wrong password. It is a
// constant (bcrypt.DefaultCost, of a random password nobody kept), not
// computed at start: generating it cost every process of this binary
// ~50 ms of CPU at init, each job worker and each CLI command included.
var dummyHash = []byte("$2a$10$N8/YSiy8oif9j9poh.4YzeDd1m0uQ3HqoXqF6hiqnVVKsf.axZRcu")

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// authenticate finds the request's principal: a bearer token, else a
// valid session cookie. nil when neither.
func (c *Console) authenticate(r *http.Request) *principal {
	addr := clientAddr(r)
	if got, ok := auth.BearerToken(r); ok { // the scheme in any case (RFC 9110)
		for _, t := range c.o.APITokens {
			if t != "" && subtle.ConstantTimeCompare([]byte(got), []byte(t)) == 1 {
				return &principal{User: "token", Role: store.RoleAdmin, Addr: addr}
			}
		}
		return nil
	}
	ck, err := r.Cookie(SessionCookie)
	if err != nil || ck.Value == "" {
		return nil
	}
	s, err := c.o.Store.GetSession(r.Context(), sessionID(ck.Value), c.now())
	if err != nil {
		return nil
	}
	u, err := c.o.Store.GetUser(r.Context(), s.Username)
	if err != nil {
		return nil
	}
	return &principal{User: u.Username, Role: u.Role, Session: s, Addr: addr}
}

func mutating(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// csrfOK checks the token of a mutating request made with a session: the
// X-CSRF-Token header or the csrf_token form field must equal the session's.
// Bearer-token requests carry no cookie and need none.
func csrfOK(r *http.Request, p *principal) bool {
	if p.Session == nil || !mutating(r.Method) {
		return true
	}
	got := r.Header.Get(CSRFHeader)
	if got == "" {
		got = r.PostFormValue(csrfField)
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(p.Session.CSRF)) == 1
}

// throttle limits failed logins per client address and per username: after
// max failures within window, further attempts are refused until the
// oldest failure leaves the window. A success clears the username's count.
type throttle struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	fails  map[string][]time.Time
}

func newThrottle(max int, window time.Duration) *throttle {
	return &throttle{max: max, window: window, fails: map[string][]time.Time{}}
}

// wait is how long key must wait before its next attempt (0: go ahead).
func (t *throttle) wait(key string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.prune(key, now)
	if len(f) < t.max {
		return 0
	}
	return f[0].Add(t.window).Sub(now)
}

func (t *throttle) fail(key string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.fails[key] = append(t.prune(key, now), now)
	// Bound memory under a spray of addresses: forget keys whose failures
	// have all left the window.
	if len(t.fails) > 10000 {
		for k := range t.fails {
			t.prune(k, now)
		}
	}
}

func (t *throttle) reset(key string) {
	t.mu.Lock()
	delete(t.fails, key)
	t.mu.Unlock()
}

func (t *throttle) prune(key string, now time.Time) []time.Time {
	f := t.fails[key]
	i := 0
	for i < len(f) && !f[i].After(now.Add(-t.window)) {
		i++
	}
	f = f[i:]
	if len(f) == 0 {
		delete(t.fails, key)
		return nil
	}
	t.fails[key] = f
	return f
}

// errThrottled carries how long to wait.
type errThrottled struct{ wait time.Duration }

func (e errThrottled) Error() string { return "too many failed logins; try again later" }

var errBadLogin = errors.New("wrong username or password")

// login checks credentials and creates a fresh session. Any session the
// browser already had is deleted first, so a session id planted before
// login (fixation) never becomes an authenticated one.
func (c *Console) login(ctx context.Context, r *http.Request, username, password string) (cookie string, s *store.Session, err error) {
	now := c.now()
	addr := clientAddr(r)
	ipKey, userKey := "ip:"+addr, "user:"+strings.ToLower(username)
	if w := max(c.throttle.wait(ipKey, now), c.throttle.wait(userKey, now)); w > 0 {
		return "", nil, errThrottled{w}
	}
	u, err := c.o.Store.GetUser(ctx, username)
	hash := dummyHash
	if err == nil {
		hash = []byte(u.PasswordHash)
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", nil, err
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || u == nil {
		c.throttle.fail(ipKey, now)
		c.throttle.fail(userKey, now)
		return "", nil, errBadLogin
	}
	c.throttle.reset(userKey)
	if old, err := r.Cookie(SessionCookie); err == nil && old.Value != "" {
		_ = c.o.Store.DeleteSession(ctx, sessionID(old.Value))
	}
	cookie = randomToken()
	s = &store.Session{ID: sessionID(cookie), Username: u.Username, CSRF: randomToken(),
		Created: now, Expires: now.Add(c.o.SessionTTL), Addr: addr}
	if err := c.o.Store.CreateSession(ctx, s); err != nil {
		return "", nil, err
	}
	return cookie, s, nil
}

// setSessionCookie writes the cookie: HttpOnly, SameSite=Lax (a link from
// the OpenHIM console still arrives logged in; a cross-site POST does not
// carry it), Secure when the request came over TLS.
func (c *Console) setSessionCookie(w http.ResponseWriter, r *http.Request, value string, expires time.Time) {
	// G124: Secure follows the request's scheme (a console on plain HTTP
	// behind OpenHIM's proxy must still log in); HttpOnly and SameSite are set.
	ck := &http.Cookie{Name: SessionCookie, Value: value, Path: "/", HttpOnly: true, //nolint:gosec // G124: see above
		SameSite: http.SameSiteLaxMode, Secure: c.secure(r)}
	if value == "" {
		ck.MaxAge = -1
	} else {
		ck.Expires = expires
	}
	http.SetCookie(w, ck)
}

func (c *Console) secure(r *http.Request) bool {
	return r.TLS != nil || c.o.SecureCookies
}
