// Package openhim is an in-process fake of OpenHIM core (openhim-core-js
// 8.5): the REST API (auth, mediators, heartbeat, channels, transactions,
// tasks), the HTTP router (request matching, client auth, routing to
// mediators, application/json+openhim processing, status derivation, body
// truncation), reruns and polling channels. It exists so that the mediator
// can be contract-tested without a real core; production code never imports
// it.
//
// It copies core's observable behaviour, including its quirks (the stray
// "User Authenticated Successfully" body under Basic auth, unmasked passwords
// in GET /mediators, one-shot config delivery, unvalidated default channels,
// PATCH reruns without a body, lower-cased rerun headers). The rules come
// from /work/shared/design/openhim.md; section numbers in comments refer to
// it. Everything is held in memory as JSON-like documents guarded by one
// mutex.
//
// Deliberate simplifications (none changes what a mediator can observe in
// the contract cases):
//   - API and router speak plain HTTP; secured routes use Options.RouteTLS
//     instead of core's keystore, and no client certificate is presented.
//   - Passwords are checked as sha512(salt+password) for every user (core
//     uses bcrypt for local passports; the answers are the same). RBAC roles
//     of unreleased core are not modelled: "admin" in the user's groups is
//     the permission, as in 8.5.
//   - Channel changes take effect at once (core caches channels for ~1 s).
//   - The channel timeout bounds the whole route exchange, not socket
//     inactivity. matchContentXpath never matches. Koa's response gzip is
//     not applied.
//   - Reruns and polling runs are dispatched in-process rather than through
//     core's internal HTTP servers (7786/7788); the requests routes receive
//     are the same, except that a PATCH rerun carries Content-Length: 0
//     instead of the stale original length.
//   - Tasks from POST /tasks run at once in the background; auto-retry
//     runs only when RunAutoRetry is called; polling uses a real timer
//     unless DisablePolling is set (then TriggerPolling fires by hand).
//   - No metrics, events, alerts, audits, TCP/TLS/Kafka channels, users or
//     clients API; add users and clients with AddUser and AddClient.
package openhim

import (
	"context"
	"crypto/rand"
	"crypto/sha512"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Root user created by New, as in core's src/server.js.
const (
	RootEmail    = "root@openhim.org"
	RootPassword = "openhim-password"
	RootSalt     = "d9bcb40e-ae65-478f-962e-5e5e5e7d0a01"
)

// Options configure a Core. The zero value simulates core 8.5.0 in UTC.
type Options struct {
	Version         string        // reported by GET /about, default "8.5.0"
	AuthTypes       []string      // api.authenticationTypes, default ["basic","local","token"]
	AuthWindow      time.Duration // token auth window, default 10s
	Now             func() time.Time
	MaxBodiesSizeMB int    // api.maxBodiesSizeMB, default 15, clamped to 1–15
	TimeZone        string // serverTimezone (IANA), default "UTC"

	// APIAddr and RouterAddr are the listen addresses; default 127.0.0.1:0.
	APIAddr, RouterAddr string
	// RouterTimeout is router.timeout, used when a channel has no timeout;
	// default 60s.
	RouterTimeout time.Duration
	// DisablePolling turns the polling scheduler off: saving a polling
	// channel then fires nothing, and tests fire it with TriggerPolling.
	DisablePolling bool
	// RouteTLS is the TLS configuration for secured routes (core would use
	// its keystore); default: system roots.
	RouteTLS *tls.Config
}

// User is an API user. Password is checked as sha512(salt+password) for Basic
// auth and cookie logins (core ≥7.2 uses bcrypt for local passports; the
// observable behaviour is the same). Only users with TokenPassport can use the
// legacy token scheme and GET /authenticate/:email (§1.4).
type User struct {
	Email, Password string
	Groups          []string
	TokenPassport   bool
}

// Client is a router client, authenticated with Basic auth against
// sha512(password+salt) (§7.1: the opposite order to users).
type Client struct {
	ClientID, Name, Password string
	Roles                    []string
}

type user struct {
	email, salt, hash string
	groups            []string
	token             bool
}

type client struct {
	id, clientID, name, salt, hash string
	roles                          []string
}

// RecordedRequest is one request received by the API.
type RecordedRequest struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     string
	Time     time.Time
}

// Core is the simulated OpenHIM core.
type Core struct {
	opts    Options
	loc     *time.Location
	started time.Time
	routeHC *http.Client

	mu        sync.Mutex
	users     map[string]*user // lower-cased email
	clients   map[string]*client
	mediators map[string]map[string]any
	medOrder  []string
	channels  []map[string]any
	txs       map[string]map[string]any
	txOrder   []string
	tasks     map[string]map[string]any
	taskOrder []string
	sessions  map[string]string
	requests  []RecordedRequest
	pollers   map[string]*poller
	retryQ    map[string]bool

	apiSrv, routerSrv *http.Server
	apiURL, routerURL string
	closing           chan struct{}
	tzErr             error
	closeOnce         sync.Once
	inflight          tracker
}

// tracker counts in-flight work. A sync.WaitGroup does not fit: Wait may
// be called at any time while requests keep arriving, which the WaitGroup
// contract forbids.
type tracker struct {
	mu   sync.Mutex
	cond *sync.Cond
	n    int
}

func (t *tracker) Add(d int) {
	t.mu.Lock()
	t.n += d
	if t.n == 0 && t.cond != nil {
		t.cond.Broadcast()
	}
	t.mu.Unlock()
}

func (t *tracker) Done() { t.Add(-1) }

func (t *tracker) Wait() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cond == nil {
		t.cond = sync.NewCond(&t.mu)
	}
	for t.n > 0 {
		t.cond.Wait()
	}
}

// New returns a Core with the root user (groups [admin], token passport).
func New(opts Options) *Core {
	if opts.Version == "" {
		opts.Version = "8.5.0"
	}
	if opts.AuthTypes == nil {
		opts.AuthTypes = []string{"basic", "local", "token"}
	}
	if opts.AuthWindow <= 0 {
		opts.AuthWindow = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	// Core clamps the budget because of Mongo's 16 MB document limit (§5.7).
	if opts.MaxBodiesSizeMB <= 0 || opts.MaxBodiesSizeMB > 15 {
		opts.MaxBodiesSizeMB = 15
	}
	if opts.TimeZone == "" {
		opts.TimeZone = "UTC"
	}
	if opts.RouterTimeout <= 0 {
		opts.RouterTimeout = 60 * time.Second
	}
	if opts.APIAddr == "" {
		opts.APIAddr = "127.0.0.1:0"
	}
	if opts.RouterAddr == "" {
		opts.RouterAddr = "127.0.0.1:0"
	}
	loc, tzErr := time.LoadLocation(opts.TimeZone)
	if tzErr != nil {
		loc = time.UTC // Start reports the error
	}
	tr := &http.Transport{
		Proxy:              nil,
		DisableCompression: true, // core forwards the client's accept-encoding itself
		TLSClientConfig:    opts.RouteTLS,
		DisableKeepAlives:  true, // core's requests to routes use Connection: close
	}
	c := &Core{
		opts:      opts,
		loc:       loc,
		started:   opts.Now(),
		routeHC:   &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		users:     map[string]*user{},
		clients:   map[string]*client{},
		mediators: map[string]map[string]any{},
		txs:       map[string]map[string]any{},
		tasks:     map[string]map[string]any{},
		sessions:  map[string]string{},
		pollers:   map[string]*poller{},
		retryQ:    map[string]bool{},
		closing:   make(chan struct{}),
		tzErr:     tzErr,
	}
	c.users[RootEmail] = &user{email: RootEmail, salt: RootSalt, hash: sha512hex(RootSalt + RootPassword),
		groups: []string{"admin"}, token: true}
	return c
}

// AddUser adds or replaces an API user.
func (c *Core) AddUser(u User) {
	salt := newUUID()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.users[strings.ToLower(u.Email)] = &user{email: u.Email, salt: salt, hash: sha512hex(salt + u.Password),
		groups: append([]string(nil), u.Groups...), token: u.TokenPassport}
}

// AddClient adds a router client and returns its _id.
func (c *Core) AddClient(cl Client) string {
	salt := newUUID()
	id := c.newID()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clients[id] = &client{id: id, clientID: cl.ClientID, name: cl.Name, salt: salt,
		hash: sha512hex(cl.Password + salt), roles: append([]string(nil), cl.Roles...)}
	return id
}

// Start listens with the API and the router (plain HTTP) and starts the
// polling schedules of existing channels.
func (c *Core) Start() error {
	if c.tzErr != nil {
		return fmt.Errorf("openhim sim: TimeZone %q: %w", c.opts.TimeZone, c.tzErr)
	}
	if c.apiSrv != nil {
		return errors.New("openhim sim: already started")
	}
	apiL, err := net.Listen("tcp", c.opts.APIAddr)
	if err != nil {
		return fmt.Errorf("openhim sim: api listen: %w", err)
	}
	rL, err := net.Listen("tcp", c.opts.RouterAddr)
	if err != nil {
		apiL.Close()
		return fmt.Errorf("openhim sim: router listen: %w", err)
	}
	c.apiSrv = &http.Server{Handler: http.HandlerFunc(c.serveAPI), ReadHeaderTimeout: 10 * time.Second}
	c.routerSrv = &http.Server{Handler: http.HandlerFunc(c.serveRouter), ReadHeaderTimeout: 10 * time.Second}
	c.apiURL = "http://" + apiL.Addr().String()
	c.routerURL = "http://" + rL.Addr().String()
	// Serve returns http.ErrServerClosed after Close; a test sees any
	// other failure as refused connections.
	go func() { _ = c.apiSrv.Serve(apiL) }()
	go func() { _ = c.routerSrv.Serve(rL) }()
	// Core (re)registers every enabled polling channel on start (§4.6).
	c.ReschedulePolling()
	return nil
}

// APIURL is the base URL of the API, e.g. http://127.0.0.1:41234.
func (c *Core) APIURL() string { return c.apiURL }

// RouterURL is the base URL of the HTTP router.
func (c *Core) RouterURL() string { return c.routerURL }

// Close stops the servers, the polling schedules and waits for in-flight
// routing to end.
func (c *Core) Close() {
	c.closeOnce.Do(func() {
		close(c.closing)
		c.mu.Lock()
		var stopped []*poller
		for id, p := range c.pollers {
			p.stop()
			stopped = append(stopped, p)
			delete(c.pollers, id)
		}
		c.mu.Unlock()
		for _, p := range stopped {
			<-p.done
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if c.apiSrv != nil {
			_ = c.apiSrv.Shutdown(ctx)
		}
		if c.routerSrv != nil {
			_ = c.routerSrv.Shutdown(ctx)
		}
		c.inflight.Wait()
	})
}

// Wait blocks until every routed request, rerun and polling run that is in
// flight has finished and its transaction reached its final state. The
// client gets the primary response before secondary routes finish (as in
// core), so tests with secondaries call Wait before reading transactions.
func (c *Core) Wait() { c.inflight.Wait() }

// Requests returns every API request received so far, in order.
func (c *Core) Requests() []RecordedRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]RecordedRequest, len(c.requests))
	for i, r := range c.requests {
		r.Header = r.Header.Clone()
		out[i] = r
	}
	return out
}

func (c *Core) now() time.Time { return c.opts.Now() }

// ---- ids and hashing

var (
	oidProc    [5]byte
	oidCounter atomic.Uint32
)

func init() {
	var b [9]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	copy(oidProc[:], b[:5])
	oidCounter.Store(binary.BigEndian.Uint32(b[5:]))
}

// newID returns a Mongo ObjectId (24 hex digits) stamped with the core clock.
func (c *Core) newID() string {
	var b [12]byte
	binary.BigEndian.PutUint32(b[0:4], uint32(c.now().Unix()))
	copy(b[4:9], oidProc[:])
	n := oidCounter.Add(1)
	b[9], b[10], b[11] = byte(n>>16), byte(n>>8), byte(n)
	return hex.EncodeToString(b[:])
}

func isObjectID(s string) bool {
	if len(s) != 24 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func sha512hex(s string) string {
	sum := sha512.Sum512([]byte(s))
	return hex.EncodeToString(sum[:])
}

// PasswordHash is a user's stored hash: hex(sha512(salt+password)) (§1.1).
func PasswordHash(salt, password string) string { return sha512hex(salt + password) }

// AuthToken is the legacy auth-token header value:
// hex(sha512(hex(sha512(userSalt+password)) + authSalt + authTS)) (§1.1).
func AuthToken(userSalt, password, authSalt, authTS string) string {
	return sha512hex(PasswordHash(userSalt, password) + authSalt + authTS)
}

// ---- JSON document helpers

// clone deep-copies a JSON-like value so callers never share state with the
// store.
func clone(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = clone(x)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, x := range t {
			s[i] = clone(x)
		}
		return s
	case []map[string]any:
		s := make([]any, len(t))
		for i, x := range t {
			s[i] = clone(x)
		}
		return s
	case []string:
		s := make([]any, len(t))
		for i, x := range t {
			s[i] = x
		}
		return s
	default:
		return v
	}
}

func cloneDoc(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	return clone(m).(map[string]any)
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func boolean(v any) bool {
	b, _ := v.(bool)
	return b
}

func obj(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func arr(v any) []any {
	a, _ := v.([]any)
	return a
}

// num reads a JSON number (or numeric string, as Mongoose casts) as float64.
func num(v any) (float64, bool) {
	switch t := v.(type) {
	case float64:
		return t, true
	case int:
		return float64(t), true
	case int64:
		return float64(t), true
	}
	return 0, false
}

func stringsOf(v any) []string {
	var out []string
	for _, x := range arr(v) {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// isoTime formats a time as JS Date.toISOString() does.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// ErrNotFound is returned by the Go API for unknown ids.
var ErrNotFound = errors.New("openhim sim: not found")

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
