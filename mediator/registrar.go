package mediator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/jobmediator/jobmediator/internal/backoff"
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
	// InstallChannels asks core to create the default channels that it
	// does not have yet after registering, and to schedule the polling
	// ones (see syncChannels).
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
	// Channels is the default-channel outcome: "" (not asked),
	// "installed" (some were created now), "already installed", "conflict"
	// (a channel of another mediator has one of our names) or "failed".
	Channels string `json:"channels,omitempty"`
	// ChannelStates has one entry per default channel once core's
	// channels could be listed.
	ChannelStates []ChannelState `json:"channelStates,omitempty"`
	// Problems are what an operator must fix for every workflow to be
	// reachable or polled: name collisions, polling channels core has not
	// scheduled. /readyz shows them; they do not make the mediator unready,
	// since every other workflow still works.
	Problems []string `json:"problems,omitempty"`
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
	// nextSync is when a failed channel sync may be tried again, and
	// retrySync whether its failure can pass (core failing, unreachable).
	nextSync  time.Time
	retrySync bool
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
	failures := 0 // registrations (or forgotten heartbeats) failed in a row
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
	retryLater := func() bool {
		failures++
		return wait(backoff.Delay(failures, r.opts.Backoff.Initial, r.opts.Backoff.Max, backoff.NoJitter))
	}
	for ctx.Err() == nil {
		if !registered {
			if err := r.c.Register(ctx, r.reg); err != nil {
				if ctx.Err() != nil {
					return
				}
				r.failed("registration", err)
				if !retryLater() {
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
				r.syncChannels(ctx)
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
			if !retryLater() {
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
		failures = 0
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
		// A sync that failed for a passing reason (core answered 5xx, was
		// unreachable mid-way: listing, installing or saving a polling
		// channel) is tried again while core answers heartbeats, at most
		// once per Backoff.Max. Collisions and refusals (4xx) are not:
		// they need a person.
		r.mu.Lock()
		resync := r.opts.InstallChannels && r.retrySync && !r.opts.Now().Before(r.nextSync)
		r.mu.Unlock()
		if resync {
			r.syncChannels(ctx)
		}
		if !wait(r.opts.Interval) {
			return
		}
	}
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

// ChannelState is what the registrar found or did for one default channel.
type ChannelState struct {
	Name string `json:"name"`
	// State: "installed" (created now), "present" (ours, from an earlier
	// install), "conflict" (the name is taken by a channel that does not
	// route to this mediator) or "failed".
	State string `json:"state"`
	// Polling, for polling channels: "scheduled", "disabled" (switched off
	// in the console) or "not scheduled".
	Polling string `json:"polling,omitempty"`
	Problem string `json:"problem,omitempty"`
	Fix     string `json:"fix,omitempty"`
}

// Channel states.
const (
	ChannelInstalled = "installed"
	ChannelPresent   = "present"
	ChannelConflict  = "conflict"
	ChannelFailed    = "failed"
)

// syncChannels makes core hold every default channel and poll the polling
// ones (openhim.md §2.5, §15):
//
//  1. GET /channels, and sort our default channels into present (a channel
//     of that name routes to this mediator), taken (a channel of that name
//     routes elsewhere: another mediator's, or hand-made) and missing.
//  2. POST /mediators/:urn/channels with the missing names only. Core's
//     channel names are unique, so installing all of them again answers
//     500 E11000 and, before, left workflows added to the project after the
//     first install without a channel.
//  3. PUT /channels/:id unchanged for each of our enabled polling channels:
//     core 8.5 schedules polling only for channels saved through /channels
//     (or at its own start), never for installed ones.
//
// A taken name is reported with its fix and never retried: installing it
// again cannot succeed. When the API user may not list channels, it falls
// back to installing all of them and reading E11000 as "already there".
func (r *Registrar) syncChannels(ctx context.Context) {
	chans, err := r.c.ListChannels(ctx)
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Status < 500 {
			r.installAll(ctx, err) // not permitted to list: install blind
			return
		}
		// Core failing or unreachable: nothing is known, try again later.
		r.setChannelStates(nil, fmt.Sprintf("could not list core's channels (%v); fix: none needed if core recovers, it is tried again", err), true)
		return
	}
	retry := false
	states, missing := r.classify(chans, nil)
	if len(missing) > 0 {
		err := r.c.InstallChannels(ctx, r.reg.URN, missing)
		if err == nil || errors.Is(err, ErrChannelExists) {
			// E11000 here is a race with another replica installing the
			// same channels: the listing below tells.
			if again, lerr := r.c.ListChannels(ctx); lerr == nil {
				chans = again
			}
		}
		installed := map[string]bool{}
		for _, n := range missing {
			installed[n] = true
		}
		states, _ = r.classify(chans, installed)
		retry = passing(err)
		if err != nil && !errors.Is(err, ErrChannelExists) {
			for i := range states {
				if states[i].State == ChannelFailed {
					states[i].Problem = err.Error()
					states[i].Fix = "install it from the console (Mediators → this mediator → Install channels)"
				}
			}
		}
	}
	byName := map[string]CoreChannel{}
	for _, ch := range chans {
		byName[ch.Name] = ch
	}
	for i, st := range states {
		def := r.defaultChannel(st.Name)
		if def.Type != "polling" || (st.State != ChannelInstalled && st.State != ChannelPresent) {
			continue
		}
		ch := byName[st.Name]
		if !ch.Enabled() {
			states[i].Polling = "disabled"
			continue
		}
		// Also for channels already present: an install by an earlier
		// version of Job Mediator was never scheduled. The cost is one
		// immediate poll per start, as core does at its own start.
		if err := r.c.ResaveChannel(ctx, ch.ID); err != nil {
			retry = retry || passing(err)
			states[i].Polling = "not scheduled"
			states[i].Problem = "core has not scheduled this polling channel: " + err.Error()
			states[i].Fix = "give the OpenHIM API user admin rights (core ≤8.5) or channel-manage-all, or open the channel in the console and save it, or restart core (it schedules polling channels at start)"
			continue
		}
		states[i].Polling = "scheduled"
	}
	r.setChannelStates(states, "", retry)
}

// passing reports whether a failed call may succeed later by itself: core
// answered 5xx (other than a duplicate name) or could not be reached. A 4xx
// (a name core's stored defaults lack, a right the user lacks) needs a
// person.
func passing(err error) bool {
	if err == nil || errors.Is(err, ErrChannelExists) {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status >= 500
	}
	return true
}

// classify sorts our default channels by what core has. installed names
// the channels just asked for: present ones among them count as installed.
func (r *Registrar) classify(chans []CoreChannel, installed map[string]bool) (states []ChannelState, missing []string) {
	byName := map[string]CoreChannel{}
	for _, ch := range chans {
		// Deleted channels count too: core keeps a deleted channel that
		// has transactions, and with it its name.
		byName[ch.Name] = ch
	}
	for _, def := range r.reg.DefaultChannelConfig {
		st := ChannelState{Name: def.Name}
		ch, ok := byName[def.Name]
		switch {
		case !ok && installed[def.Name]:
			st.State = ChannelFailed
			st.Problem = "core did not create the channel"
			st.Fix = "install it from the console (Mediators → this mediator → Install channels)"
		case !ok:
			missing = append(missing, def.Name)
			continue
		case ch.Status == "deleted":
			st.State = ChannelConflict
			st.Problem = fmt.Sprintf("channel %q was deleted in the console, but core keeps it (it has transactions) and its name", def.Name)
			st.Fix = "restore it in the console (set its status to enabled), or set MEDIATOR_NAME to a new name: default channels are named \"<MEDIATOR_NAME> – <workflow>\""
		case !r.owns(ch, def):
			st.State = ChannelConflict
			st.Problem = fmt.Sprintf("channel name %q is taken by a channel that routes to %s, not to this mediator (%s)", def.Name, routeTargets(ch.Routes), routeTargets(def.Routes))
			if m := urnMark.FindStringSubmatch(ch.Description); m != nil {
				st.Problem = fmt.Sprintf("channel name %q is taken by mediator %s's channel (this one is %s)", def.Name, m[1], r.reg.URN)
			}
			st.Fix = "set MEDIATOR_NAME (--mediator-name) to a name no other mediator uses: default channels are named \"<MEDIATOR_NAME> – <workflow>\"; or, if it is an older install of this mediator, point its route here or delete it in the console"
		case installed[def.Name]:
			st.State = ChannelInstalled
		default:
			st.State = ChannelPresent
			if !routesHere(ch, def) {
				// Ours, but core sends its requests elsewhere: usually the
				// host was this machine's name and the container was
				// replaced. Core keeps channels as they are; say so.
				st.Problem = fmt.Sprintf("channel routes to %s, but this mediator is at %s: core sends the workflow's requests there", routeTargets(ch.Routes), routeTargets(def.Routes))
				st.Fix = "set MEDIATOR_HOST (and MEDIATOR_PORT) to a name that stays the same across restarts, such as the service name, and point the channel's route at it in the console; or, if the route is meant to go through a proxy, ignore this"
			}
		}
		states = append(states, st)
	}
	return states, missing
}

func (r *Registrar) defaultChannel(name string) Channel {
	for _, def := range r.reg.DefaultChannelConfig {
		if def.Name == name {
			return def
		}
	}
	return Channel{}
}

var urnMark = regexp.MustCompile(`\((urn:[^()\s]+)\)\s*$`)

// owns reports whether a stored channel of one of our default channels'
// names is ours. The urn at the end of its description decides; a channel
// without one (installed by an earlier version, imported with core's
// metadata, made by hand) is ours when it routes to this mediator's host
// and port, or carries the description an earlier version gave it. Route
// alone cannot decide: the host is the machine's name by default, and a
// container gets a new one on every start.
func (r *Registrar) owns(ch CoreChannel, def Channel) bool {
	if m := urnMark.FindStringSubmatch(ch.Description); m != nil {
		return m[1] == r.reg.URN
	}
	if routesHere(ch, def) {
		return true
	}
	// The workflow key, read back from our own description (the
	// registration does not keep it otherwise).
	var wf string
	if _, err := fmt.Sscanf(def.Description, "Runs workflow %q", &wf); err != nil {
		return false
	}
	return ch.Description == legacyChannelDescription(wf, r.reg.Name)
}

// routesHere reports whether a stored channel has a route to the host and
// port of the default channel's routes.
func routesHere(ch CoreChannel, def Channel) bool {
	for _, want := range def.Routes {
		for _, got := range ch.Routes {
			if got.Host == want.Host && got.Port == want.Port {
				return true
			}
		}
	}
	return false
}

func routeTargets(rs []Route) string {
	if len(rs) == 0 {
		return "nowhere"
	}
	out := ""
	for i, rt := range rs {
		if i > 0 {
			out += ", "
		}
		out += rt.Host + ":" + strconv.Itoa(rt.Port)
	}
	return out
}

// installAll is the fallback when core's channels cannot be listed (the
// API user may not view them): install every default channel and read
// E11000 as "already installed".
func (r *Registrar) installAll(ctx context.Context, listErr error) {
	err := r.c.InstallChannels(ctx, r.reg.URN, nil)
	outcome := "installed"
	switch {
	case err == nil:
		r.log.WithField("channels", len(r.reg.DefaultChannelConfig)).Info("installed default channels in OpenHIM core")
	case errors.Is(err, ErrChannelExists):
		outcome = "already installed"
		r.log.WithError(listErr).Info("default channels (some or all) already exist in OpenHIM core; could not list channels to tell which")
	default:
		outcome = ChannelFailed
		r.log.WithError(err).Warn("could not install default channels in OpenHIM core; install them from the console (Mediators → Install channels)")
	}
	var problems []string
	for _, def := range r.reg.DefaultChannelConfig {
		if def.Type == "polling" && outcome != ChannelFailed {
			problems = append(problems, fmt.Sprintf("%s: polling channel may not be scheduled: cannot list channels (%v); fix: give the OpenHIM API user admin rights (core ≤8.5) or channel-manage-all, or save the channel once in the console", def.Name, listErr))
		}
	}
	r.mu.Lock()
	r.status.Channels = outcome
	r.status.ChannelStates = nil
	r.status.Problems = problems
	r.retrySync = passing(err)
	r.nextSync = r.opts.Now().Add(r.opts.Backoff.Max)
	r.mu.Unlock()
}

// setChannelStates records the outcome and logs each problem once. A
// failure of the whole sync (failure != "") leaves the outcome "failed";
// retry says a failure may pass, so the sync is tried again.
func (r *Registrar) setChannelStates(states []ChannelState, failure string, retry bool) {
	outcome := "already installed"
	var problems []string
	if failure != "" {
		outcome = ChannelFailed
		problems = append(problems, failure)
		r.log.Warn(failure)
	}
	installed := 0
	for _, st := range states {
		switch st.State {
		case ChannelInstalled:
			installed++
			if outcome == "already installed" {
				outcome = "installed"
			}
		case ChannelFailed:
			if outcome != ChannelConflict {
				outcome = ChannelFailed
			}
		case ChannelConflict:
			outcome = ChannelConflict
		}
		if st.Problem != "" {
			problems = append(problems, st.Name+": "+st.Problem+"; fix: "+st.Fix)
			r.log.WithFields(logrus.Fields{"channel": st.Name, "fix": st.Fix}).Warn(st.Problem)
		}
	}
	if installed > 0 {
		r.log.WithField("channels", installed).Info("installed default channels in OpenHIM core")
	}
	r.mu.Lock()
	r.status.Channels = outcome
	r.status.ChannelStates = states
	r.status.Problems = problems
	r.retrySync = retry
	r.nextSync = r.opts.Now().Add(r.opts.Backoff.Max)
	r.mu.Unlock()
}
