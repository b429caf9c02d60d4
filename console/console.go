// Package console is the operator console: server-rendered pages under
// /console/ (dashboard, runs, run detail, workflows, dead letters, users,
// audit, settings) and the JSON routes that go with them under /api (users,
// exports, audit). Assets are embedded; nothing is fetched from the network
// and nothing is built at run time.
//
// Access: local users in the store (bcrypt), roles admin/operator/viewer,
// sessions in HttpOnly SameSite cookies, a CSRF token on every mutating
// request, throttled logins. The bearer tokens of the operator API keep
// working (as admin, audited as "token"). See docs/console.md.
package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"sync"
	"time"

	"github.com/jobmediator/jobmediator/internal/apijson"

	"github.com/gorilla/mux"
	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"

	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/mediator"
	"github.com/jobmediator/jobmediator/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Operations are the actions the console asks of the running mediator. The
// daemon implements them on top of the channels.
type Operations interface {
	// RunNow runs a workflow once with state as its whole initial state
	// (nil: as its schedule would) and returns when it has finished.
	RunNow(ctx context.Context, workflow string, state json.RawMessage) (RunOutcome, error)
}

// RunOutcome is what RunNow reports.
type RunOutcome struct {
	RunID  string
	Status string
	Error  string
}

// Options configure the console.
type Options struct {
	Store    store.Store
	Project  *config.Project
	Ops      Operations
	Redactor *redact.Redactor
	Logger   logrus.FieldLogger
	// APITokens are the operator API's bearer tokens (JM_API_TOKEN).
	APITokens []string
	// AdminPassword is JM_ADMIN_PASSWORD for the first admin; empty
	// generates one, written once to FirstRunOut.
	AdminPassword string
	FirstRunOut   io.Writer
	// SessionTTL is how long a login lasts; default 8h.
	SessionTTL time.Duration
	// SecureCookies marks cookies Secure even without TLS on this hop
	// (TLS terminated by a proxy in front).
	SecureCookies bool
	// OpenHIMConsoleURL links runs to their transaction in the OpenHIM
	// console (e.g. http://localhost:9000); empty: the id is shown only.
	OpenHIMConsoleURL string
	// OpenHIM reports registration and heartbeat; nil when not registering.
	OpenHIM func() mediator.RegistrarStatus
	// NextTicks lists a workflow's next n cron ticks (none for no cron).
	NextTicks func(workflow string, n int) []time.Time
	// CursorKeys names the store keys of a workflow's cursors (the
	// scheduler's schedule.CursorKeys); nil shows none.
	CursorKeys func(workflow string) map[string]string
	// BcryptCost defaults to bcrypt.DefaultCost (tests lower it).
	BcryptCost int
	// Login throttling: LoginFailures failures within LoginWindow per
	// address or username lock further attempts; default 5 per 5 minutes.
	LoginFailures int
	LoginWindow   time.Duration
	// ManualWait is how long a run-now or retry is waited for before the
	// browser is sent to the live runs list instead; default 10s.
	ManualWait time.Duration
	// Settings lists what the settings page shows (name → value), already
	// free of secrets.
	Settings []Setting
	Now      func() time.Time
}

// Setting is one row of the settings page.
type Setting struct{ Name, Value string }

// Section is an extra part of the settings page contributed by another
// package (e.g. notifications): a title and a handler that renders an HTML
// fragment for GET and handles its own POSTs (admin only, CSRF checked,
// audited as "settings.<Key>").
type Section struct {
	Key   string
	Title string
	// Render writes the section's HTML (trusted markup); csrf is the token
	// to put in its forms' csrf_token field.
	Render func(ctx context.Context, csrf string) (string, error)
	// Post handles a form posted to /console/settings/<Key>; the returned
	// text is shown to the admin and recorded in the audit log.
	Post func(r *http.Request) (string, error)
}

// Console serves the pages and their API.
type Console struct {
	o        Options
	throttle *throttle
	pages    map[string]*pageTemplate
	paused   *switches
	mu       sync.Mutex
	sections []Section
	// cachedStats is the dashboard's last run statistics (see statsTTL).
	cachedStats *runStats
	bg          sync.WaitGroup // run-now and retries still going
	closing     chan struct{}  // closed by Shutdown: live streams end
	once        sync.Once
}

// New checks options; call Start before serving.
func New(o Options) (*Console, error) {
	if o.Store == nil || o.Project == nil {
		return nil, errors.New("console: a store and a project are required")
	}
	if o.Redactor == nil {
		o.Redactor = redact.New()
	}
	if o.Logger == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		o.Logger = l
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 8 * time.Hour
	}
	if o.BcryptCost == 0 {
		o.BcryptCost = bcrypt.DefaultCost
	}
	if o.LoginFailures <= 0 {
		o.LoginFailures = 5
	}
	if o.LoginWindow <= 0 {
		o.LoginWindow = 5 * time.Minute
	}
	if o.ManualWait <= 0 {
		o.ManualWait = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CursorKeys == nil {
		o.CursorKeys = func(string) map[string]string { return nil }
	}
	if o.NextTicks == nil {
		o.NextTicks = func(string, int) []time.Time { return nil }
	}
	if o.AdminPassword != "" {
		o.Redactor.AddValues(o.AdminPassword)
	}
	pages, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	return &Console{o: o, throttle: newThrottle(o.LoginFailures, o.LoginWindow), pages: pages,
		paused: &switches{st: o.Store}, closing: make(chan struct{})}, nil
}

func (c *Console) now() time.Time { return c.o.Now().UTC() }

// AddSection adds a part to the settings page (see Section).
func (c *Console) AddSection(s Section) {
	c.mu.Lock()
	c.sections = append(c.sections, s)
	c.mu.Unlock()
}

// Start creates the first admin when the store has no user yet: `admin`
// with Options.AdminPassword, or a generated password written once to
// FirstRunOut. It also loads the pause switches.
func (c *Console) Start(ctx context.Context) error {
	if err := c.paused.load(ctx, c.o.Project); err != nil {
		return err
	}
	users, err := c.o.Store.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("console: reading users: %w", err)
	}
	if len(users) > 0 {
		return nil
	}
	pw, generated := c.o.AdminPassword, false
	if pw == "" {
		pw, generated = randomToken()[:20], true
	}
	hash, err := HashPassword(pw, c.o.BcryptCost)
	if err != nil {
		return fmt.Errorf("console: JM_ADMIN_PASSWORD: %w", err)
	}
	now := c.now()
	err = c.o.Store.CreateUser(ctx, &store.User{Username: "admin", PasswordHash: hash, Role: store.RoleAdmin, Created: now, Updated: now})
	if errors.Is(err, store.ErrDuplicate) {
		return nil // another replica made it first
	}
	if err != nil {
		return fmt.Errorf("console: creating the first admin: %w", err)
	}
	c.audit(ctx, &principal{User: "system"}, "user.create", "admin", "first-run admin", true)
	if generated && c.o.FirstRunOut != nil {
		// Written straight to the output, not through the redacting
		// logger: this is the one time the operator sees it.
		fmt.Fprintf(c.o.FirstRunOut, "console: first-run admin created: username admin, password %s (shown once; change it under Users)\n", pw)
	} else {
		c.o.Logger.Info("console: first-run admin created from JM_ADMIN_PASSWORD: username admin")
	}
	return nil
}

// Run culls expired sessions and the orchestrations of culled runs every
// interval until ctx ends.
func (c *Console) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := c.o.Store.CullAccounts(ctx, c.now()); err != nil && ctx.Err() == nil {
			c.o.Logger.WithError(err).Warn("console: culling sessions failed")
		} else if n > 0 {
			c.o.Logger.WithField("removed", n).Debug("console: culled expired sessions and orphaned orchestrations")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Paused reports whether an operator paused the workflow in the console.
func (c *Console) Paused(workflow string) bool { return c.paused.paused(workflow) }

// Shutdown ends the live-refresh streams, so a server's graceful shutdown
// does not wait for open browser tabs (http.Server.RegisterOnShutdown).
func (c *Console) Shutdown() { c.once.Do(func() { close(c.closing) }) }

// Wait waits for run-now and retries started from the console.
func (c *Console) Wait() { c.bg.Wait() }

// Handler serves /console/... and the console's /api routes.
func (c *Console) Handler() http.Handler {
	r := mux.NewRouter()
	c.Register(r)
	return r
}

// Register adds the console's routes to r: the pages under /console/ and
// the API routes (see RegisterAPI). Register them before a catch-all /api
// route.
func (c *Console) Register(r *mux.Router) {
	c.RegisterAPI(r)
	c.RegisterPages(r)
}

// RegisterPages adds the pages under /console/.
func (c *Console) RegisterPages(r *mux.Router) {
	static, _ := fs.Sub(staticFS, "static")
	r.PathPrefix("/console/static/").Handler(http.StripPrefix("/console/static/", cacheStatic(http.FileServer(http.FS(static)))))
	r.HandleFunc("/console", func(w http.ResponseWriter, req *http.Request) {
		http.Redirect(w, req, "/console/", http.StatusSeeOther)
	})
	r.HandleFunc("/console/login", c.loginPage).Methods(http.MethodGet)
	r.HandleFunc("/console/login", c.loginPost).Methods(http.MethodPost)
	r.Handle("/console/logout", c.page(store.RoleViewer, c.logout)).Methods(http.MethodPost)

	view, op, admin := store.RoleViewer, store.RoleOperator, store.RoleAdmin
	r.Handle("/console/", c.page(view, c.dashboard)).Methods(http.MethodGet)
	r.Handle("/console/events", c.page(view, c.events)).Methods(http.MethodGet)
	r.Handle("/console/runs", c.page(view, c.runsPage)).Methods(http.MethodGet)
	r.Handle("/console/runs/{id}", c.page(view, c.runPage)).Methods(http.MethodGet)
	r.Handle("/console/runs/{id}/retry", c.page(op, c.retryRun)).Methods(http.MethodPost)
	r.Handle("/console/workflows", c.page(view, c.workflowsPage)).Methods(http.MethodGet)
	r.Handle("/console/workflows/{key}", c.page(view, c.workflowPage)).Methods(http.MethodGet)
	r.Handle("/console/workflows/{key}/run", c.page(op, c.runWorkflow)).Methods(http.MethodPost)
	r.Handle("/console/workflows/{key}/pause", c.page(op, c.pauseWorkflow(true))).Methods(http.MethodPost)
	r.Handle("/console/workflows/{key}/enable", c.page(op, c.pauseWorkflow(false))).Methods(http.MethodPost)
	r.Handle("/console/dead", c.page(view, c.deadPage)).Methods(http.MethodGet)
	r.Handle("/console/dead/retry", c.page(op, c.retryDeadBulk)).Methods(http.MethodPost)
	r.Handle("/console/dead/{id}/retry", c.page(op, c.retryDead)).Methods(http.MethodPost)
	r.Handle("/console/export", c.page(view, c.export)).Methods(http.MethodGet)
	r.Handle("/console/audit", c.page(view, c.auditPage)).Methods(http.MethodGet)
	r.Handle("/console/users", c.page(admin, c.usersPage)).Methods(http.MethodGet)
	r.Handle("/console/users", c.page(admin, c.createUserForm)).Methods(http.MethodPost)
	r.Handle("/console/users/{name}/delete", c.page(admin, c.deleteUserForm)).Methods(http.MethodPost)
	r.Handle("/console/users/{name}/password", c.page(view, c.passwordForm)).Methods(http.MethodPost)
	r.Handle("/console/settings", c.page(admin, c.settingsPage)).Methods(http.MethodGet)
	r.Handle("/console/settings/{key}", c.page(admin, c.settingsPost)).Methods(http.MethodPost)
	r.PathPrefix("/console/").Handler(c.page(view, func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, http.StatusNotFound, "There is no console page at "+r.URL.Path+".")
	}))
}

// RegisterAPI adds /api/me, /api/users, /api/runs/export,
// /api/logs/export and /api/audit.
func (c *Console) RegisterAPI(r *mux.Router) {
	view, admin := store.RoleViewer, store.RoleAdmin
	r.Handle("/api/me", c.api(view, c.apiMe)).Methods(http.MethodGet)
	r.Handle("/api/users", c.api(admin, c.apiUsers)).Methods(http.MethodGet)
	r.Handle("/api/users", c.api(admin, c.apiCreateUser)).Methods(http.MethodPost)
	r.Handle("/api/users/{name}", c.api(admin, c.apiDeleteUser)).Methods(http.MethodDelete)
	r.Handle("/api/runs/export", c.api(view, c.export)).Methods(http.MethodGet)
	r.Handle("/api/logs/export", c.api(view, c.exportLogs)).Methods(http.MethodGet)
	r.Handle("/api/audit", c.api(view, c.apiAudit)).Methods(http.MethodGet)
}

func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		h.ServeHTTP(w, r)
	})
}

// securityHeaders keep pages from being framed or sniffed and only let
// them load the console's own assets.
func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// page guards a console page: a login is required (else to the login
// page), the role must suffice (else 403), and a mutating request must
// carry the CSRF token (else 403).
func (c *Console) page(min store.Role, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w)
		p := c.authenticate(r)
		if p == nil {
			if mutating(r.Method) || r.URL.Path == "/console/events" {
				http.Error(w, "log in first", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/console/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther) //nolint:gosec // G710: a redirect to our own login page; the original URI is only a query-escaped parameter
			return
		}
		r = r.WithContext(withPrincipal(r.Context(), p))
		if !csrfOK(r, p) {
			c.fail(w, r, http.StatusForbidden, "The form was missing its security token (CSRF). Reload the page and try again.")
			return
		}
		if !p.can(min) {
			c.fail(w, r, http.StatusForbidden, fmt.Sprintf("Your role (%s) may not do this; it needs %s.", p.Role, min))
			return
		}
		next(w, r)
	})
}

// api guards a JSON route: bearer token or session (with X-CSRF-Token on
// mutating requests), role as for pages; errors are JSON.
func (c *Console) api(min store.Role, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := c.authenticate(r)
		if p == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="jobmediator"`)
			apijson.Error(w, http.StatusUnauthorized, "log in to the console or send a bearer token")
			return
		}
		r = r.WithContext(withPrincipal(r.Context(), p))
		if !csrfOK(r, p) {
			apijson.Error(w, http.StatusForbidden, "missing or wrong "+CSRFHeader+" header")
			return
		}
		if !p.can(min) {
			apijson.Error(w, http.StatusForbidden, fmt.Sprintf("role %s may not do this (needs %s)", p.Role, min))
			return
		}
		next(w, r)
	})
}

// Authorize is for other /api handlers (the operator API): it accepts the
// bearer token or a console session, checks CSRF on mutating requests and
// the role (viewer for reads, operator for changes). On failure it has
// answered and returns false.
func (c *Console) Authorize(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	min := store.RoleViewer
	if mutating(r.Method) {
		min = store.RoleOperator
	}
	var out *http.Request
	c.api(min, func(_ http.ResponseWriter, req *http.Request) { out = req }).ServeHTTP(w, r)
	return out, out != nil
}

// Audit records an action done through another handler that used
// Authorize (who and where come from the request).
func (c *Console) Audit(r *http.Request, action, target, detail string, ok bool) {
	c.audit(r.Context(), who(r), action, target, detail, ok)
}

func (c *Console) audit(ctx context.Context, p *principal, action, target, detail string, ok bool) {
	e := &store.AuditEntry{Time: c.now(), Action: action, Target: target, Detail: detail, OK: ok, Actor: "unknown"}
	if p != nil {
		e.Actor, e.Addr = p.User, p.Addr
	}
	if err := c.o.Store.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		c.o.Logger.WithError(err).WithField("action", action).Error("console: could not write the audit log")
	}
}
