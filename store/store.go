// Package store is Job Mediator's persistence: run history (with per-step
// results and log lines), cursors carried between scheduled runs, the retry
// queue / async work queue with leases, dead letters and schedule leases.
//
// One interface, two implementations chosen by Open:
//
//   - MongoDB (go.mongodb.org/mongo-driver/v2) when a Mongo URL is configured,
//     so several replicas can share one database;
//   - an embedded bbolt file under the data directory otherwise, so `make run`
//     needs no server and state survives restarts.
//
// Both use single-document atomic operations only (no multi-document
// transactions, no change streams), which is what MongoDB, FerretDB and the
// embedded file all provide. A message is claimed with a lease
// (findOneAndUpdate-style compare-and-set), so two replicas never run the same
// message at the same time, and a lease that expires (crashed replica) makes
// the message claimable again.
//
// The store is the last line of defence for secrets and size: every run's
// input/output/step states are passed through a redactor and capped at
// Config.MaxStateBytes (an oversized state is replaced by a TruncationMarker),
// log lines and error strings are redacted. Callers should still redact with
// their per-run redactor (which knows the credential values) before storing;
// run history that was (RecordCleanRunFunc: the executor's run redactor is a
// clone of the store's plus the run's credentials) is only checked and
// capped, not redacted a second time.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Errors returned by every implementation; test with errors.Is.
var (
	ErrNotFound  = errors.New("store: not found")
	ErrDuplicate = errors.New("store: duplicate")
	// ErrConflict is a failed compare-and-set (cursor version moved).
	ErrConflict = errors.New("store: version conflict")
	// ErrNoMessage is returned by Claim when nothing is due.
	ErrNoMessage = errors.New("store: no message due")
	// ErrLeaseLost means the caller no longer owns the message (its lease
	// expired and another owner claimed it, or it was completed/dead-lettered).
	ErrLeaseLost = errors.New("store: lease lost")
	// ErrInvalid wraps every validation failure of a caller's record.
	ErrInvalid = errors.New("store: invalid")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("store: closed")
)

// Store is the persistence interface. Implementations are safe for
// concurrent use; times are stored with millisecond precision in UTC.
type Store interface {
	// CreateRun inserts r. An empty r.ID is filled with NewID(); an existing
	// ID is ErrDuplicate. States are redacted and capped in place.
	CreateRun(ctx context.Context, r *Run) error
	// UpdateRun replaces the stored run with the same ID (ErrNotFound if none).
	UpdateRun(ctx context.Context, r *Run) error
	GetRun(ctx context.Context, id string) (*Run, error)
	// ListRuns returns runs newest first (Started desc, ID desc).
	ListRuns(ctx context.Context, f RunFilter) ([]*Run, error)
	// FindRunByTransaction returns the newest run recorded for an OpenHIM
	// transaction id (ErrNotFound if none).
	FindRunByTransaction(ctx context.Context, txID string) (*Run, error)
	// AppendLogs adds lines to a run's log (the run need not exist yet).
	AppendLogs(ctx context.Context, runID string, lines []LogLine) error
	// Logs returns a run's lines in the order they were appended.
	Logs(ctx context.Context, runID string) ([]LogLine, error)

	// GetCursor returns ErrNotFound for an unknown key.
	GetCursor(ctx context.Context, key string) (*Cursor, error)
	// PutCursor stores c if the stored version equals c.Version (0 = must
	// not exist yet), then sets c.Version to the new version. A mismatch is
	// ErrConflict, so an overlapping or stale run never moves a cursor back.
	PutCursor(ctx context.Context, c *Cursor) error

	// Enqueue adds a pending message. An empty ID is filled with NewID(). A
	// message whose ID or IdempotencyKey already exists (in any status,
	// including done and dead) is not added: Enqueue returns an error
	// matching ErrDuplicate and sets m.ID to the existing message's ID.
	Enqueue(ctx context.Context, m *Message) error
	// Claim atomically takes the due message with the earliest Due (status
	// pending with Due <= now, or claimed with LeaseUntil <= now), restricted
	// to lanes when any are given, marks it claimed by owner until now+lease
	// and increments Attempts. ErrNoMessage when none is due.
	Claim(ctx context.Context, owner string, lease time.Duration, now time.Time, lanes ...string) (*Message, error)
	// ExtendLease pushes a claimed message's lease to now+lease.
	ExtendLease(ctx context.Context, id, owner string, lease time.Duration, now time.Time) error
	// Complete marks a claimed message done (kept for idempotency until Cull).
	Complete(ctx context.Context, id, owner string) error
	// Fail records a failed attempt. When Attempts has reached MaxAttempts
	// the message goes to the dead letters; otherwise it returns to pending
	// with Due = next. The updated message is returned (check Status).
	Fail(ctx context.Context, id, owner, errMsg string, next time.Time) (*Message, error)
	// DeadLetter moves a message to the dead letters. owner "" is an
	// operator action and also applies to pending messages.
	DeadLetter(ctx context.Context, id, owner, reason string) error
	// ListDead returns dead letters, most recently dead first.
	ListDead(ctx context.Context, limit int) ([]*Message, error)
	// Requeue moves a dead letter back to pending, due now, Attempts reset.
	Requeue(ctx context.Context, id string) error
	GetMessage(ctx context.Context, id string) (*Message, error)
	// CountQueue counts undelivered messages (for metrics): cheap, it reads
	// indexes only and never decodes a payload.
	CountQueue(ctx context.Context) (QueueCounts, error)

	// AcquireLease takes or renews the named lease for ttl; false when
	// another owner holds an unexpired lease.
	AcquireLease(ctx context.Context, name, owner string, ttl time.Duration, now time.Time) (bool, error)
	// ReleaseLease gives the lease up if owner holds it (no error otherwise).
	ReleaseLease(ctx context.Context, name, owner string) error

	// Cull deletes runs (and their logs) started before olderThan (zero:
	// no age limit) and all but the keepMax newest runs (<=0: no count
	// limit), plus done messages last updated before olderThan (zero:
	// DoneMessageRetention ago) and internal bookkeeping. It returns the
	// number of runs deleted. Dead letters and pending work are never culled.
	Cull(ctx context.Context, olderThan time.Time, keepMax int) (int, error)

	// Accounts: console users, sessions, audit and orchestrations (accounts.go).
	Accounts

	Ping(ctx context.Context) error
	Close() error
}

// RunStatus is a run's lifecycle state.
type RunStatus string

const (
	RunPending RunStatus = "pending" // accepted (e.g. async), not started
	RunRunning RunStatus = "running"
	RunSuccess RunStatus = "success" // every step succeeded
	RunFailed  RunStatus = "failed"  // a step failed
	RunCrashed RunStatus = "crashed" // aborted (timeout, kill, internal error)
)

func (s RunStatus) valid() bool {
	switch s {
	case RunPending, RunRunning, RunSuccess, RunFailed, RunCrashed:
		return true
	}
	return false
}

// Run is one execution of a workflow.
type Run struct {
	ID       string    `json:"id"`
	Workflow string    `json:"workflow"`
	Trigger  string    `json:"trigger,omitempty"` // trigger key (webhook, cron, openhim, manual…)
	Status   RunStatus `json:"status"`
	// OpenHIM context: TransactionID is X-OpenHIM-TransactionID; on reruns
	// ParentID/TaskID are core's parentid/taskid headers (openhim.md §6.3).
	TransactionID string `json:"transactionId,omitempty"`
	ParentID      string `json:"parentId,omitempty"`
	TaskID        string `json:"taskId,omitempty"`
	// MessageID links a run to the queue message that started it, if any.
	MessageID string `json:"messageId,omitempty"`
	// Version identifies the job code that ran (hash), so reruns are reproducible.
	Version string `json:"version,omitempty"`
	// Input and Output are JSON states (nil for none). Callers redact; the
	// store redacts sensitive keys again and replaces a state larger than
	// Config.MaxStateBytes with a TruncationMarker.
	Input          json.RawMessage `json:"input,omitempty"`
	Output         json.RawMessage `json:"output,omitempty"`
	Steps          []StepRecord    `json:"steps,omitempty"`
	Error          string          `json:"error,omitempty"` // redacted
	Started        time.Time       `json:"started"`
	Finished       time.Time       `json:"finished,omitzero"`
	Attempt        int             `json:"attempt,omitempty"` // 1-based delivery attempt
	Orchestrations int             `json:"orchestrations,omitempty"`
}

// StepRecord is one step's outcome within a run.
type StepRecord struct {
	ID       string          `json:"id"`
	Job      string          `json:"job,omitempty"`
	Name     string          `json:"name,omitempty"`
	Status   RunStatus       `json:"status"`
	Started  time.Time       `json:"started"`
	Finished time.Time       `json:"finished,omitzero"`
	Error    string          `json:"error,omitempty"`
	Output   json.RawMessage `json:"output,omitempty"` // capped like Run.Output
}

// RunFilter selects runs for ListRuns. Zero fields do not filter.
type RunFilter struct {
	Workflow      string
	Status        RunStatus
	TransactionID string
	ParentID      string
	Since, Until  time.Time // on Started: Since <= Started < Until
	// Limit defaults to 50 and is capped at 1000.
	Limit int
	// Before is the ID of the last run of the previous page: only runs
	// after it in newest-first order are returned. An unknown ID is ErrNotFound.
	Before string
}

// LogLine is one line of a run's log.
type LogLine struct {
	Time    time.Time `json:"time"`
	Level   string    `json:"level"`
	Step    string    `json:"step,omitempty"`
	Message string    `json:"message"`
}

// Cursor is state carried between scheduled runs: the last successful
// final state of a workflow (Lightning "cursor") or a named value such as
// OpenFn v1's lastRunDateTime.
type Cursor struct {
	Key     string          `json:"key"`
	Value   json.RawMessage `json:"value"`
	Version int64           `json:"version"`
	Updated time.Time       `json:"updated"`
}

// MessageKind says why a message is queued.
type MessageKind string

const (
	KindRetry     MessageKind = "retry"     // a run that failed transiently
	KindAsync     MessageKind = "async"     // accepted work to finish (reported to OpenHIM later)
	KindScheduled MessageKind = "scheduled" // a cron tick's run
)

// MessageStatus is a message's place in the queue.
type MessageStatus string

const (
	MsgPending MessageStatus = "pending"
	MsgClaimed MessageStatus = "claimed"
	MsgDone    MessageStatus = "done"
	MsgDead    MessageStatus = "dead"
)

// Message is a unit of deliverable work (retry queue and async work share
// one collection).
type Message struct {
	ID       string      `json:"id"`
	Kind     MessageKind `json:"kind"`
	Workflow string      `json:"workflow"`
	// Lane is the worker pool that may run it (e.g. "http", "cron"); Claim
	// can be restricted to lanes.
	Lane string `json:"lane,omitempty"`
	// Payload is replayed verbatim (so it is not redacted): it must hold no
	// credentials, which are resolved by key when the message runs.
	Payload json.RawMessage `json:"payload,omitempty"`
	// IdempotencyKey deduplicates Enqueue (e.g. the OpenHIM transaction id,
	// or parentID on reruns). Empty: only the ID deduplicates.
	IdempotencyKey string        `json:"idempotencyKey,omitempty"`
	Status         MessageStatus `json:"status"`
	// Attempts counts claims (so a crash mid-run also uses up an attempt).
	Attempts    int       `json:"attempts"`
	MaxAttempts int       `json:"maxAttempts"` // <=0 means DefaultMaxAttempts
	Due         time.Time `json:"due"`
	Owner       string    `json:"owner,omitempty"`
	LeaseUntil  time.Time `json:"leaseUntil,omitzero"`
	LastError   string    `json:"lastError,omitempty"` // redacted
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
}

// QueueCounts is the size of the queue.
type QueueCounts struct {
	// Pending is every message not yet delivered and not dead: waiting to
	// be due, due, or claimed (running now, or its replica died and the
	// lease has yet to run out).
	Pending int `json:"pending"`
	// Dead is the dead letters, waiting for an operator to requeue them.
	Dead int `json:"dead"`
}

// DefaultMaxAttempts applies when Message.MaxAttempts is not set.
const DefaultMaxAttempts = 5

// Retention bounds run history; zero fields mean "keep".
type Retention struct {
	Days    int `json:"days" yaml:"days"`
	MaxRuns int `json:"maxRuns" yaml:"max_runs"`
}
