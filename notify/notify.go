// Package notify tells people when integrations fail: a run that failed
// and will not be retried, a message moved to dead letters, a workflow
// failing N times in M minutes, registration with OpenHIM lost, the store
// unreachable, and the recovery ("resolved") of each.
//
// Storms send one message, not a thousand. Events are grouped by workflow
// and event kind into an incident. The first event of an incident opens a
// collection window (Window, default one minute); when it closes, one
// message per sink says how many events happened, the first and last
// error and where to look. While the incident stays open, further events
// are digested into at most one message per Repeat (default one hour).
// When the workflow (or OpenHIM, or the store) is healthy again, one
// "resolved" message closes the incident.
//
// A Notifier never blocks its callers for longer than a mutex: messages
// are built under the lock and handed to one outbox per sink, which
// delivers them in order in the background (webhooks and mail both retry
// with backoff).
//
// Messages carry error messages (redacted) and counts, never payloads or
// credentials, unless a workflow opts in to payload excerpts, which are
// redacted and cut short.
package notify

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/jobmediator/jobmediator/internal/redact"
)

// Kind is an event kind.
type Kind string

// Event kinds, as written in jobmediator.yaml `notify: {events: […]}`.
const (
	// RunFailed: a run failed and will not be retried (a permanent error,
	// or a transient one with no retry left to come).
	RunFailed Kind = "run_failed"
	// DeadLetter: queued work gave up and moved to dead letters.
	DeadLetter Kind = "dead_letter"
	// Failing: a workflow failed `times` times within `within` (a
	// threshold over every failed run, retried or not).
	Failing Kind = "failing"
	// OpenHIM: registration with OpenHIM core lost, or heartbeats failing.
	OpenHIM Kind = "openhim"
	// Store: the store (MongoDB or the embedded one) is unreachable.
	Store Kind = "store"
	// Test is what `jobmediator notify-test` and the console send.
	Test Kind = "test"
)

// WorkflowKinds are events about one workflow; their recipients and
// whether they are sent at all can be set per workflow.
var WorkflowKinds = []Kind{RunFailed, DeadLetter, Failing}

// DefaultEvents are a workflow's notified events when jobmediator.yaml
// does not say.
var DefaultEvents = []Kind{RunFailed, DeadLetter}

// ParseKind reads an event kind as written in jobmediator.yaml.
func ParseKind(s string) (Kind, error) {
	for _, k := range WorkflowKinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown event %q", s)
}

// Status of a message.
type Status string

const (
	Firing   Status = "firing"
	Resolved Status = "resolved"
	Testing  Status = "test"
)

// Event is something that went wrong, reported by the daemon.
type Event struct {
	Kind     Kind
	Workflow string // "" for OpenHIM and Store
	Error    string // what went wrong; redacted again before it is sent
	RunID    string
	Time     time.Time // zero means now
	// Payload is the run's input; it is used (redacted, cut to
	// ExcerptLimit) only when the workflow opts in to payload excerpts.
	Payload []byte
}

// ExcerptLimit is the longest payload excerpt a message carries.
const ExcerptLimit = 512

// errorLimit keeps a message readable when an error is a whole page.
const errorLimit = 1000

// Message is what every sink sends: the JSON body of a webhook, the
// content of a mail.
type Message struct {
	ID       string `json:"id"` // unique per message: receivers dedupe retried deliveries on it
	Status   Status `json:"status"`
	Event    Kind   `json:"event"`
	Workflow string `json:"workflow,omitempty"`
	Mediator string `json:"mediator"`
	Summary  string `json:"summary"`
	// Count is how many events this message digests; Total how many since
	// the incident opened.
	Count      int       `json:"count"`
	Total      int       `json:"total"`
	FirstError string    `json:"first_error,omitempty"`
	LastError  string    `json:"last_error,omitempty"`
	FirstAt    time.Time `json:"first_at"`
	LastAt     time.Time `json:"last_at"`
	LastRunID  string    `json:"last_run_id,omitempty"`
	RunsURL    string    `json:"runs_url,omitempty"`
	Excerpt    string    `json:"payload_excerpt,omitempty"`
	SentAt     time.Time `json:"sent_at"`
}

// Sink delivers messages somewhere.
type Sink interface {
	// Kind is "webhook" or "email".
	Kind() string
	// Target says where messages go, without secrets (for logs and the
	// console's settings page).
	Target() string
	// Send delivers one message, retrying as the sink sees fit, until ctx
	// ends.
	Send(ctx context.Context, m Message) error
}

// Threshold is the `failing` event's trigger: Times failed runs within
// Within.
type Threshold struct {
	Times  int
	Within time.Duration
}

// DefaultThreshold applies when `failing` is listed without numbers.
var DefaultThreshold = Threshold{Times: 5, Within: 10 * time.Minute}

// Route is what one workflow's `notify:` says.
type Route struct {
	// Events notified for this workflow; nil means DefaultEvents, empty
	// means none.
	Events []Kind
	// Sinks receive this workflow's messages in addition to the global ones.
	Sinks []Sink
	// Failing is the threshold of the failing event.
	Failing Threshold
	// PayloadExcerpt adds a redacted excerpt of the failed run's input.
	PayloadExcerpt bool
}

func (r Route) wants(k Kind) bool {
	events := r.Events
	if events == nil {
		events = DefaultEvents
	}
	for _, e := range events {
		if e == k {
			return true
		}
	}
	return false
}

// Options configure a Notifier.
type Options struct {
	// Sinks receive every message (the JM_NOTIFY_* settings).
	Sinks []Sink
	// Routes by workflow key; a workflow without one gets the defaults.
	Routes map[string]Route
	// Window is how long the first events of an incident are collected
	// before the first message; default one minute.
	Window time.Duration
	// Repeat is the least time between two messages about one open
	// incident; default one hour.
	Repeat time.Duration
	// Mediator names this mediator in messages.
	Mediator string
	// RunsURL links a workflow's runs page in the console; nil or "" for
	// no link.
	RunsURL func(workflow string) string
	// Redactor scrubs every string of a message (credential values,
	// tokens); nil uses the default keys only.
	Redactor *redact.Redactor
	Logger   logrus.FieldLogger
	Now      func() time.Time
	// Outbox is how many messages wait per sink while it is slow or down;
	// beyond it the oldest are dropped (and logged). Default 256.
	Outbox int
}

// Defaults.
const (
	DefaultWindow = time.Minute
	DefaultRepeat = time.Hour
)

type key struct {
	kind     Kind
	workflow string
}

// incident is one open problem (workflow+event) and what is not yet told.
type incident struct {
	total      int
	pending    int // events since the last message
	first      string
	firstAt    time.Time
	last       string
	lastAt     time.Time
	lastRun    string
	excerpt    string
	pendFirst  string
	pendFirstT time.Time
	sent       bool      // a firing message went out
	lastSent   time.Time // when
	due        time.Time // when pending events are told; zero when none are
}

// Notifier turns events into messages.
type Notifier struct {
	o   Options
	red *redact.Redactor
	log logrus.FieldLogger

	mu        sync.Mutex
	incidents map[key]*incident
	failures  map[string][]failure // workflow → failed runs inside its threshold window
	outboxes  map[Sink]*outbox
	order     []Sink // outboxes in a stable order
	wake      chan struct{}
	seq       uint64
	stopped   bool

	runDone chan struct{}
	cancel  context.CancelFunc
}

// New prepares a Notifier; Start begins delivery.
func New(o Options) *Notifier {
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.Repeat <= 0 {
		o.Repeat = DefaultRepeat
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Outbox <= 0 {
		o.Outbox = 256
	}
	if o.Mediator == "" {
		o.Mediator = "Job Mediator"
	}
	n := &Notifier{
		o: o, red: o.Redactor, log: o.Logger,
		incidents: map[key]*incident{}, failures: map[string][]failure{},
		outboxes: map[Sink]*outbox{}, wake: make(chan struct{}, 1),
	}
	if n.red == nil {
		n.red = redact.New()
	}
	if n.log == nil {
		l := logrus.New()
		l.SetOutput(discard{})
		n.log = l
	}
	for _, s := range o.Sinks {
		n.addOutbox(s)
	}
	keys := make([]string, 0, len(o.Routes))
	for k := range o.Routes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, s := range o.Routes[k].Sinks {
			n.addOutbox(s)
		}
	}
	return n
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func (n *Notifier) addOutbox(s Sink) {
	if _, ok := n.outboxes[s]; ok {
		return
	}
	n.outboxes[s] = &outbox{sink: s, ch: make(chan Message, n.o.Outbox), log: n.log}
	n.order = append(n.order, s)
}

// Enabled reports whether any sink is configured.
func (n *Notifier) Enabled() bool { return n != nil && len(n.order) > 0 }

// Start begins delivering; it returns at once. Stop ends it.
func (n *Notifier) Start(ctx context.Context) error {
	if n == nil {
		return nil
	}
	ctx, n.cancel = context.WithCancel(context.WithoutCancel(ctx))
	n.runDone = make(chan struct{})
	var wg sync.WaitGroup
	for _, s := range n.order {
		ob := n.outboxes[s]
		wg.Add(1)
		go func() { defer wg.Done(); ob.run(ctx) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); n.flushLoop(ctx) }()
	go func() { wg.Wait(); close(n.runDone) }()
	return nil
}

// Stop tells what is still pending at once (a shutdown must not swallow
// the digest of a storm), then waits for the outboxes to drain until ctx
// ends.
func (n *Notifier) Stop(ctx context.Context) error {
	if n == nil || n.runDone == nil {
		return nil
	}
	n.mu.Lock()
	if !n.stopped {
		n.stopped = true
		n.flushLocked(time.Time{}) // everything pending, due or not
		for _, s := range n.order {
			close(n.outboxes[s].ch)
		}
	}
	n.mu.Unlock()
	n.poke() // the flush loop sees stopped and ends
	select {
	case <-n.runDone:
		return nil
	case <-ctx.Done():
		n.cancel()
		<-n.runDone
		return errors.New("notify: messages still undelivered at shutdown")
	}
}

// Report records that something went wrong.
func (n *Notifier) Report(e Event) {
	if !n.Enabled() {
		return
	}
	if e.Time.IsZero() {
		e.Time = n.o.Now()
	}
	route := n.o.Routes[e.Workflow]
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped {
		return
	}
	if e.Workflow != "" && e.Kind == RunFailed && route.wants(Failing) {
		n.countFailure(e, route)
	}
	if e.Workflow != "" && !route.wants(e.Kind) {
		return
	}
	n.recordLocked(key{e.Kind, e.Workflow}, e, route)
}

// RunFailedRetrying records a failed run that will be retried: it counts
// toward the failing threshold but is not a run_failed event.
func (n *Notifier) RunFailedRetrying(e Event) {
	if !n.Enabled() || e.Workflow == "" {
		return
	}
	if e.Time.IsZero() {
		e.Time = n.o.Now()
	}
	route := n.o.Routes[e.Workflow]
	if !route.wants(Failing) {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.stopped {
		n.countFailure(e, route)
	}
}

// countFailure keeps the workflow's failures inside its threshold window
// and opens (or feeds) the failing incident once there are enough.
func (n *Notifier) countFailure(e Event, route Route) {
	th := route.Failing
	if th.Times <= 0 || th.Within <= 0 {
		th = DefaultThreshold
	}
	ts := append(n.failures[e.Workflow], failure{e.Time, e.Error, e.RunID})
	cut := 0
	for cut < len(ts) && e.Time.Sub(ts[cut].at) > th.Within {
		cut++
	}
	ts = ts[cut:]
	// Keep no more than the threshold needs: a storm must not grow this.
	if len(ts) > th.Times {
		ts = ts[len(ts)-th.Times:]
	}
	n.failures[e.Workflow] = ts
	k := key{Failing, e.Workflow}
	fe := e
	fe.Kind = Failing
	if _, open := n.incidents[k]; open {
		n.recordLocked(k, fe, route)
	} else if len(ts) >= th.Times {
		// The incident opens with the failures that crossed the threshold.
		for _, f := range ts {
			fe.Time, fe.Error, fe.RunID = f.at, f.err, f.run
			n.recordLocked(k, fe, route)
		}
	}
}

type failure struct {
	at       time.Time
	err, run string
}

// recordLocked adds e to the incident k.
func (n *Notifier) recordLocked(k key, e Event, route Route) {
	msg := n.clean(e.Error)
	inc := n.incidents[k]
	if inc == nil {
		inc = &incident{first: msg, firstAt: e.Time}
		n.incidents[k] = inc
	}
	inc.total++
	if inc.pending == 0 {
		inc.pendFirst, inc.pendFirstT = msg, e.Time
		if !inc.sent {
			inc.due = e.Time.Add(n.o.Window)
		} else {
			inc.due = inc.lastSent.Add(n.o.Repeat)
			if inc.due.Before(e.Time) {
				inc.due = e.Time
			}
		}
		n.poke()
	}
	inc.pending++
	inc.last, inc.lastAt, inc.lastRun = msg, e.Time, e.RunID
	if route.PayloadExcerpt && len(e.Payload) > 0 {
		inc.excerpt = n.excerpt(e.Payload)
	}
}

// Resolve closes the incident of kind for workflow ("" for OpenHIM and
// the store), if one is open: anything still pending is told first, then
// one "resolved" message.
func (n *Notifier) Resolve(kind Kind, workflow string) {
	if !n.Enabled() {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.resolveLocked(key{kind, workflow})
}

// RunSucceeded resolves every incident of a workflow: a successful run
// shows the upstream and the job work again.
func (n *Notifier) RunSucceeded(workflow string) {
	if !n.Enabled() {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.failures, workflow)
	for _, k := range WorkflowKinds {
		n.resolveLocked(key{k, workflow})
	}
}

func (n *Notifier) resolveLocked(k key) {
	inc := n.incidents[k]
	if inc == nil || n.stopped {
		return
	}
	now := n.o.Now()
	if inc.pending > 0 && !inc.sent {
		n.sendLocked(k, n.firing(k, inc, now))
	}
	delete(n.incidents, k)
	n.sendLocked(k, n.resolved(k, inc, now))
}

// Open lists the open incidents (for the console and tests).
func (n *Notifier) Open() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for k := range n.incidents {
		out = append(out, string(k.kind)+" "+k.workflow)
	}
	sort.Strings(out)
	return out
}

func (n *Notifier) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// flushLoop sends each incident's pending events when they fall due.
func (n *Notifier) flushLoop(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		n.mu.Lock()
		if n.stopped {
			n.mu.Unlock()
			return
		}
		now := n.o.Now()
		n.flushLocked(now)
		next := time.Time{}
		for _, inc := range n.incidents {
			if inc.pending > 0 && (next.IsZero() || inc.due.Before(next)) {
				next = inc.due
			}
		}
		n.mu.Unlock()
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(now), time.Millisecond)
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-n.wake:
			if !t.Stop() {
				select {
				case <-t.C:
				default:
				}
			}
		case <-t.C:
		}
	}
}

// flushLocked sends every incident due by now (a zero now: all of them).
func (n *Notifier) flushLocked(now time.Time) {
	keys := make([]key, 0, len(n.incidents))
	for k, inc := range n.incidents {
		if inc.pending > 0 && (now.IsZero() || !inc.due.After(now)) {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].workflow != keys[j].workflow {
			return keys[i].workflow < keys[j].workflow
		}
		return keys[i].kind < keys[j].kind
	})
	at := now
	if at.IsZero() {
		at = n.o.Now()
	}
	for _, k := range keys {
		n.sendLocked(k, n.firing(k, n.incidents[k], at))
	}
}

// firing builds the message for an incident's pending events and marks
// them told.
func (n *Notifier) firing(k key, inc *incident, now time.Time) Message {
	m := n.base(k, Firing, now)
	m.Count, m.Total = inc.pending, inc.total
	m.FirstError, m.LastError = inc.pendFirst, inc.last
	m.FirstAt, m.LastAt = inc.pendFirstT, inc.lastAt
	m.LastRunID, m.Excerpt = inc.lastRun, inc.excerpt
	m.Summary = firingSummary(k, inc.pending, inc.total, inc.sent, inc.pendFirstT, inc.lastAt)
	inc.sent, inc.lastSent, inc.pending, inc.due = true, now, 0, time.Time{}
	return m
}

func (n *Notifier) resolved(k key, inc *incident, now time.Time) Message {
	m := n.base(k, Resolved, now)
	m.Count, m.Total = inc.pending, inc.total
	m.FirstError, m.LastError = inc.first, inc.last
	m.FirstAt, m.LastAt = inc.firstAt, inc.lastAt
	m.LastRunID = inc.lastRun
	m.Summary = fmt.Sprintf("resolved: %s (%s in total, from %s to %s)", what(k), times(inc.total),
		inc.firstAt.UTC().Format(time.RFC3339), inc.lastAt.UTC().Format(time.RFC3339))
	return m
}

func (n *Notifier) base(k key, st Status, now time.Time) Message {
	n.seq++
	m := Message{
		ID:     fmt.Sprintf("%d-%d", now.UnixNano(), n.seq),
		Status: st, Event: k.kind, Workflow: k.workflow, Mediator: n.o.Mediator, SentAt: now.UTC(),
	}
	if n.o.RunsURL != nil && k.workflow != "" {
		m.RunsURL = n.o.RunsURL(k.workflow)
	}
	return m
}

// what describes an event kind for people.
func what(k key) string {
	switch k.kind {
	case RunFailed:
		return fmt.Sprintf("workflow %s: runs failed and will not be retried", k.workflow)
	case DeadLetter:
		return fmt.Sprintf("workflow %s: messages moved to dead letters", k.workflow)
	case Failing:
		return fmt.Sprintf("workflow %s is failing repeatedly", k.workflow)
	case OpenHIM:
		return "registration with OpenHIM core lost or heartbeats failing"
	case Store:
		return "the store is unreachable"
	case Test:
		return "test notification"
	}
	return string(k.kind)
}

func times(n int) string {
	if n == 1 {
		return "1 time"
	}
	return fmt.Sprintf("%d times", n)
}

func firingSummary(k key, count, total int, again bool, from, to time.Time) string {
	s := fmt.Sprintf("%s: %s between %s and %s", what(k), times(count), from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	if again {
		s += fmt.Sprintf(" (still failing: %s since it began)", times(total))
	}
	if count > 1 {
		s += "; one message digests them all"
	}
	return s
}

// clean redacts and shortens an error message.
func (n *Notifier) clean(s string) string {
	s = n.red.String(strings.TrimSpace(s))
	if len(s) > errorLimit {
		s = cut(s, errorLimit) + "…"
	}
	return s
}

func (n *Notifier) excerpt(payload []byte) string {
	b := n.red.JSON(payload)
	s := n.red.String(string(b))
	if len(s) > ExcerptLimit {
		s = cut(s, ExcerptLimit) + "…"
	}
	return s
}

// cut shortens s to at most n bytes without splitting a UTF-8 sequence.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// sinksFor lists the sinks a message about workflow goes to.
func (n *Notifier) sinksFor(workflow string) []Sink {
	out := append([]Sink(nil), n.o.Sinks...)
	if workflow != "" {
		for _, s := range n.o.Routes[workflow].Sinks {
			dup := false
			for _, o := range out {
				dup = dup || o == s
			}
			if !dup {
				out = append(out, s)
			}
		}
	}
	return out
}

func (n *Notifier) sendLocked(k key, m Message) {
	n.log.WithFields(logrus.Fields{"event": m.Event, "workflow": m.Workflow, "status": m.Status, "count": m.Count}).Info("notify: " + m.Summary)
	for _, s := range n.sinksFor(k.workflow) {
		n.outboxes[s].put(m)
	}
}

// SinkInfo describes a sink for the console's settings page.
type SinkInfo struct {
	Kind   string `json:"kind"`
	Target string `json:"target"`
	// Workflows is empty for a global sink (JM_NOTIFY_*), else the
	// workflows whose notify: names it.
	Workflows []string `json:"workflows,omitempty"`
}

// Sinks lists every sink.
func (n *Notifier) Sinks() []SinkInfo {
	if n == nil {
		return nil
	}
	global := map[Sink]bool{}
	for _, s := range n.o.Sinks {
		global[s] = true
	}
	var out []SinkInfo
	for _, s := range n.order {
		info := SinkInfo{Kind: s.Kind(), Target: s.Target()}
		if !global[s] {
			for wf, r := range n.o.Routes {
				for _, rs := range r.Sinks {
					if rs == s {
						info.Workflows = append(info.Workflows, wf)
					}
				}
			}
			sort.Strings(info.Workflows)
		}
		out = append(out, info)
	}
	return out
}

// TestResult is one sink's answer to a test notification.
type TestResult struct {
	SinkInfo
	Error string `json:"error,omitempty"`
}

// SendTest sends a test message to every sink now, bypassing the outboxes
// and the storm rules, and says how each went (errors redacted).
func (n *Notifier) SendTest(ctx context.Context) []TestResult {
	if n == nil {
		return nil
	}
	n.mu.Lock()
	m := n.base(key{Test, ""}, Testing, n.o.Now())
	n.mu.Unlock()
	m.Summary = "test notification from " + n.o.Mediator + ": if you read this, this sink works"
	infos := n.Sinks()
	out := make([]TestResult, len(n.order))
	var wg sync.WaitGroup
	for i, s := range n.order {
		out[i].SinkInfo = infos[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Send(ctx, m); err != nil {
				out[i].Error = n.red.String(err.Error())
			}
		}()
	}
	wg.Wait()
	return out
}

// outbox delivers one sink's messages in order.
type outbox struct {
	sink Sink
	ch   chan Message
	log  logrus.FieldLogger
}

// put never blocks: when the sink has fallen this far behind, the oldest
// waiting message gives way.
func (o *outbox) put(m Message) {
	for {
		select {
		case o.ch <- m:
			return
		default:
		}
		select {
		case old := <-o.ch:
			o.log.WithFields(logrus.Fields{"sink": o.sink.Kind() + " " + o.sink.Target(), "event": old.Event, "workflow": old.Workflow}).
				Warn("notify: outbox full, dropping the oldest message")
		default:
		}
	}
}

func (o *outbox) run(ctx context.Context) {
	for m := range o.ch {
		if err := o.sink.Send(ctx, m); err != nil {
			o.log.WithError(err).WithFields(logrus.Fields{"sink": o.sink.Kind() + " " + o.sink.Target(), "event": m.Event, "workflow": m.Workflow, "status": m.Status}).
				Error("notify: could not deliver")
		}
		if ctx.Err() != nil {
			// Shutting down past its deadline: drain without sending.
			for range o.ch {
			}
			return
		}
	}
}
