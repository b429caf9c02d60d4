package schedule

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/sirupsen/logrus"

	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/store"
	"github.com/jobmediator/jobmediator/workflow"
)

// DefaultPollReplyWithin is how long a polling trigger waits for its run
// before answering 202 Processing: below core's default channel timeout
// (60 s), so core never times the route out.
const DefaultPollReplyWithin = 50 * time.Second

// Options configure the scheduler.
type Options struct {
	// Store keeps cursors, tick claims and run leases; cron needs it.
	Store store.Store
	// Completer finishes polling transactions that outlive their answer;
	// nil makes a polling trigger wait for its run.
	Completer workflow.Completer
	// BodyLimit bounds the body of a rerun request; default 10 MiB.
	BodyLimit int64
	// RouteAuth, when set, is who may call the polling and rerun routes.
	RouteAuth []config.RouteUser
	// ClientCerts: HTTPS asks for client certificates, and only OpenHIM
	// core's (or RouteAuth) may call the polling and rerun routes.
	ClientCerts bool
	// Owner names this replica in leases and tick claims; default random.
	Owner string
	// Location is the default zone cron expressions are read in (a
	// workflow's time_zone option wins); default UTC, as Lightning.
	Location *time.Location
	// Clock drives the ticks; default the wall clock. Tests pass a
	// *FakeClock and Advance it.
	Clock Clock
	// Transactions records each scheduled and manual run in OpenHIM (POST,
	// then PUT /transactions); nil turns recording off.
	Transactions TransactionRecorder
	// ChannelID optionally names the OpenHIM channel _id a workflow's
	// transactions belong to (console filters and reruns need it).
	ChannelID func(workflow string) string
	// PollReplyWithin bounds how long a polling trigger waits for its run
	// before answering 202 and finishing asynchronously; default 50s.
	PollReplyWithin time.Duration
	// OnTick, when set, is told the outcome of every tick (metrics, tests).
	OnTick func(TickReport)
}

// TickOutcome says what became of one cron tick on this replica.
type TickOutcome string

const (
	TickRan      TickOutcome = "ran"      // this replica ran it (RunID, Status set)
	TickClaimed  TickOutcome = "claimed"  // another replica claimed the tick
	TickBusy     TickOutcome = "busy"     // skipped: the previous run is still going
	TickDisabled TickOutcome = "disabled" // the workflow is switched off
	TickError    TickOutcome = "error"    // the store failed (Err set)
)

// TickReport is the outcome of one tick.
type TickReport struct {
	Workflow string
	Tick     time.Time
	Outcome  TickOutcome
	RunID    string
	Status   string // run status when it ran
	Advanced bool   // the cursor moved
	Err      error
}

// scheduledEntry is one workflow the scheduler fires.
type scheduledEntry struct {
	wf       *config.Workflow
	schedule cron.Schedule
	loc      *time.Location
}

// Start fires the cron trigger of every workflow that has one (and no
// polling option: those are scheduled by OpenHIM core) until Stop is called
// or ctx ends. Per tick: one replica claims it (store compare-and-set), the
// overlap policy decides between skipping and queueing behind a run still
// going (in process and, through a store lease, across replicas), the input
// is built from the cursor, the run is recorded in OpenHIM when
// Transactions is set, and the cursor moves only after a success.
func (h *Scheduler) Start(ctx context.Context) error {
	o := h.options()
	if o.Store == nil {
		return errors.New("channels: the scheduler needs a store (cursors, tick claims and leases live there)")
	}
	var entries []scheduledEntry
	for _, wf := range h.x.Project().Workflows {
		tr := workflow.CronTrigger(wf)
		if tr == nil || wf.Options.Polling != "" {
			continue
		}
		loc := o.Location
		if wf.Options.TimeZone != "" {
			l, err := time.LoadLocation(wf.Options.TimeZone)
			if err != nil {
				return fmt.Errorf("channels: workflow %s: time zone %q: %v", wf.Key, wf.Options.TimeZone, err)
			}
			loc = l
		}
		s, err := config.ParseCron(tr.CronExpression, loc)
		if err != nil {
			return fmt.Errorf("channels: workflow %s trigger %s: %v", wf.Key, tr.Key, err)
		}
		entries = append(entries, scheduledEntry{wf: wf, schedule: s, loc: loc})
	}

	h.loop.Go(ctx, func(ctx context.Context) {
		var wg sync.WaitGroup
		for _, e := range entries {
			e := e
			h.x.Logger().WithFields(logrus.Fields{"workflow": e.wf.Key, "cron": workflow.CronTrigger(e.wf).CronExpression,
				"zone": e.loc.String(), "next": e.schedule.Next(o.Clock.Now()).UTC().Format(time.RFC3339)}).Info("scheduled")
			wg.Add(1)
			go func() {
				defer wg.Done()
				h.tickLoop(ctx, e, o, &wg)
			}()
		}
		wg.Wait()
	})
	return nil
}

// Stop ends the tick loops and waits for the runs they started (a run
// finishes even when stopped: abandoning it half-way would leave an
// OpenHIM transaction Processing), or until ctx ends.
func (h *Scheduler) Stop(ctx context.Context) error { return h.loop.Stop(ctx) }

// tickLoop waits for each next tick and hands it to its own goroutine, so
// a long run never delays the clock. Ticks missed while the process was
// down (or the clock jumped) are not caught up: the next run's window
// starts at the cursor's watermark anyway, so no data is skipped.
func (h *Scheduler) tickLoop(ctx context.Context, e scheduledEntry, o Options, wg *sync.WaitGroup) {
	for {
		now := o.Clock.Now()
		next := e.schedule.Next(now)
		if next.IsZero() {
			h.x.Logger().WithField("workflow", e.wf.Key).Warn("cron expression never fires again")
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-o.Clock.After(next.Sub(now)):
		}
		if ctx.Err() != nil {
			return
		}
		wg.Add(1)
		go func(tick time.Time) {
			defer wg.Done()
			rep := h.runTick(ctx, e.wf, tick, o)
			if o.OnTick != nil {
				o.OnTick(rep)
			}
		}(next)
	}
}

// runTick runs one tick on this replica, if it should.
func (h *Scheduler) runTick(ctx context.Context, wf *config.Workflow, tick time.Time, o Options) TickReport {
	rep := TickReport{Workflow: wf.Key, Tick: tick}
	log := h.x.Logger().WithFields(logrus.Fields{"workflow": wf.Key, "trigger": "cron", "tick": tick.UTC().Format(time.RFC3339)})
	if !h.x.Enabled(wf) {
		rep.Outcome = TickDisabled
		log.Debug("tick skipped: workflow disabled")
		return rep
	}
	won, err := h.claimTick(ctx, wf.Key, tick, o.Owner)
	if err != nil {
		rep.Outcome, rep.Err = TickError, err
		log.WithError(err).Error("tick skipped: could not claim it in the store")
		return rep
	}
	if !won {
		rep.Outcome = TickClaimed
		log.Debug("tick claimed by another replica")
		return rep
	}
	release, err := h.acquire(ctx, wf, wf.Options.Overlap == config.OverlapQueue)
	if err != nil {
		rep.Outcome = TickBusy
		if !errors.Is(err, workflow.ErrBusy) {
			rep.Outcome, rep.Err = TickError, err
		}
		log.WithError(err).Warn("tick skipped: the previous run of this workflow is still going")
		return rep
	}
	defer release()
	// The run finishes even when the scheduler is stopped meanwhile:
	// abandoning it half-way would leave an OpenHIM transaction Processing.
	out, err := h.runScheduled(context.WithoutCancel(ctx), runSpec{wf: wf, trigger: "cron", until: tick, record: true, log: log})
	if err != nil {
		rep.Outcome, rep.Err = TickError, err
		log.WithError(err).Error("tick failed before the run started")
		return rep
	}
	rep.Outcome, rep.RunID, rep.Advanced = TickRan, out.RunID, out.Advanced
	if out.Result != nil {
		rep.Status = string(out.Result.Status)
	}
	return rep
}
