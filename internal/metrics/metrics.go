package metrics

import (
	"bytes"
	"context"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/jobmediator/jobmediator/internal/version"
	"github.com/jobmediator/jobmediator/store"
	"github.com/jobmediator/jobmediator/workflow"
)

// Options are what the daemon supplies; every field is optional.
type Options struct {
	// Version is the build_info label (default version.String()).
	Version string
	// Queue counts queued messages by state ("pending", "dead"), read at
	// scrape time (StoreQueue adapts a store). Nil leaves
	// jobmediator_queue_messages out.
	Queue func(ctx context.Context) (map[string]int, error)
	// Registered reports whether the mediator is registered and
	// heartbeating with OpenHIM core. Nil (not registering) leaves
	// jobmediator_openhim_registered out.
	Registered func() bool
	// Declarative counts the declarative steps the daemon's engine took
	// up, by how they went: "native" (no VM), "replayed" (the answer
	// handed to the VM) and "declined" (run in the VM); read at scrape
	// time. Nil leaves jobmediator_declarative_steps out.
	Declarative func() (native, replayed, declined int64)
}

// Metrics is Job Mediator's metric set on its own Registry.
type Metrics struct {
	Registry *Registry
	// Runs records finished runs; use it (or Observer) as a workflow.Observer.
	Runs     *Runs
	requests *CounterVec
}

// New registers every Job Mediator metric on a new Registry.
func New(o Options) *Metrics {
	r := NewRegistry()
	v := o.Version
	if v == "" {
		v = version.String()
	}
	r.Gauge("jobmediator_build_info", "Always 1; the version label is the running build.", "version").Set(1, v)
	m := &Metrics{
		Registry: r,
		Runs: &Runs{
			runs: r.Counter("jobmediator_runs_total",
				"Finished workflow runs by workflow, trigger and outcome (success, failed, crashed; error when the run produced no result).",
				"workflow", "trigger", "status"),
			duration: r.Histogram("jobmediator_run_duration_seconds",
				"Wall time of finished workflow runs, from start to answer, in seconds.", DefaultBuckets, "workflow"),
			orchestrations: r.Counter("jobmediator_orchestrations_total",
				"Outbound calls made by runs (one OpenHIM orchestration each).", "workflow"),
			upstreamFailures: r.Counter("jobmediator_upstream_failures_total",
				"Outbound calls that got no response (transport error, timeout) or a 5xx response.", "workflow"),
		},
		requests: r.Counter("jobmediator_http_requests_total",
			"HTTP requests served, by route template (unmatched when no route matched), method and status code.",
			"route", "method", "code"),
	}
	if o.Queue != nil {
		queue := o.Queue
		r.GaugeFunc("jobmediator_queue_messages",
			"Messages in the durable queue by state: pending (waiting, retrying or running now) and dead (retries exhausted, needs a person).",
			"state", func(ctx context.Context) (map[string]float64, error) {
				counts, err := queue(ctx)
				if err != nil {
					return nil, err
				}
				out := make(map[string]float64, len(counts))
				for k, n := range counts {
					out[k] = float64(n)
				}
				return out, nil
			})
	}
	if o.Registered != nil {
		registered := o.Registered
		r.GaugeFunc("jobmediator_openhim_registered",
			"1 while the mediator is registered with OpenHIM core and heartbeating, else 0.",
			"", func(context.Context) (map[string]float64, error) {
				if registered() {
					return map[string]float64{"": 1}, nil
				}
				return map[string]float64{"": 0}, nil
			})
	}
	if o.Declarative != nil {
		counts := o.Declarative
		r.GaugeFunc("jobmediator_declarative_steps",
			"Declarative steps (one adaptor operation on literals and $ references) run in the daemon since it started, by how they went: native (without a VM), replayed (an error or odd answer handed to the VM), declined (run in the VM). A counter.",
			"way", func(context.Context) (map[string]float64, error) {
				n, r, d := counts()
				return map[string]float64{"native": float64(n), "replayed": float64(r), "declined": float64(d)}, nil
			})
	}
	return m
}

// StoreQueue adapts a store to Options.Queue.
func StoreQueue(st store.Store) func(ctx context.Context) (map[string]int, error) {
	return func(ctx context.Context) (map[string]int, error) {
		c, err := st.CountQueue(ctx)
		if err != nil {
			return nil, err
		}
		return map[string]int{"pending": c.Pending, "dead": c.Dead}, nil
	}
}

// Observer returns an observer that records a run and then hands it to
// next (nil: nobody), so metrics and run history can share the one
// workflow.Options.Observer.
func (m *Metrics) Observer(next workflow.Observer) workflow.Observer {
	r := *m.Runs
	r.Next = next
	return &r
}

// Runs is a workflow.Observer that counts finished runs. It never blocks.
type Runs struct {
	runs             *CounterVec
	duration         *HistogramVec
	orchestrations   *CounterVec
	upstreamFailures *CounterVec
	// Next, when set, receives every record after it is counted.
	Next workflow.Observer
}

var _ workflow.Observer = (*Runs)(nil)

// RunStatusError is the status label of a run that produced no result.
const RunStatusError = "error"

// RunFinished implements workflow.Observer.
func (r *Runs) RunFinished(ctx context.Context, rec workflow.RunRecord) {
	status := RunStatusError
	if rec.Result != nil && rec.Result.Status != "" {
		status = string(rec.Result.Status)
	}
	trigger := rec.Trigger
	if trigger == "" {
		trigger = "none"
	}
	r.runs.Inc(rec.Workflow, trigger, status)
	if !rec.Started.IsZero() && !rec.Finished.IsZero() {
		r.duration.Observe(max(rec.Finished.Sub(rec.Started), 0).Seconds(), rec.Workflow)
	}
	failures := 0
	for _, ex := range rec.Exchanges {
		if ex.Error != "" || (ex.Response != nil && ex.Response.Status >= 500) {
			failures++
		}
	}
	// Add(0) creates the series, so the first failure is an increase.
	r.orchestrations.Add(uint64(len(rec.Exchanges)), rec.Workflow)
	r.upstreamFailures.Add(uint64(failures), rec.Workflow)
	if r.Next != nil {
		r.Next.RunFinished(ctx, rec)
	}
}

// Handler serves the scrape (GET or HEAD) in the text format 0.0.4.
func (m *Metrics) Handler() http.Handler { return m.Registry.Handler() }

// Handler serves the registry (GET or HEAD) in the text format 0.0.4. A
// failing scrape-time callback is counted, never an error response.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		var b bytes.Buffer
		if err := r.WriteTo(req.Context(), &b); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", ContentType)
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
		w.WriteHeader(http.StatusOK)
		if req.Method != http.MethodHead {
			_, _ = w.Write(b.Bytes())
		}
	})
}

// Unmatched is the route label of a request no route matched (404, and
// 405 for a known path with the wrong method).
const Unmatched = "unmatched"

// Middleware counts requests in jobmediator_http_requests_total. Wrap the
// *mux.Router itself (the route is then found with the router's own
// matching) or install it with router.Use (mux.CurrentRoute is then set).
// The route label is always a path template, never a raw path.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	router, _ := next.(*mux.Router)
	if router != nil {
		// The route is read where mux has matched it (a route middleware
		// fills in the holder this request carries) instead of matching
		// every request a second time: Router.Match walks the routes'
		// regular expressions, ~5% of the daemon's CPU under routed load.
		router.Use(recordRoute)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		route := Unmatched
		if router != nil {
			next.ServeHTTP(sw, r)
			if sw.route != "" {
				route = sw.route
			}
		} else {
			route = routeOf(r)
			next.ServeHTTP(sw, r)
		}
		m.requests.Inc(route, methodLabel(r.Method), statusLabel(sw.code()))
	})
}

// recordRoute fills in the matched route's template on the statusWriter
// the request is answered through, which the router hands its middleware
// as it got it: it used to travel in a holder in the request's context,
// which cost every request a context and a copy of the request. No route
// (404, 405) leaves it empty.
func recordRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sw := findStatusWriter(w); sw != nil {
			if t := routeOf(r); t != Unmatched {
				sw.route = t
			}
		}
		next.ServeHTTP(w, r)
	})
}

// findStatusWriter is Middleware's writer under w, through writers that
// wrap it and say so (Unwrap, as http.ResponseController expects).
func findStatusWriter(w http.ResponseWriter) *statusWriter {
	for {
		switch t := w.(type) {
		case *statusWriter:
			return t
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return nil
		}
	}
}

// statusLabels are the codes' label values, made once: strconv.Itoa
// allocates for every code from 100 up, once per request.
var statusLabels = func() (t [500]string) {
	for i := range t {
		t[i] = strconv.Itoa(100 + i)
	}
	return t
}()

func statusLabel(code int) string {
	if code >= 100 && code < 600 {
		return statusLabels[code-100]
	}
	return strconv.Itoa(code)
}

func routeOf(r *http.Request) string {
	if cr := mux.CurrentRoute(r); cr != nil {
		if t, err := cr.GetPathTemplate(); err == nil {
			return t
		}
	}
	return Unmatched
}

// methodLabel keeps the method label bounded: anything but the standard
// methods is "other".
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// statusWriter remembers the first final status code written, and the
// route the router matched (recordRoute).
type statusWriter struct {
	http.ResponseWriter
	status int
	route  string
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Flush passes through, so streaming handlers keep working.
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
