package workflow

import "github.com/jobmediator/jobmediator/config"

// Trigger is what started a run. It travels down once: the executor starts
// the walk at Start and runs in Lane, so no way in needs a changed copy of
// the workflow.
type Trigger struct {
	Workflow *config.Workflow
	// Start is the key of the trigger whose edges the walk follows first;
	// "" starts at the workflow's first trigger (or its first job when it
	// has none).
	Start string
	// Kind is what run history records as the run's trigger: the webhook
	// trigger's key for requests and their retries, else "cron", "polling"
	// or "manual".
	Kind string
	// Lane is the worker pool the run waits for; "" is the workflow's own.
	Lane string
}

func (t Trigger) lane() string {
	if t.Lane != "" {
		return t.Lane
	}
	if t.Workflow.Options.Lane != "" {
		return t.Workflow.Options.Lane
	}
	return config.LaneRouted
}

// Webhook is the trigger of a request to wf (routed or direct) and of its
// queued async work and retries.
func Webhook(wf *config.Workflow) Trigger {
	key := ""
	if tr := HTTPTrigger(wf); tr != nil {
		key = tr.Key
	}
	return Trigger{Workflow: wf, Start: key, Kind: key}
}

// Scheduled is the trigger of a cron, polling or manual run (kind) of wf:
// it starts at the workflow's cron trigger (else where a request would) and
// runs in the scheduled lane unless the workflow names a lane of its own.
func Scheduled(wf *config.Workflow, kind string) Trigger {
	t := Trigger{Workflow: wf, Kind: kind}
	if tr := CronTrigger(wf); tr != nil {
		t.Start = tr.Key
	} else if tr := HTTPTrigger(wf); tr != nil {
		t.Start = tr.Key
	}
	if wf.Options.Lane == "" || wf.Options.Lane == config.LaneRouted {
		t.Lane = config.LaneScheduled
	}
	return t
}

// HTTPTrigger is the trigger a request to wf fires: its webhook, or an
// OpenFn v1 criteria trigger (a message filter); nil when it has neither.
func HTTPTrigger(wf *config.Workflow) *config.Trigger {
	for _, tr := range wf.Triggers {
		if tr.Enabled && (tr.Type == config.TriggerWebhook || tr.Type == config.TriggerCriteria) {
			return tr
		}
	}
	return nil
}

// CronTrigger is wf's first enabled cron trigger, or nil.
func CronTrigger(wf *config.Workflow) *config.Trigger {
	for _, tr := range wf.Triggers {
		if tr.Enabled && tr.Type == config.TriggerCron {
			return tr
		}
	}
	return nil
}
