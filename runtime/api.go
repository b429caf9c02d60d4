// Package runtime runs one OpenFn job in goja: it compiles job source
// (top-level operations, `$` lazy state, promise chains, the legacy and
// lightning compat profiles), executes a step with its adaptor, pools warm
// VMs, enforces deadlines and state size limits, and captures console
// output. Walking a workflow's graph (triggers, edges, conditions) is the
// workflow package's; it calls Engine.RunStep for every step. The runtime
// does no I/O of its own: everything outside the VM goes through adaptors.
package runtime

import (
	"encoding/json"
	"time"

	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/redact"
)

// Options configure an Engine. Zero values mean the documented defaults.
type Options struct {
	Compat        config.Compat    // default profile when job/workflow/project say nothing (lightning)
	StepTimeout   time.Duration    // per step; default 300s
	RunTimeout    time.Duration    // whole workflow; default 300s
	MaxStateBytes int              // serialized state cap per step; default 10 MiB
	MaxInputBytes int              // input state cap; default 10 MiB
	PoolSize      int              // warm VMs kept per (adaptor, version, compat); default 4
	Now           func() time.Time // injectable clock (tests); default time.Now
	// VMOnly runs declarative jobs in the VM too (native.go): the tests
	// that hold the native step to the VM's results run both.
	VMOnly bool
}

// RunRequest asks for one run of a workflow (workflow.Local walks it in
// this process; RunJob takes one for a single job).
type RunRequest struct {
	Workflow *config.Workflow
	Compat   config.Compat // project default; job and workflow options override
	// Trigger is the trigger key that started the run; "" starts at the
	// workflow's first trigger (or its first job when it has none).
	Trigger string
	// Start, when set, starts at this job key instead (rerun from a step).
	Start string
	// Input is the initial state as JSON (e.g. {"data":…,"request":…}).
	Input json.RawMessage
	// Credential returns the configuration for a credential key.
	Credential func(key string) (map[string]any, bool)
	// HTTP is the recorded client adaptors use for this run.
	HTTP *recorder.Client
	// Redactor scrubs secrets from log lines and errors; credential values
	// are added to a per-run clone automatically.
	Redactor *redact.Redactor
	// Log receives every log line as it happens (may be nil).
	Log func(LogLine)
	// Meta is exposed read-only to adaptors/jobs where OpenFn has no
	// equivalent (e.g. state.openhim is put in Input by the caller instead).
	RunID string
}

// Status of a step or run.
type Status string

const (
	StatusSuccess Status = "success" // every step that ran succeeded
	StatusFailed  Status = "failed"  // a step failed (error recorded, edges evaluated)
	StatusCrashed Status = "crashed" // the workflow aborted (crash/kill severity)
)

// Error describes why a step failed, shaped like @openfn/runtime's
// serialized errors plus what the mediator needs to classify it.
type Error struct {
	Name       string `json:"name"`                    // JobError, AdaptorError, RuntimeError, RuntimeCrash, TimeoutError, StateTooLargeError, CompileError, …
	Severity   string `json:"severity"`                // fail | crash | kill
	Source     string `json:"source,omitempty"`        // runtime | compiler
	Message    string `json:"message"`                 // redacted
	Step       string `json:"step,omitempty"`          // job key
	Line       int    `json:"line,omitempty"`          // 1-based, in the job's source
	Column     int    `json:"column,omitempty"`        // 1-based
	StatusCode int    `json:"statusCode,omitempty"`    // upstream HTTP status when an adaptor call failed
	Code       string `json:"code,omitempty"`          // transport code (ETIMEDOUT, ECONNREFUSED, …)
	Subtype    string `json:"subtype,omitempty"`       // original JS error name for RuntimeError/RuntimeCrash (TypeError, ReferenceError, …)
	Operation  string `json:"operationName,omitempty"` // adaptor operation that failed (AdaptorError), when known
	Details    any    `json:"details,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// Transient reports whether the failure is worth retrying: upstream 5xx or
// 429, transport errors and timeouts. Validation errors and job bugs are not.
func (e *Error) Transient() bool {
	if e == nil {
		return false
	}
	if e.StatusCode == 429 || e.StatusCode >= 500 {
		return true
	}
	switch e.Code {
	case "ETIMEDOUT", "ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "EPIPE":
		return true
	}
	return false
}

// LogLine is one line of a run's log.
type LogLine struct {
	Time    time.Time `json:"time"`
	Level   string    `json:"level"` // debug | info | warn | error
	Step    string    `json:"step,omitempty"`
	Message string    `json:"message"` // redacted
}

// StepResult is the outcome of one step.
type StepResult struct {
	ID       string          `json:"id"` // step id (job key, or key-1 when a step runs twice)
	Job      string          `json:"job"`
	Name     string          `json:"name"`
	Status   Status          `json:"status"`
	Started  time.Time       `json:"started"`
	Finished time.Time       `json:"finished"`
	Error    *Error          `json:"error,omitempty"`
	Output   json.RawMessage `json:"-"` // cleaned output state
	// Reached is, when the step crashed (or failed under legacy) while
	// its operations ran, the cleaned state the failing operation was
	// handed; nil otherwise.
	Reached json.RawMessage `json:"-"`
}

// Result is the outcome of a run.
type Result struct {
	Status Status
	// State is the final state: the single leaf's output, or {leafId: state}
	// when several leaves produced state (as @openfn/runtime). Under the
	// legacy profile a failed run has no final state (nil).
	State json.RawMessage
	// Reached is the state a crashed run (or a failed legacy run) got to:
	// the Reached of the step that stopped it. It is not a final state
	// (OpenFn writes none then); `jobmediator run -o` writes it so the
	// user can see how far the job got.
	Reached json.RawMessage
	Steps   []StepResult
	Error   *Error // the error that decided Status, nil on success
	Logs    []LogLine
}
