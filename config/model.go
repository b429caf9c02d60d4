// Package config loads and validates what Job Mediator runs: the OpenFn project
// (Lightning project.yaml, OpenFn v1 project.yaml, CLI workflow.json), the
// mediator-specific options beside it (jobmediator.yaml), the credentials map,
// and the daemon's settings (flags, environment with the ecosystem's aliases).
//
// It never talks to the network. Every validation error names the file, the
// field (and line where known) and the fix.
package config

import "time"

// Format is the on-disk shape a project was read from.
type Format string

const (
	FormatLightning Format = "lightning" // Lightning project.yaml (openfn deploy)
	FormatV1        Format = "v1"        // OpenFn.org v1 / microservice project.yaml
	FormatPlan      Format = "plan"      // @openfn/cli workflow.json execution plan
)

// Compat selects which OpenFn runtime generation a job reproduces.
type Compat string

const (
	CompatDefault   Compat = ""          // inherit from workflow / project / settings
	CompatLegacy    Compat = "legacy"    // OpenFn.org v1, @openfn/core
	CompatLightning Compat = "lightning" // @openfn/runtime + compiler
)

// Project is a loaded, validated project. Workflows keep file order.
type Project struct {
	Name        string
	Description string
	Path        string // file the project was read from
	Dir         string // directory that relative body paths resolve against
	Format      Format
	// Credentials lists the credential keys the project declares (names only;
	// values come from the credentials file or the OpenHIM console).
	Credentials []string
	Workflows   []*Workflow
	// Compat is the project-wide default profile (from jobmediator.yaml);
	// empty means lightning for Lightning/plan projects and legacy for v1.
	Compat Compat
	// OptionsPath is the jobmediator.yaml that was applied, "" for none.
	OptionsPath string
	// SensitiveKeys are extra key names to redact (jobmediator.yaml
	// sensitive_keys), on top of internal/redact's defaults.
	SensitiveKeys []string
	// Warnings are problems that do not stop the project from running
	// (unknown keys in OpenFn files, credential values inline, jobs no
	// trigger reaches). `check` prints them; serve logs them.
	Warnings ValidationErrors

	// inlineCredentials holds credential values found in the project file
	// itself (OpenFn v1 exports); see InlineCredentials.
	inlineCredentials map[string]map[string]any
}

// Workflow returns the workflow with the given key or name, or nil.
func (p *Project) Workflow(keyOrName string) *Workflow {
	for _, w := range p.Workflows {
		if w.Key == keyOrName {
			return w
		}
	}
	for _, w := range p.Workflows {
		if w.Name == keyOrName {
			return w
		}
	}
	return nil
}

// Workflow is a graph of jobs started by triggers and chained by edges.
type Workflow struct {
	Key      string // map key in project.yaml (stable id)
	Name     string
	Jobs     []*Job
	Triggers []*Trigger
	Edges    []*Edge
	Options  WorkflowOptions // from jobmediator.yaml, defaults applied

	// planTimeout is a workflow.json `options.timeout`; it replaces the
	// default Options.Timeout (jobmediator.yaml still wins).
	planTimeout time.Duration
	// line and field locate the workflow in the project file, for errors
	// found after loading (e.g. a default channel path conflict).
	line  int
	field string
}

// Job returns the job with the given key, or nil.
func (w *Workflow) Job(key string) *Job {
	for _, j := range w.Jobs {
		if j.Key == key {
			return j
		}
	}
	return nil
}

// Trigger returns the trigger with the given key, or nil.
func (w *Workflow) Trigger(key string) *Trigger {
	for _, t := range w.Triggers {
		if t.Key == key {
			return t
		}
	}
	return nil
}

// Job is one step of a workflow: JavaScript source run with one adaptor.
type Job struct {
	Key        string
	Name       string
	Adaptor    string // specifier as written, e.g. "@openfn/language-http@7.3.2"
	Credential string // credentials key, "" for none
	Body       string // job source
	BodyPath   string // file the body was read from, "" when inline
	Line       int    // line of the job in the project file (for errors), 0 unknown
	BodyLine   int    // line of the project file holding the inline body's first line, 0 unknown
	Compat     Compat // per-job override, "" inherits
	// Configuration is inline configuration (workflow.json steps); merged under
	// the credential's values.
	Configuration map[string]any
	// State is the step's default state (workflow.json `state`), merged under
	// the input as @openfn/runtime does.
	State map[string]any
	// field is the job's path in the project file, for errors found later.
	field string
}

// Field is the job's path in the project file (e.g.
// "workflows.intake.jobs.post"), for errors found after loading.
func (j *Job) Field() string { return j.field }

// TriggerType is how a workflow is started.
type TriggerType string

const (
	TriggerWebhook  TriggerType = "webhook"
	TriggerCron     TriggerType = "cron"
	TriggerKafka    TriggerType = "kafka"
	TriggerCriteria TriggerType = "criteria" // v1 message filter
	TriggerSuccess  TriggerType = "success"  // v1 flow trigger
	TriggerFailure  TriggerType = "failure"  // v1 catch trigger
)

// Trigger starts a workflow.
type Trigger struct {
	Key            string
	Type           TriggerType
	Enabled        bool
	CronExpression string // cron
	CronCursorJob  string // cron: job whose last successful output feeds the next run
	WebhookReply   string // before_start | after_completion
	Criteria       string // v1 criteria JSON
	Upstream       string // v1 success/failure: upstream job key
}

// ConditionType is when an edge is followed.
type ConditionType string

const (
	ConditionAlways       ConditionType = "always"
	ConditionOnSuccess    ConditionType = "on_job_success"
	ConditionOnFailure    ConditionType = "on_job_failure"
	ConditionJSExpression ConditionType = "js_expression"
)

// Edge connects a trigger or a job to a job.
type Edge struct {
	Key           string
	SourceTrigger string
	SourceJob     string
	TargetJob     string
	Condition     ConditionType
	Expression    string // js_expression body, evaluated with (state, upstreamStepId)
	Label         string
	Enabled       bool
}

// ResponseMode is what a routed transaction answers with.
type ResponseMode string

const (
	ResponseData      ResponseMode = "data"       // final state's data (default)
	ResponseState     ResponseMode = "state"      // whole final state (cleaned)
	ResponseWorkOrder ResponseMode = "work_order" // Lightning before_start: {work_order_id}
	ResponseUpstream  ResponseMode = "upstream"   // last upstream response body/status
	ResponseNoContent ResponseMode = "no_content" // 204 on success
)

// WorkflowOptions are the mediator-specific settings for one workflow, read
// from jobmediator.yaml. Every field has a default so the file is optional.
type WorkflowOptions struct {
	Enabled  bool         // default true; also an OpenHIM console flag
	Path     string       // channel path, default "/" + slug(workflow key)
	Methods  []string     // default ["POST"]
	Response ResponseMode // default data
	Async    bool         // answer 202 Processing, finish with PUT /transactions/:id
	Compat   Compat
	Retry    RetryPolicy
	Lane     string        // worker pool: "routed" (default for webhooks) or "scheduled"
	Timeout  time.Duration // whole-run deadline, default 300s
	// MemoryLimit is how much memory one run may use, in bytes (default
	// 512 MiB); over it the run fails alone with MemoryLimitError.
	MemoryLimit int64
	// Polling asks OpenHIM core to schedule this workflow (polling channel)
	// instead of our own cron; value is core's pollingSchedule.
	Polling string
	// Overlap is what a cron tick does while the previous scheduled run of
	// the same workflow is still going: OverlapSkip ("" means skip) or
	// OverlapQueue (run once the previous one ends; further ticks coalesce).
	Overlap string
	// TimeZone is the IANA zone the cron expression is read in; "" uses the
	// scheduler's default (UTC unless the daemon says otherwise).
	TimeZone string
	// Inbox lists who may call the endpoint directly (security_options.go);
	// none leaves it open (or to OpenHIM core, when route auth or client
	// certificates are on).
	Inbox []InboxMethod
	// RateLimit throttles each direct client of the endpoint.
	RateLimit RateLimit
	// Notify is who hears about this workflow's failures, and which.
	Notify NotifyOptions
}

// Overlap policies for WorkflowOptions.Overlap.
const (
	OverlapSkip  = "skip"
	OverlapQueue = "queue"
)

// RetryPolicy is how transient failures of a run are retried by our own queue.
type RetryPolicy struct {
	MaxAttempts    int           // default 5; 0 disables
	InitialBackoff time.Duration // default 10s
	MaxBackoff     time.Duration // default 10m
}
