package mediator

import (
	"context"
	"errors"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// Backoff is the registration retry schedule: Initial, doubling up to Max.
type Backoff struct {
	Initial time.Duration // default 1s
	Max     time.Duration // default 60s
}

// RegistrarOptions tunes the registration and heartbeat loop.
type RegistrarOptions struct {
	Interval time.Duration // heartbeat period, default 10s (the console turns amber after 60s)
	Backoff  Backoff
	Logger   logrus.FieldLogger
	// Start is when the process started; heartbeats report the seconds
	// since. Default: when NewRegistrar was called.
	Start time.Time
	// InstallChannels asks core to create the default channels after the
	// first registration; existing ones count as installed.
	InstallChannels bool
	// Now is the clock for uptime and readiness; default time.Now.
	Now func() time.Time
}

// RegistrarStatus is the registrar's state, for /readyz and logs.
type RegistrarStatus struct {
	URN           string    `json:"urn"`
	Version       string    `json:"version"`
	CoreURL       string    `json:"coreUrl"`
	Registered    bool      `json:"registered"`
	Ready         bool      `json:"ready"`
	LastHeartbeat time.Time `json:"lastHeartbeat,omitzero"`
	LastError     string    `json:"lastError,omitempty"`
	// Failures counts consecutive failed attempts (registration or
	// heartbeat) since the last success.
	Failures int `json:"failures"`
	// Channels is the default-channel install outcome: "" (not asked),
	// "installed", "already installed" or "failed".
	Channels string `json:"channels,omitempty"`
}

// Registrar keeps the mediator registered and heartbeating (openhim.md §3,
// §11): register with back-off until core accepts, heartbeat with
// config:true to fetch the config, then heartbeat every Interval and apply
// any config core returns. A 404 (mediator deleted in the console) leads to
// re-registration. It never gives up and never crashes the process; it
// logs state changes, not every attempt.
type Registrar struct {
	c     *Client
	reg   Registration
	store *ConfigStore
	opts  RegistrarOptions
	log   logrus.FieldLogger

	mu     sync.Mutex
	status RegistrarStatus
	// logState is the last logged condition, so repeated identical
	// failures are logged once.
	logState string
}

// NewRegistrar prepares the loop; Run starts it. store may be nil when the
// caller does not want config.
func NewRegistrar(c *Client, reg Registration, store *ConfigStore, opts RegistrarOptions) *Registrar {
	if opts.Interval <= 0 {
		opts.Interval = 10 * time.Second
	}
	if opts.Backoff.Initial <= 0 {
		opts.Backoff.Initial = time.Second
	}
	if opts.Backoff.Max <= 0 {
		opts.Backoff.Max = 60 * time.Second
	}
	if opts.Backoff.Max < opts.Backoff.Initial {
		opts.Backoff.Max = opts.Backoff.Initial
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Start.IsZero() {
		opts.Start = opts.Now()
	}
	if opts.Logger == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		opts.Logger = l
	}
	if store == nil {
		store = NewConfigStore(nil)
	}
	r := &Registrar{c: c, reg: reg, store: store, opts: opts,
		log: opts.Logger.WithFields(logrus.Fields{"component": "openhim", "urn": reg.URN})}
	r.status = RegistrarStatus{URN: reg.URN, Version: reg.Version, CoreURL: c.URL()}
	return r
}

// Run blocks until ctx ends. There is no de-registration: core has no such
// call for a stopping mediator, and the console shows it as silent.
func (r *Registrar) Run(ctx context.Context) {
	registered := false
	needConfig := true
	delay := r.opts.Backoff.Initial
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	backoff := func() bool {
		d := delay
		delay = min(delay*2, r.opts.Backoff.Max)
		return wait(d)
	}
	for ctx.Err() == nil {
		if !registered {
			if err := r.c.Register(ctx, r.reg); err != nil {
				if ctx.Err() != nil {
					return
				}
				r.failed("registration", err)
				if !backoff() {
					return
				}
				continue
			}
			registered = true
			needConfig = true
			r.mu.Lock()
			r.status.Registered = true
			r.mu.Unlock()
			r.logChange("registered", logrus.InfoLevel, "registered with OpenHIM core", logrus.Fields{"version": r.reg.Version, "core": r.c.URL()})
			r.mu.Lock()
			install := r.opts.InstallChannels && (r.status.Channels == "" || r.status.Channels == "failed")
			r.mu.Unlock()
			if install {
				r.installChannels(ctx)
			}
		}

		cfg, ok, err := r.c.Heartbeat(ctx, r.reg.URN, r.opts.Now().Sub(r.opts.Start), needConfig)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, ErrNotRegistered) {
			registered = false
			r.mu.Lock()
			r.status.Registered = false
			r.mu.Unlock()
			r.failed("heartbeat", err)
			// Back off too: a core that keeps forgetting us (wrong urn
			// encoding, a proxy) must not be hammered.
			if !backoff() {
				return
			}
			continue
		}
		if err != nil {
			r.failed("heartbeat", err)
			if !wait(r.opts.Interval) {
				return
			}
			continue
		}
		delay = r.opts.Backoff.Initial
		// config:true is repeated until one heartbeat succeeds: the first
		// config after (re-)registration is only delivered on request.
		needConfig = false
		r.mu.Lock()
		r.status.LastHeartbeat = r.opts.Now()
		r.status.LastError = ""
		r.status.Failures = 0
		r.mu.Unlock()
		r.logChange("healthy", logrus.InfoLevel, "heartbeating to OpenHIM core", logrus.Fields{"interval": r.opts.Interval.String()})
		if ok {
			old := r.store.Get()
			if r.store.Apply(cfg) {
				r.log.WithField("keys", ChangedKeys(old, cfg)).Info("config updated from OpenHIM console")
			}
		}
		if !wait(r.opts.Interval) {
			return
		}
	}
}

func (r *Registrar) installChannels(ctx context.Context) {
	err := r.c.InstallChannels(ctx, r.reg.URN, nil)
	outcome := "installed"
	switch {
	case err == nil:
		r.log.WithField("channels", len(r.reg.DefaultChannelConfig)).Info("installed default channels in OpenHIM core")
	case errors.Is(err, ErrChannelExists):
		outcome = "already installed"
		r.log.Info("default channels already exist in OpenHIM core; leaving them as they are")
	default:
		outcome = "failed"
		r.log.WithError(err).Warn("could not install default channels in OpenHIM core; install them from the console (Mediators → Install channels)")
	}
	r.mu.Lock()
	r.status.Channels = outcome
	r.mu.Unlock()
}

// failed records a failed attempt and logs it when the condition differs
// from the last logged one.
func (r *Registrar) failed(what string, err error) {
	r.mu.Lock()
	r.status.Failures++
	r.status.LastError = err.Error()
	n := r.status.Failures
	r.mu.Unlock()
	r.logChange(what+" failing: "+failureKind(err), logrus.WarnLevel, "OpenHIM "+what+" failed; retrying", logrus.Fields{"error": err.Error(), "attempt": n})
}

// failureKind classifies an error for "has the condition changed?": the
// status for API errors, "unreachable" for transport errors (whose texts
// carry ephemeral ports), else the text.
func failureKind(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return "HTTP " + strconv.Itoa(ae.Status)
	}
	var te *TransportError
	if errors.As(err, &te) {
		return "unreachable"
	}
	return err.Error()
}

func (r *Registrar) logChange(state string, level logrus.Level, msg string, f logrus.Fields) {
	r.mu.Lock()
	changed := r.logState != state
	r.logState = state
	r.mu.Unlock()
	e := r.log.WithFields(f)
	if !changed {
		e.Debug(msg)
		return
	}
	e.Log(level, msg)
}

// Ready reports whether the mediator is registered and core accepted a
// heartbeat within the last three intervals.
func (r *Registrar) Ready() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.readyLocked()
}

func (r *Registrar) readyLocked() bool {
	if !r.status.Registered || r.status.LastHeartbeat.IsZero() {
		return false
	}
	return r.opts.Now().Sub(r.status.LastHeartbeat) <= 3*r.opts.Interval
}

// Status is a snapshot of the registrar's state.
func (r *Registrar) Status() RegistrarStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.status
	s.Ready = r.readyLocked()
	return s
}
