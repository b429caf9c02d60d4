package workflow

import (
	"context"
	"sync"

	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/runtime"
)

// Split runs a declarative workflow in this process and every other one
// with Isolated (the worker processes). Declarative: every job is one
// adaptor operation on literals and `$` references that runs without a VM
// (runtime.Engine.Declarative) and no edge has a JavaScript condition.
// Such a run cannot loop or allocate beyond its state and its responses,
// so a worker process would guard nothing, and it would cost more than the
// run itself: the hand-over to a worker and back was about half the CPU of
// a routed forward (make bench, README "Performance").
type Split struct {
	engine   *runtime.Engine
	isolated Runner
	local    *Local
	decl     sync.Map // splitKey -> bool
}

// NewSplit runs declarative workflows with e in this process and every
// other one with isolated.
func NewSplit(e *runtime.Engine, isolated Runner) *Split {
	return &Split{engine: e, isolated: isolated, local: NewLocal(e)}
}

type splitKey struct {
	wf     *config.Workflow
	compat config.Compat
}

// Run implements Runner.
func (s *Split) Run(ctx context.Context, req runtime.RunRequest) *runtime.Result {
	if req.Workflow == nil || !s.Declarative(req.Workflow, req.Compat) {
		return s.isolated.Run(ctx, req)
	}
	if req.HTTP != nil {
		// The daemon reads at most twice the state limit from a response
		// for these runs (a larger body could not become a final state
		// within the limit): what a run holds stays a few times its state
		// limit even when an error answer goes through the VM (a replay).
		c := *req.HTTP
		if limit := 2 * int64(s.engine.MaxStateBytes()); c.MaxBody <= 0 || c.MaxBody > limit {
			c.MaxBody = limit
		}
		req.HTTP = &c
	}
	return s.local.Run(ctx, req)
}

// Declarative reports whether wf's runs under the project profile compat
// go to this process.
func (s *Split) Declarative(wf *config.Workflow, compat config.Compat) bool {
	k := splitKey{wf, compat}
	if v, ok := s.decl.Load(k); ok {
		return v.(bool)
	}
	ok := s.declarative(wf, compat)
	s.decl.Store(k, ok)
	return ok
}

func (s *Split) declarative(wf *config.Workflow, compat config.Compat) bool {
	if len(wf.Jobs) == 0 {
		return false
	}
	for _, ed := range wf.Edges {
		if ed.Condition == config.ConditionJSExpression {
			return false
		}
	}
	for _, j := range wf.Jobs {
		if !s.engine.Declarative(j, s.engine.ResolveCompat(j, wf, compat)) {
			return false
		}
	}
	return true
}
