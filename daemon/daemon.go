// Package daemon assembles a running Job Mediator from its settings: it
// loads the project and credentials, builds the runtime engine and the
// channels, registers with OpenHIM core and keeps the heartbeat going, and
// serves HTTP (channels plus health endpoints) until told to stop.
package daemon

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/sirupsen/logrus"

	"github.com/jobmediator/jobmediator/adaptors"
	_ "github.com/jobmediator/jobmediator/adaptors/all" // register every adaptor
	"github.com/jobmediator/jobmediator/channels/api"
	"github.com/jobmediator/jobmediator/channels/queue"
	"github.com/jobmediator/jobmediator/channels/schedule"
	"github.com/jobmediator/jobmediator/channels/webhook"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/console"
	"github.com/jobmediator/jobmediator/internal/gcpolicy"
	"github.com/jobmediator/jobmediator/internal/hugepage"
	"github.com/jobmediator/jobmediator/internal/logging"
	"github.com/jobmediator/jobmediator/internal/metrics"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/internal/tlsreload"
	"github.com/jobmediator/jobmediator/internal/version"
	"github.com/jobmediator/jobmediator/mediator"
	"github.com/jobmediator/jobmediator/notify"
	"github.com/jobmediator/jobmediator/runtime"
	"github.com/jobmediator/jobmediator/runtime/isolate"
	"github.com/jobmediator/jobmediator/store"
	"github.com/jobmediator/jobmediator/workflow"
)

// Daemon is one running mediator.
type Daemon struct {
	s       config.Settings
	log     *logrus.Logger
	red     *redact.Redactor
	project *config.Project
	engine  *runtime.Engine
	runner  workflow.Runner // the pool of worker processes, or engine with JM_ISOLATION=none
	pool    *isolate.Pool   // nil with JM_ISOLATION=none
	exec    *workflow.Executor
	queue   *queue.Queue
	webhook *webhook.Webhook
	sched   *schedule.Scheduler
	api     *api.API
	store   store.Store
	started time.Time

	credMu   sync.RWMutex
	fileCred config.Credentials
	creds    config.Credentials    // file merged with console overrides
	enabled  map[string]bool       // console switches, by workflow key
	reg      mediator.Registration // what we register (nil Params when not registering)
	cfg      *mediator.ConfigStore // last config from core
	client   *mediator.Client      // nil when not registering
	regr     *mediator.Registrar   // nil when not registering
	handler  http.Handler
	metrics  *metrics.Metrics
	notifier *notify.Notifier    // nil when no sink is configured
	tls      *tlsreload.Reloader // nil when serving plain HTTP
	console  *console.Console    // nil when JM_CONSOLE_ADDR=off

	chanName map[string]string // workflow key → our default channel's name in core
	chanMu   sync.Mutex
	chanIDs  map[string]string // channel name → core _id, looked up lazily
	chanAt   time.Time
}

// New loads and validates everything; an error means the daemon must not
// start (a broken project is refused, never half-served).
func New(s config.Settings, logOut io.Writer) (*Daemon, error) {
	red := redact.New(s.SensitiveKeys...)
	log, err := logging.New(logOut, s.LogLevel, red)
	if err != nil {
		return nil, fmt.Errorf("LOG_LEVEL: %v", err)
	}
	if errs := s.Validate(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if s.ProjectPath == "" {
		return nil, errors.New("no project: set --project PATH or JM_PROJECT")
	}
	project, err := config.LoadProjectWith(s.ProjectPath, config.LoadOptions{OptionsPath: s.OptionsPath, ValidateAdaptor: validateAdaptor})
	if err != nil {
		return nil, fmt.Errorf("project %s is invalid:\n%w", s.ProjectPath, err)
	}
	for _, w := range project.Warnings {
		log.Warn(w.Error())
	}
	creds := config.NewCredentials(project.InlineCredentials())
	if s.CredentialsPath != "" {
		file, err := config.LoadCredentials(s.CredentialsPath)
		if err != nil {
			return nil, err
		}
		creds = creds.Merge(file.Map())
	}
	red.AddValues(creds.SecretValues(s.SensitiveKeys...)...)
	if s.OpenHIMPassword != "" {
		red.AddValues(s.OpenHIMPassword)
	}
	for _, u := range s.RouteAuth {
		red.AddValues(u.Password)
	}
	red.AddValues(config.SplitTokens(s.APIToken)...)

	d := &Daemon{
		s: s, log: log, red: red, project: project, started: time.Now(),
		fileCred: creds, creds: creds, enabled: map[string]bool{},
		cfg: mediator.NewConfigStore(nil),
	}
	for _, wf := range project.Workflows {
		d.enabled[wf.Key] = wf.Options.Enabled
	}
	if err := d.checkInbox(); err != nil {
		return nil, fmt.Errorf("inbox security:\n%w", err)
	}
	if err := d.buildNotifier(); err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	if err := d.setupTLS(); err != nil {
		return nil, err
	}
	stateLimit := int(config.StateLimit(s.BodySizeLimit))
	// A warm VM for every run the lanes allow at once (routed 8 + scheduled
	// 2 by default): with the engine's default of 4, half of the concurrent
	// routed runs of JM_ISOLATION=none built a fresh VM (every adaptor's
	// source evaluated again) and threw it away afterwards.
	d.engine = runtime.New(runtime.Options{Compat: s.Compat, MaxStateBytes: stateLimit, MaxInputBytes: stateLimit, PoolSize: 10})
	// Every job must compile before we accept traffic; the errors read as
	// `jobmediator check` prints them.
	if errs := d.engine.CheckProject(project, s.Compat); len(errs) > 0 {
		return nil, errs
	}

	if s.OpenHIMURL != "" && s.Register {
		if err := d.setupOpenHIM(); err != nil {
			return nil, err
		}
	}
	openCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	st, err := store.Open(openCtx, store.Config{
		MongoURL: s.MongoURL, Database: s.MongoDatabase, DataDir: s.DataDir, Redactor: red,
		Retention: store.Retention{Days: s.RetentionDays, MaxRuns: s.RetentionMaxRuns},
	})
	if err != nil {
		// A store that is down at boot is a readiness failure, not a reason
		// to lose requests silently: refuse to start so the orchestrator
		// restarts us, and say which store.
		return nil, fmt.Errorf("store: %w", err)
	}
	d.store = st
	// run history and orchestrations are written after the answer (group
	// commit): a write that fails then is logged here
	store.OnJournalError(st, func(err error) {
		log.WithError(err).Error("store: a queued history or orchestration write failed")
	})
	mo := metrics.Options{Queue: metrics.StoreQueue(st), Declarative: d.engine.NativeCounts}
	if d.regr != nil {
		mo.Registered = d.regr.Ready
	}
	d.metrics = metrics.New(mo)
	// Jobs run in worker processes, so a runaway job fails alone instead of
	// taking every run in flight down with the daemon (runtime/isolate).
	d.runner = workflow.NewLocal(d.engine)
	if s.Isolation != config.IsolationNone {
		pool, err := isolate.New(isolate.Options{
			Size: s.RunWorkers, Redactor: red, Logger: log,
			Worker: isolate.WorkerOptions{Compat: s.Compat, Warm: warmSpecs(project, s.Compat), MaxStateBytes: stateLimit},
		})
		if err != nil {
			_ = st.Close()
			return nil, fmt.Errorf("starting the job worker processes: %w (JM_ISOLATION=none runs jobs in the daemon instead)", err)
		}
		// declarative workflows (one operation on literals and $
		// references per job) stay in the daemon: workflow.Split
		d.pool, d.runner = pool, workflow.NewSplit(d.engine, pool)
	}
	if err := d.setupConsole(logOut); err != nil {
		if d.pool != nil {
			_ = d.pool.Close()
		}
		_ = st.Close()
		return nil, err
	}
	if d.console != nil {
		d.console.AddSection(d.notifySection())
	}
	if err := d.buildChannels(st); err != nil {
		if d.pool != nil {
			_ = d.pool.Close()
		}
		return nil, err
	}
	d.handler = d.routes()
	return d, nil
}

// warmSpecs lists the adaptors (and profiles) the project's jobs use, so
// workers build those VMs before they take their first run.
func warmSpecs(p *config.Project, compat config.Compat) []isolate.WarmSpec {
	seen := map[isolate.WarmSpec]bool{}
	var out []isolate.WarmSpec
	for _, wf := range p.Workflows {
		for _, j := range wf.Jobs {
			w := isolate.WarmSpec{Adaptor: j.Adaptor, Compat: p.EffectiveCompat(wf, j, compat)}
			if w.Adaptor == "" {
				w.Adaptor = "common"
			}
			if !seen[w] {
				seen[w] = true
				out = append(out, w)
			}
		}
	}
	return out
}

func validateAdaptor(spec string) error {
	_, _, err := adaptors.Resolve(spec)
	return err
}

// completer returns the OpenHIM client as the async completer, or nil (a
// typed nil pointer inside the interface would not compare equal to nil).
func (d *Daemon) completer() workflow.Completer {
	if d.client == nil {
		return nil
	}
	return d.client
}

// credential resolves a credential key for a run.
func (d *Daemon) credential(key string) (map[string]any, bool) {
	d.credMu.RLock()
	defer d.credMu.RUnlock()
	return d.creds.Get(key)
}

func (d *Daemon) isEnabled(workflow string) bool {
	d.credMu.RLock()
	defer d.credMu.RUnlock()
	on, ok := d.enabled[workflow]
	if d.console != nil && d.console.Paused(workflow) {
		return false
	}
	return !ok || on
}

// setupOpenHIM builds the client, the registration document and the
// registrar, and wires console config changes to credentials and switches.
func (d *Daemon) setupOpenHIM() error {
	s := d.s
	mode := mediator.TLSVerify
	if s.TrustSelfSigned {
		mode = mediator.TLSInsecure
	}
	client, err := mediator.NewClient(mediator.ClientOptions{
		APIURL: s.OpenHIMURL, Username: s.OpenHIMUsername, Password: s.OpenHIMPassword,
		TLS: mode, CAFile: s.CAFile, Logger: d.log,
	})
	if err != nil {
		return err
	}
	d.client = client
	d.reg = d.registration()
	// The registrar logs which keys changed; here we only apply them.
	d.cfg.OnChange(func(_, cur map[string]any) { d.applyConsoleConfig(cur) })
	d.regr = mediator.NewRegistrar(client, d.reg, d.cfg, mediator.RegistrarOptions{
		Interval: s.HeartbeatInterval, Logger: d.log, Start: d.started, InstallChannels: true,
	})
	return nil
}

// registration derives the document sent to core from the project.
func (d *Daemon) registration() mediator.Registration {
	s := d.s
	host := s.RouteHost
	if host == "" {
		host, _ = os.Hostname()
	}
	var specs []mediator.ChannelSpec
	var workflows []string
	for _, wf := range d.project.Workflows {
		workflows = append(workflows, wf.Key)
		// Scheduled workflows get a POST channel too: the transactions of
		// their pulls are attached to it, and a console rerun of a pull is
		// routed back through it.
		if !wf.ServedOverHTTP() && wf.Options.Polling == "" && !hasCron(wf) {
			continue
		}
		specs = append(specs, mediator.ChannelSpec{
			Workflow: wf.Key, Path: wf.Options.Path, Methods: wf.Options.Methods,
			Async: wf.Options.Async, Polling: wf.Options.Polling, Timeout: wf.Options.Timeout,
		})
	}
	var creds []mediator.CredentialFields
	for _, key := range d.project.Credentials {
		fields, _ := d.fileCred.Get(key)
		creds = append(creds, mediator.CredentialFields{Key: key, Fields: fields, Adaptors: d.project.CredentialAdaptors(key)})
	}
	id := mediator.Identity{
		URN: s.URN, Name: s.MediatorName, Version: version.String(),
		Description: "Runs OpenFn workflows from " + filepath.Base(d.project.Path),
		RouteHost:   host, RoutePort: s.EffectiveRoutePort(),
		// With HTTPS on, core must call us over TLS (and, with a client CA,
		// present its certificate: a secured route does both).
		RouteSecured: s.TLSCertFile != "",
	}
	if len(s.RouteAuth) > 0 {
		id.RouteUsername, id.RoutePassword = s.RouteAuth[0].Username, s.RouteAuth[0].Password
	}
	reg := mediator.BuildRegistration(id, specs, creds, workflows)
	revFile := filepath.Join(s.DataDir, "registration.json")
	if err := os.MkdirAll(s.DataDir, 0o755); err == nil {
		if rev, err := mediator.NextRevision(revFile, reg, time.Now()); err == nil {
			reg.Revision = rev
		} else {
			d.log.WithError(err).Warn("registration revision not persisted; core may ignore a changed registration")
		}
	}
	reg.Version = mediator.RegistrationVersion(version.String(), reg)
	d.chanName = map[string]string{}
	if len(reg.DefaultChannelConfig) == len(specs) {
		for i, sp := range specs {
			d.chanName[sp.Workflow] = reg.DefaultChannelConfig[i].Name
		}
	}
	return reg
}

func hasCron(wf *config.Workflow) bool {
	for _, t := range wf.Triggers {
		if t.Enabled && t.Type == config.TriggerCron {
			return true
		}
	}
	return false
}

// channelID is the core _id of a workflow's default channel, looked up by
// name (core assigns ids when an operator installs the channels) and cached;
// a miss refreshes at most every few seconds, so pulls that fire before the
// registrar has installed the channels are linked soon after. "" when unknown.
func (d *Daemon) channelID(workflow string) string {
	name := d.chanName[workflow]
	if name == "" || d.client == nil {
		return ""
	}
	d.chanMu.Lock()
	defer d.chanMu.Unlock()
	if id := d.chanIDs[name]; id != "" {
		return id
	}
	if time.Since(d.chanAt) < 5*time.Second && d.chanIDs != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ids, err := d.client.ChannelIDs(ctx)
	d.chanAt = time.Now()
	if err != nil {
		d.log.WithError(err).Warn("could not look up our channels in OpenHIM; scheduled pulls are recorded without a channel")
		d.chanIDs = map[string]string{}
		return ""
	}
	d.chanIDs = ids
	return ids[name]
}

// applyConsoleConfig maps core's config onto workflow switches and
// credential overrides. Empty values mean "not overridden in the console".
func (d *Daemon) applyConsoleConfig(cfg map[string]any) {
	overrides := map[string]map[string]any{}
	enabled := map[string]bool{}
	for _, wf := range d.project.Workflows {
		enabled[wf.Key] = wf.Options.Enabled
	}
	for param, val := range cfg {
		ref, ok := d.reg.Params[param]
		if !ok {
			continue
		}
		switch ref.Kind {
		case mediator.ParamEnabled:
			if b, ok := val.(bool); ok {
				enabled[ref.Key] = b
			}
		case mediator.ParamCredential:
			fields, _ := val.(map[string]any)
			for tp, v := range fields {
				name := ref.Fields[tp]
				if name == "" {
					name = tp
				}
				if s, isStr := v.(string); isStr && s == "" || v == nil {
					continue
				}
				if overrides[ref.Key] == nil {
					overrides[ref.Key] = map[string]any{}
				}
				overrides[ref.Key][name] = v
			}
		}
	}
	merged := d.fileCred.Merge(overrides)
	d.red.AddValues(merged.SecretValues(d.s.SensitiveKeys...)...)
	d.credMu.Lock()
	d.creds = merged
	d.enabled = enabled
	d.credMu.Unlock()
}

// owner names this replica in leases: host and process, so a restarted
// process never mistakes a dead predecessor's lease for its own.
func (d *Daemon) owner() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d-%d", host, os.Getpid(), d.started.UnixNano()%1e6)
}

// Handler is the daemon's whole HTTP surface.
func (d *Daemon) Handler() http.Handler { return d.handler }

func (d *Daemon) routes() http.Handler {
	r := mux.NewRouter()
	r.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	}).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/readyz", d.readyz).Methods(http.MethodGet, http.MethodHead)
	// wait-on users of the mapping mediator poll /uptime.
	r.HandleFunc("/uptime", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"milliseconds": time.Since(d.started).Milliseconds()})
	}).Methods(http.MethodGet)
	r.Handle("/metrics", d.metrics.Handler()).Methods(http.MethodGet, http.MethodHead)
	if d.console != nil {
		// Before the operator API: its catch-all would answer the
		// console's /api routes with 404.
		if d.s.ConsoleAddr == "" {
			d.console.Register(r)
		} else {
			d.console.RegisterAPI(r)
		}
	}
	d.api.Register(r)
	// Polling and scheduled-rerun routes first: they win over the webhook
	// routes on a shared path.
	d.sched.Register(r)
	d.webhook.Register(r)
	return d.metrics.Middleware(r)
}

// readyz is 200 when the mediator can do its work: project loaded and, when
// registering, registered with core and heartbeating.
func (d *Daemon) readyz(w http.ResponseWriter, _ *http.Request) {
	checks := map[string]any{"project": "ok"}
	ready := true
	if d.regr != nil {
		st := d.regr.Status()
		checks["openhim"] = st
		if !d.regr.Ready() {
			ready = false
		}
	} else {
		checks["openhim"] = "not registering (no OPENHIM_URL or REGISTER_MEDIATOR=false)"
	}
	pingCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := d.store.Ping(pingCtx); err != nil {
		ready = false
		checks["store"] = d.red.String(err.Error())
	} else {
		checks["store"] = "ok"
	}
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]any{"ready": ready, "checks": checks, "version": version.String()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Run serves until ctx ends, then stops accepting, drains in-flight runs for
// up to 30 s and returns.
func (d *Daemon) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", d.s.ListenAddress())
	if err != nil {
		return fmt.Errorf("listen on %s (JM_LISTEN, SERVER_PORT): %w", d.s.ListenAddress(), err)
	}
	return d.Serve(ctx, ln)
}

// writeTimeout is WRITE_TIMEOUT, or by default the longest workflow timeout
// plus 30s: a synchronous run answers only when it ends.
func (d *Daemon) writeTimeout() time.Duration {
	if d.s.WriteTimeout > 0 {
		return d.s.WriteTimeout
	}
	longest := config.DefaultTimeout
	for _, wf := range d.project.Workflows {
		longest = max(longest, wf.Options.Timeout)
	}
	return longest + 30*time.Second
}

// Serve is Run on an existing listener (tests use port 0).
func (d *Daemon) Serve(ctx context.Context, ln net.Listener) error {
	// Slow clients cannot hold a connection for ever: a request (headers
	// and body) must arrive within ReadTimeout (a trickled body gets 408),
	// an answer within WriteTimeout, which outlasts the longest run.
	srv := &http.Server{Handler: d.handler, ReadHeaderTimeout: min(10*time.Second, d.s.ReadTimeout),
		ReadTimeout: d.s.ReadTimeout, WriteTimeout: d.writeTimeout(), IdleTimeout: d.s.IdleTimeout}
	if d.console != nil {
		srv.RegisterOnShutdown(d.console.Shutdown)
	}
	fields := logrus.Fields{"addr": ln.Addr().String(), "project": d.project.Path, "version": version.String(),
		"gc": gcpolicy.Tune(os.Getenv, gcpolicy.CgroupMemoryLimit()), "hugepages": hugepage.Reserve(hugepage.Size)}
	if d.tls != nil {
		ln = tls.NewListener(ln, d.tls.Config())
		fields["tls"] = true
		fields["client_certificates"] = d.tls.RequiresClientCerts()
	}
	var paths []string
	for _, wf := range d.webhook.Webhooks() {
		paths = append(paths, fmt.Sprintf("%v %s → %s", wf.Options.Methods, wf.Options.Path, wf.Key))
	}
	sort.Strings(paths)
	fields["channels"] = paths
	var consoleLn net.Listener
	if d.console != nil && d.s.ConsoleAddr != "" {
		var err error
		if consoleLn, err = net.Listen("tcp", d.s.ConsoleAddr); err != nil {
			return fmt.Errorf("console listen address %s (JM_CONSOLE_ADDR): %w", d.s.ConsoleAddr, err)
		}
		if d.tls != nil {
			consoleLn = tls.NewListener(consoleLn, d.tls.Config())
		}
	}
	if d.console != nil {
		var caddr net.Addr
		if consoleLn != nil {
			caddr = consoleLn.Addr()
		}
		fields["console"] = d.consoleURL(ln.Addr(), caddr)
	}
	d.log.WithFields(fields).Info("jobmediator listening")

	bg := context.Background()
	svcs := d.services()
	for i, sv := range svcs {
		if err := sv.Start(bg); err != nil {
			stopServices(svcs[:i], d.log)
			return err
		}
	}
	if d.regr != nil {
		d.log.WithFields(logrus.Fields{"core": d.client.URL(), "urn": d.s.URN, "version": d.reg.Version}).Info("registering with OpenHIM core")
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	consoleCtx, stopConsole := context.WithCancel(context.Background())
	defer stopConsole()
	consoleErr := make(<-chan error)
	if consoleLn != nil {
		consoleErr = d.serveConsole(consoleCtx, consoleLn)
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	case serveErr = <-consoleErr:
	}
	d.log.Info("shutting down: no new requests, draining runs")
	drain, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(drain); err != nil {
		d.log.WithError(err).Warn("in-flight requests did not finish in time")
	}
	if err := d.webhook.Wait(drain); err != nil {
		d.log.WithError(err).Warn("asynchronous runs did not finish in time")
	}
	if err := d.sched.Wait(drain); err != nil {
		d.log.WithError(err).Warn("polls did not finish in time")
	}
	stopConsole()
	if d.console != nil {
		d.console.Wait() // run-now and retries started from the console
	}
	stopServices(svcs, d.log)
	if d.pool != nil {
		_ = d.pool.Close()
	}
	if err := d.store.Close(); err != nil {
		d.log.WithError(err).Warn("closing the store")
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
}
