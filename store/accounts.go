package store

import (
	"context"
	"regexp"
	"strings"
	"time"
)

// Accounts is what the operator console keeps: local users, their
// sessions, the audit log of every mutating action, and the orchestrations
// (outbound calls) of each run so the console can show request and response.
//
// Sessions are stored under a hash of the cookie value (the caller hashes),
// so someone who reads the database cannot take over a live session.
type Accounts interface {
	// CreateUser inserts u (ErrDuplicate when the username exists).
	CreateUser(ctx context.Context, u *User) error
	// UpdateUser replaces the stored user (ErrNotFound if none).
	UpdateUser(ctx context.Context, u *User) error
	GetUser(ctx context.Context, username string) (*User, error)
	// ListUsers returns every user by username.
	ListUsers(ctx context.Context) ([]*User, error)
	// DeleteUser removes a user and every session of theirs.
	DeleteUser(ctx context.Context, username string) error

	// CreateSession inserts a session (ErrDuplicate on an existing ID).
	CreateSession(ctx context.Context, s *Session) error
	// GetSession returns a session; an expired one is ErrNotFound.
	GetSession(ctx context.Context, id string, now time.Time) (*Session, error)
	// DeleteSession removes one session (no error when it is gone).
	DeleteSession(ctx context.Context, id string) error
	// DeleteUserSessions removes every session of a user (password or role
	// changed, user removed) and returns how many.
	DeleteUserSessions(ctx context.Context, username string) (int, error)

	// AppendAudit records one entry; an empty ID is filled with NewID().
	AppendAudit(ctx context.Context, e *AuditEntry) error
	// ListAudit returns entries newest first.
	ListAudit(ctx context.Context, f AuditFilter) ([]*AuditEntry, error)

	// PutOrchestrations stores a run's outbound calls (replacing any).
	PutOrchestrations(ctx context.Context, runID string, o []Orchestration) error
	// Orchestrations returns a run's calls (none: empty, no error).
	Orchestrations(ctx context.Context, runID string) ([]Orchestration, error)

	// CullAccounts deletes expired sessions and the orchestrations of runs
	// that are no longer in the history (Cull removed them). Audit entries
	// are kept: they are the record of who did what.
	CullAccounts(ctx context.Context, now time.Time) (int, error)
}

// Role is what a console user may do.
type Role string

const (
	RoleAdmin    Role = "admin"    // everything, plus users and settings
	RoleOperator Role = "operator" // run, retry, pause
	RoleViewer   Role = "viewer"   // read only
)

// Valid reports whether r is one of the three roles.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleOperator || r == RoleViewer }

// User is a local console account. PasswordHash is a bcrypt or argon2id
// encoding; the store never sees a password.
type User struct {
	Username     string    `json:"username"`
	PasswordHash string    `json:"passwordHash"`
	Role         Role      `json:"role"`
	Created      time.Time `json:"created"`
	Updated      time.Time `json:"updated"`
}

// Session is a logged-in browser. ID is the hash of the cookie value.
type Session struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	// CSRF is the token pages carry and mutating requests echo back.
	CSRF    string    `json:"csrf"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Addr    string    `json:"addr,omitempty"` // where the login came from
}

// AuditEntry is one mutating action: who, what, when, from where.
type AuditEntry struct {
	ID     string    `json:"id"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`  // username, or "token" for the bearer token
	Action string    `json:"action"` // e.g. "run.start", "dead.requeue", "user.create"
	Target string    `json:"target,omitempty"`
	Detail string    `json:"detail,omitempty"` // redacted by the store
	Addr   string    `json:"addr,omitempty"`
	OK     bool      `json:"ok"`
}

// AuditFilter selects audit entries. Limit defaults to 50, at most 1000;
// Before is the ID of the last entry of the previous page.
type AuditFilter struct {
	Limit  int
	Before string
}

// Orchestration is one outbound call of a run, already redacted by the
// recorder (the store redacts again).
type Orchestration struct {
	Name            string            `json:"name"`
	Step            string            `json:"step,omitempty"`
	Method          string            `json:"method"`
	URL             string            `json:"url"`
	RequestHeaders  map[string]string `json:"requestHeaders,omitempty"`
	RequestBody     string            `json:"requestBody,omitempty"`
	RequestTime     time.Time         `json:"requestTime"`
	Status          int               `json:"status,omitempty"`
	ResponseHeaders map[string]string `json:"responseHeaders,omitempty"`
	ResponseBody    string            `json:"responseBody,omitempty"`
	ResponseTime    time.Time         `json:"responseTime,omitzero"`
	Error           string            `json:"error,omitempty"`
}

var usernameRE = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

func checkUser(u *User) error {
	if u == nil {
		return invalid("user is nil")
	}
	if !usernameRE.MatchString(u.Username) {
		return invalid("username %q: 1 to 64 letters, digits, . _ @ -", u.Username)
	}
	if !u.Role.Valid() {
		return invalid("role %q: admin, operator or viewer", u.Role)
	}
	if u.PasswordHash == "" {
		return invalid("user %s has no password hash", u.Username)
	}
	return nil
}

func checkSession(s *Session) error {
	if s == nil || s.ID == "" || s.Username == "" || s.Expires.IsZero() {
		return invalid("a session needs an id, a username and an expiry")
	}
	return nil
}

// maxOrchBody caps each stored body, as the recorder does.
const maxOrchBody = 64 << 10

func (z sanitizer) audit(e *AuditEntry, now time.Time) error {
	if e == nil || e.Actor == "" || e.Action == "" {
		return invalid("an audit entry needs an actor and an action")
	}
	if e.ID == "" {
		e.ID = NewID()
	}
	if e.Time.IsZero() {
		e.Time = now
	}
	e.Time = ms(e.Time)
	e.Detail = capText(z.red.String(e.Detail), maxErrorBytes)
	e.Target = z.red.String(e.Target)
	return nil
}

func (z sanitizer) orchestrations(in []Orchestration) []Orchestration {
	out := make([]Orchestration, len(in))
	for i, o := range in {
		o.URL = z.red.URL(o.URL)
		o.RequestHeaders = z.red.HeaderMap(o.RequestHeaders)
		o.ResponseHeaders = z.red.HeaderMap(o.ResponseHeaders)
		o.RequestBody = capText(z.red.String(o.RequestBody), maxOrchBody)
		o.ResponseBody = capText(z.red.String(o.ResponseBody), maxOrchBody)
		o.Error = z.errText(o.Error)
		o.RequestTime, o.ResponseTime = ms(o.RequestTime), ms(o.ResponseTime)
		out[i] = o
	}
	return out
}

func normUser(u *User) {
	u.Username = strings.TrimSpace(u.Username)
	u.Created, u.Updated = ms(u.Created), ms(u.Updated)
}
