package daemon

import (
	"context"
	"encoding/json"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/jobmediator/jobmediator/channels/api"
	"github.com/jobmediator/jobmediator/channels/queue"
	"github.com/jobmediator/jobmediator/channels/schedule"
	"github.com/jobmediator/jobmediator/channels/webhook"
	"github.com/jobmediator/jobmediator/internal/service"
	"github.com/jobmediator/jobmediator/store"
	"github.com/jobmediator/jobmediator/workflow"
)

// buildChannels assembles the ways in over one workflow executor: webhook,
// schedule and api in front, the queue behind them (house.md).
func (d *Daemon) buildChannels(st store.Store) error {
	s := d.s
	x, err := workflow.New(d.project, workflow.Options{
		URN:         s.URN,
		Compat:      s.Compat,
		Runner:      d.runner,
		Credentials: d.credential,
		Redactor:    d.red,
		Logger:      d.log,
		Enabled:     d.isEnabled,
		Observer:    notifyObserver{d: d, next: d.metrics.Observer(d.historyObserver(st))},
	})
	if err != nil {
		return err
	}
	d.exec = x
	completer := d.completer()
	d.queue = queue.New(x, queue.Options{Store: st, Completer: completer, Owner: d.owner(), Workers: s.Workers, Lease: s.QueueLease, Dead: d.deadLettered})
	d.webhook = webhook.New(x, d.queue, webhook.Options{BodyLimit: s.BodySizeLimit, Completer: completer, RouteAuth: s.RouteAuth,
		ClientCerts: s.TLSClientCAFile != "", Credential: d.credential})
	so := schedule.Options{Store: st, Completer: completer, BodyLimit: s.BodySizeLimit, RouteAuth: s.RouteAuth,
		ClientCerts: s.TLSClientCAFile != "", Owner: d.owner(), ChannelID: d.channelID}
	if s.TimeZone != "" {
		so.Location, _ = time.LoadLocation(s.TimeZone)
	}
	if d.client != nil {
		so.Transactions = d.client
	}
	d.sched = schedule.New(x, so)
	ao := api.Options{Token: s.APIToken, Pprof: s.Pprof, Store: st, BodyLimit: s.BodySizeLimit,
		RunManual: d.runManual, CursorKeys: schedule.CursorKeys}
	if d.console != nil {
		ao.Authorize, ao.Audit = d.console.Authorize, d.console.Audit
	}
	d.api = api.New(x, ao)
	return nil
}

// runManual is a manual run for the operator API: the scheduler runs it
// (cursor semantics, OpenHIM recording, no overlap).
func (d *Daemon) runManual(ctx context.Context, wf string, cursor, state json.RawMessage) (*api.ManualResult, error) {
	r, err := d.sched.RunManual(ctx, wf, schedule.ManualRun{Cursor: cursor, State: state})
	if err != nil {
		return nil, err
	}
	return &api.ManualResult{RunID: r.RunID, TransactionID: r.TransactionID, Window: r.Window,
		Advanced: r.Advanced, Result: r.Result, Output: r.Output}, nil
}

type namedService struct {
	name string
	service.Service
}

// services are the background parts in start order; they stop in reverse.
func (d *Daemon) services() []namedService {
	// The notifier starts first and stops last, so what the others report
	// while stopping is still told; certificates reload while we serve.
	out := append(d.notifyServices(), d.tlsServices()...)
	out = append(out, []namedService{
		{"queue workers", d.queue},
		{"scheduler", d.sched},
		{"retention", &service.Func{Run: func(ctx context.Context) {
			<-store.StartCuller(ctx, d.store, store.Retention{Days: d.s.RetentionDays, MaxRuns: d.s.RetentionMaxRuns}, time.Hour, d.log)
		}}},
	}...)
	if d.regr != nil {
		out = append(out, namedService{"registrar", &service.Func{Run: d.regr.Run}})
	}
	if d.console != nil {
		out = append(out, namedService{"console sessions", &service.Func{Run: func(ctx context.Context) { d.console.Run(ctx, time.Hour) }}})
	}
	return out
}

// stopServices stops svcs in reverse order, each to the end of its work.
func stopServices(svcs []namedService, log logrus.FieldLogger) {
	for i := len(svcs) - 1; i >= 0; i-- {
		if err := svcs[i].Stop(context.Background()); err != nil {
			log.WithError(err).Warnf("stopping %s", svcs[i].name)
		}
	}
}
