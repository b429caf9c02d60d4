package isolate

import (
	"time"

	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/runtime"
)

// WorkerOptions configure the engine inside every worker process.
type WorkerOptions struct {
	Compat config.Compat `json:"compat,omitempty"`
	// Warm lists adaptors whose VMs a worker builds before it says it is
	// ready, so the first routed request does not pay for them.
	Warm []WarmSpec `json:"warm,omitempty"`
	// MaxStateBytes caps input and step states (config.StateLimit); 0 is
	// the engine's default.
	MaxStateBytes int `json:"max_state_bytes,omitempty"`
	// SideBudget is set by the pool, per worker: not 0, fd 5 is the side
	// pipe for log and exchange frames (frame.go), and the worker nudges
	// the mediator after writing this many bytes there.
	SideBudget int `json:"side_budget,omitempty"`
}

// WarmSpec is one adaptor (specifier as in a job) under one profile.
type WarmSpec struct {
	Adaptor string        `json:"adaptor"`
	Compat  config.Compat `json:"compat,omitempty"`
}

type helloMsg struct {
	PID int   `json:"pid"`
	Mem int64 `json:"mem"` // memoryInUse at rest
}

type workflowMsg struct {
	ID       uint64           `json:"id"`
	Workflow *config.Workflow `json:"workflow"`
}

// runMsg and doneMsg travel in codec.go's encoding; their JSON tags say
// what a JSON round trip would keep, which the codec's test holds it to.
type runMsg struct {
	Workflow uint64        `json:"workflow"`
	Compat   config.Compat `json:"compat,omitempty"`
	Trigger  string        `json:"trigger,omitempty"`
	Start    string        `json:"start,omitempty"`
	RunID    string        `json:"run_id,omitempty"`
	Deadline time.Time     `json:"deadline,omitzero"`
	Limit    int64         `json:"limit"` // bytes this run may use
}

// runContext is what a run may know of the mediator's secrets: its
// workflow's credentials and the values to redact. It travels as the run
// frame's second blob, and only when it differs from the one the worker
// was sent last (nil blob: the same), so a worker serving one workflow
// decodes it once, not on every run.
type runContext struct {
	Creds   map[string]map[string]any `json:"creds,omitempty"`
	Secrets redact.Snapshot           `json:"secrets"`
}

type doneMsg struct {
	Status runtime.Status       `json:"status"`
	Steps  []runtime.StepResult `json:"steps,omitempty"` // outputs travel as blobs 1…n
	Error  *runtime.Error       `json:"error,omitempty"`
	Props  map[string]string    `json:"props,omitempty"`
	// Reached is 1 + the index of the step whose Reached (the state its
	// failing operation was handed, which is also the result's Reached)
	// travels as the blob after the step outputs; 0: none.
	Reached int `json:"reached,omitempty"`
	// Recycle: the worker exits after this frame (it went over its memory
	// budget; a fresh process is cheaper than trusting its heap).
	Recycle bool `json:"recycle,omitempty"`
	// Mem is the worker's memoryInUse after the run: the base of the
	// mediator's resident-memory backstop for the next run.
	Mem int64 `json:"mem,omitempty"`
}
