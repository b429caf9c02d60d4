package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/jobmediator/jobmediator/channels/schedule"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/console"
	"github.com/jobmediator/jobmediator/store"
	"github.com/jobmediator/jobmediator/workflow"
)

// consoleOff is the JM_CONSOLE_ADDR value that switches the console off.
const consoleOff = "off"

// setupConsole builds the operator console and creates the first admin.
func (d *Daemon) setupConsole(logOut io.Writer) error {
	if strings.EqualFold(d.s.ConsoleAddr, consoleOff) {
		return nil
	}
	o := console.Options{
		Store: d.store, Project: d.project, Ops: consoleOps{d}, Redactor: d.red, Logger: d.log,
		APITokens: config.SplitTokens(d.s.APIToken), AdminPassword: d.s.AdminPassword, FirstRunOut: logOut,
		SessionTTL: d.s.SessionTTL, OpenHIMConsoleURL: d.s.OpenHIMConsoleURL, NextTicks: d.nextTicks,
		Settings: consoleSettings(d.s), CursorKeys: schedule.CursorKeys,
		// Behind TLS termination (JM_PUBLIC_URL https://…) the hop to us is
		// plain HTTP, but the browser's is not.
		SecureCookies: strings.HasPrefix(d.s.PublicURL, "https://"),
	}
	if d.regr != nil {
		o.OpenHIM = d.regr.Status
	}
	c, err := console.New(o)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		return err
	}
	d.console = c
	return nil
}

// consoleSettings is what the settings page lists: Settings.Redacted, which
// masks every secret.
func consoleSettings(s config.Settings) []console.Setting {
	red := s.Redacted()
	var out []console.Setting
	for _, k := range sortedKeys(red) {
		out = append(out, console.Setting{Name: k, Value: fmt.Sprint(red[k])})
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// consoleOps runs workflows for the console through the scheduler's manual
// runs (cursor semantics, OpenHIM recording, no overlap with a scheduled run).
type consoleOps struct{ d *Daemon }

func (o consoleOps) RunNow(ctx context.Context, workflow string, state json.RawMessage) (console.RunOutcome, error) {
	res, err := o.d.sched.RunManual(ctx, workflow, schedule.ManualRun{State: state})
	if err != nil {
		return console.RunOutcome{}, err
	}
	out := console.RunOutcome{RunID: res.RunID, Status: "success"}
	if res.Result != nil {
		out.Status = string(res.Result.Status)
		if res.Result.Error != nil {
			out.Error = o.d.red.String(res.Result.Error.Message)
		}
	}
	return out, nil
}

// nextTicks lists a workflow's next cron ticks in the scheduler's zone.
func (d *Daemon) nextTicks(workflow string, n int) []time.Time {
	wf := d.project.Workflow(workflow)
	if wf == nil {
		return nil
	}
	loc := time.UTC
	if d.s.TimeZone != "" {
		if l, err := time.LoadLocation(d.s.TimeZone); err == nil {
			loc = l
		}
	}
	if wf.Options.TimeZone != "" {
		if l, err := time.LoadLocation(wf.Options.TimeZone); err == nil {
			loc = l
		}
	}
	var out []time.Time
	for _, tr := range wf.Triggers {
		if !tr.Enabled || tr.Type != config.TriggerCron {
			continue
		}
		sched, err := config.ParseCron(tr.CronExpression, loc)
		if err != nil {
			continue
		}
		t := time.Now()
		for i := 0; i < n; i++ {
			t = sched.Next(t)
			out = append(out, t.UTC())
		}
	}
	return out
}

// historyObserver records runs in the store and, with the console on, their
// orchestrations too.
func (d *Daemon) historyObserver(st store.Store) workflow.Observer {
	var h workflow.Observer = &workflow.History{Store: st, Redactor: d.red, Logger: d.log}
	if d.console != nil {
		h = consoleObserver{next: h, c: d.console}
	}
	return h
}

// consoleObserver stores each run's orchestrations for the console, after
// the run history (next) has recorded the run.
type consoleObserver struct {
	next workflow.Observer
	c    *console.Console
}

func (o consoleObserver) RunFinished(ctx context.Context, rec workflow.RunRecord) {
	o.next.RunFinished(ctx, rec)
	o.c.RecordOrchestrations(ctx, rec.RunID, rec.Exchanges)
}

// serveConsole serves the console on its own listener (JM_CONSOLE_ADDR)
// until ctx ends.
func (d *Daemon) serveConsole(ctx context.Context, ln net.Listener) <-chan error {
	srv := &http.Server{Handler: d.console.Handler(), ReadHeaderTimeout: 10 * time.Second}
	srv.RegisterOnShutdown(d.console.Shutdown)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	// The shutdown deadline must outlive ctx, which has just ended.
	go func() { //nolint:gosec // G118: see above
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut) // past the deadline Serve's caller sees the listener close anyway
	}()
	return errc
}

// consoleURL is where the log tells the operator to open the console.
func (d *Daemon) consoleURL(mainAddr net.Addr, consoleAddr net.Addr) string {
	addr := mainAddr
	if consoleAddr != nil {
		addr = consoleAddr
	}
	host, port, _ := net.SplitHostPort(addr.String())
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost" // listening on every interface: this machine's own browser
	}
	scheme := "http://"
	if d.tls != nil {
		scheme = "https://"
	}
	return scheme + net.JoinHostPort(host, port) + "/console/"
}
