package metrics

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/common/expfmt"

	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/runtime"
	"github.com/jobmediator/jobmediator/workflow"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// t0 is a fixed start time so durations are exact.
var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func record(wf, trigger string, status runtime.Status, d time.Duration, exchanges ...recorder.Exchange) workflow.RunRecord {
	rec := workflow.RunRecord{RunID: "r", Workflow: wf, Trigger: trigger, Started: t0, Finished: t0.Add(d), Exchanges: exchanges}
	if status != "" {
		rec.Result = &runtime.Result{Status: status}
	}
	return rec
}

func ok(code int) recorder.Exchange {
	return recorder.Exchange{Request: recorder.ExchangeRequest{Method: "POST", URL: "http://up/records"},
		Response: &recorder.ExchangeResponse{Status: code}}
}

func refused() recorder.Exchange {
	return recorder.Exchange{Request: recorder.ExchangeRequest{Method: "POST", URL: "http://up/records"}, Error: "connect: connection refused"}
}

// scrape serves the registry's handler once and returns the response.
func scrape(t *testing.T, h http.Handler) (*http.Response, string) {
	t.Helper()
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	res := rr.Result()
	return res, rr.Body.String()
}

// samples parses the exposition with Prometheus' own text parser (so every
// test also checks the output is valid 0.0.4) and returns
// `name{l="v",…}` → value, with labels sorted by name (look keys up with
// at/has, which sort a key's labels the same way).
func samples(t *testing.T, body string) sampleMap {
	t.Helper()
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("Prometheus' parser rejects the exposition: %v\n%s", err, body)
	}
	out := sampleMap{}
	key := func(name string, pairs []string) string {
		if len(pairs) == 0 {
			return name
		}
		pairs = append([]string(nil), pairs...)
		sort.Strings(pairs)
		return name + "{" + strings.Join(pairs, ",") + "}"
	}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var pairs []string
			for _, l := range m.GetLabel() {
				pairs = append(pairs, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			switch {
			case m.GetCounter() != nil:
				out[key(name, pairs)] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key(name, pairs)] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				h := m.GetHistogram()
				out[key(name+"_count", pairs)] = float64(h.GetSampleCount())
				out[key(name+"_sum", pairs)] = h.GetSampleSum()
				for _, b := range h.GetBucket() {
					le := append(append([]string(nil), pairs...), fmt.Sprintf("le=%q", formatFloat(b.GetUpperBound())))
					out[key(name+"_bucket", le)] = float64(b.GetCumulativeCount())
				}
			}
		}
	}
	return out
}

type sampleMap map[string]float64

func (m sampleMap) at(key string) float64 { return m[sortLabels(key)] }

func (m sampleMap) has(key string) (float64, bool) {
	v, ok := m[sortLabels(key)]
	return v, ok
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/metrics -run Golden -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("exposition differs from %s (-update rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// fixedMetrics is the mediator's metric set after a fixed, known history.
func fixedMetrics(t *testing.T) *Metrics {
	t.Helper()
	m := New(Options{
		Version:    "1.4.2",
		Queue:      func(context.Context) (map[string]int, error) { return map[string]int{"pending": 7, "dead": 2}, nil },
		Registered: func() bool { return true },
	})
	obs := m.Observer(nil)
	ctx := context.Background()
	obs.RunFinished(ctx, record("hello", "webhook", runtime.StatusSuccess, 40*time.Millisecond, ok(201)))
	obs.RunFinished(ctx, record("hello", "webhook", runtime.StatusSuccess, 3*time.Second, ok(200), ok(200)))
	obs.RunFinished(ctx, record("hello", "webhook", runtime.StatusFailed, 250*time.Millisecond, ok(503), refused()))
	obs.RunFinished(ctx, record("pull-tei", "", runtime.StatusCrashed, 301*time.Second))
	obs.RunFinished(ctx, record("pull-tei", "cron", "", 0))

	router := mux.NewRouter()
	router.HandleFunc("/hello", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }).Methods(http.MethodPost)
	router.HandleFunc("/api/runs/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotFound) }).Methods(http.MethodGet)
	h := m.Middleware(router)
	for _, req := range []struct{ method, path string }{
		{"POST", "/hello"}, {"POST", "/hello"}, {"GET", "/api/runs/abc"}, {"GET", "/api/runs/def"}, {"GET", "/favicon.ico"},
	} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(req.method, req.path, nil))
	}
	return m
}

func TestExpositionGolden(t *testing.T) {
	cases := []struct {
		name   string
		golden string
		reg    func(t *testing.T) *Registry
	}{
		{"fresh mediator", "fresh.golden", func(*testing.T) *Registry {
			return New(Options{Version: "1.4.2", Registered: func() bool { return false }}).Registry
		}},
		{"mediator after traffic", "traffic.golden", func(t *testing.T) *Registry { return fixedMetrics(t).Registry }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, body := scrape(t, c.reg(t).Handler())
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d", res.StatusCode)
			}
			samples(t, body) // valid for Prometheus
			golden(t, c.golden, body)
			// Stable: the same history renders the same bytes (map order
			// never leaks into the output).
			if _, again := scrape(t, c.reg(t).Handler()); again != body {
				t.Fatalf("two identical registries render differently:\n%s\n---\n%s", body, again)
			}
		})
	}
}

func TestEscaping(t *testing.T) {
	cases := []struct {
		name, value, want string
	}{
		{"plain", "hello", `hello`},
		{"backslash", `C:\jobs`, `C:\\jobs`},
		{"double quote", `say "hi"`, `say \"hi\"`},
		{"newline", "two\nlines", `two\nlines`},
		{"all three, in order", "\\\"\n", `\\\"\n`},
		{"already escaped text is escaped again", `\n`, `\\n`},
		{"unicode and single quotes untouched", "Phnom Penh ' ស", "Phnom Penh ' ស"},
		{"empty", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Through a whole scrape: the line is exactly as escaped and
			// Prometheus' parser reads the original value back.
			r := NewRegistry()
			r.Counter("test_escaped_total", "Help with \\ and\nnewline and \"quotes\".", "v").Inc(c.value)
			var b strings.Builder
			if err := r.WriteTo(context.Background(), &b); err != nil {
				t.Fatal(err)
			}
			if line := `test_escaped_total{v="` + c.want + `"} 1` + "\n"; !strings.Contains(b.String(), line) {
				t.Fatalf("missing line %q in\n%s", line, b.String())
			}
			if !strings.Contains(b.String(), "# HELP test_escaped_total Help with \\\\ and\\nnewline and \"quotes\".\n") {
				t.Fatalf("HELP not escaped (backslash, newline; quotes kept):\n%s", b.String())
			}
			got := samples(t, b.String())
			if got.at(fmt.Sprintf("test_escaped_total{v=%q}", c.value)) != 1 {
				t.Fatalf("parser read back %v, want the value %q", got, c.value)
			}
		})
	}
}

func TestHistogramBuckets(t *testing.T) {
	buckets := []float64{0.005, 0.1, 1, 300}
	cases := []struct {
		name    string
		observe []float64
		want    []uint64 // cumulative per bucket, then +Inf
		sum     float64
	}{
		{"none", nil, []uint64{0, 0, 0, 0, 0}, 0},
		{"upper bound is inclusive", []float64{0.005, 1}, []uint64{1, 1, 2, 2, 2}, 1.005},
		{"just above a bound goes up one", []float64{0.0050001}, []uint64{0, 1, 1, 1, 1}, 0.0050001},
		{"beyond the last bound only in +Inf", []float64{301, 1000}, []uint64{0, 0, 0, 0, 2}, 1301},
		{"spread", []float64{0, 0.05, 0.5, 0.5, 2, 299.5, 400}, []uint64{1, 2, 4, 6, 7}, 702.55},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := NewRegistry()
			h := r.Histogram("test_seconds", "h", buckets, "wf")
			h.Init("w")
			for _, v := range c.observe {
				h.Observe(v, "w")
			}
			var b strings.Builder
			if err := r.WriteTo(context.Background(), &b); err != nil {
				t.Fatal(err)
			}
			got := samples(t, b.String())
			les := []string{"0.005", "0.1", "1", "300", "+Inf"}
			var prev float64
			for i, le := range les {
				n := got.at(fmt.Sprintf(`test_seconds_bucket{wf="w",le=%q}`, le))
				if n != float64(c.want[i]) {
					t.Fatalf("le=%s: %v, want %d\n%s", le, n, c.want[i], b.String())
				}
				if n < prev {
					t.Fatalf("buckets not cumulative at le=%s", le)
				}
				prev = n
			}
			if count := got.at(`test_seconds_count{wf="w"}`); count != prev || count != float64(len(c.observe)) {
				t.Fatalf("_count = %v, +Inf bucket = %v, observations = %d", count, prev, len(c.observe))
			}
			if sum := got.at(`test_seconds_sum{wf="w"}`); fmt.Sprintf("%.6f", sum) != fmt.Sprintf("%.6f", c.sum) {
				t.Fatalf("_sum = %v, want %v", sum, c.sum)
			}
			// le is last, after the series' own labels, in the raw text too.
			if !strings.Contains(b.String(), `test_seconds_bucket{wf="w",le="+Inf"} `) {
				t.Fatalf("+Inf bucket line missing:\n%s", b.String())
			}
		})
	}
}

func TestConcurrentUpdatesAreExact(t *testing.T) {
	r := NewRegistry()
	c := r.Counter("test_hits_total", "c", "worker")
	g := r.Gauge("test_level", "g")
	h := r.Histogram("test_latency_seconds", "h", DefaultBuckets, "worker")
	const goroutines, each = 16, 2000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	scraped := make(chan error, 1)
	go func() { // scrapes race with the writers
		for {
			select {
			case <-stop:
				scraped <- nil
				return
			default:
				if err := r.WriteTo(context.Background(), &bytes.Buffer{}); err != nil {
					scraped <- err
					return
				}
			}
		}
	}()
	for i := 0; i < goroutines; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			worker := strconv.Itoa(i % 4) // four goroutines share each series
			for j := 0; j < each; j++ {
				c.Inc(worker)
				g.Add(1)
				h.Observe(0.25, worker)
			}
		}(i)
	}
	wg.Wait()
	close(stop)
	if err := <-scraped; err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := r.WriteTo(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	got := samples(t, b.String())
	for w := 0; w < 4; w++ {
		want := float64(goroutines / 4 * each)
		if v := got.at(fmt.Sprintf(`test_hits_total{worker="%d"}`, w)); v != want {
			t.Fatalf("worker %d: counter %v, want %v", w, v, want)
		}
		if v := got.at(fmt.Sprintf(`test_latency_seconds_count{worker="%d"}`, w)); v != want {
			t.Fatalf("worker %d: histogram count %v, want %v", w, v, want)
		}
		if v := got.at(fmt.Sprintf(`test_latency_seconds_sum{worker="%d"}`, w)); v != want*0.25 {
			t.Fatalf("worker %d: histogram sum %v, want %v", w, v, want*0.25)
		}
	}
	if v := got.at("test_level"); v != goroutines*each {
		t.Fatalf("gauge %v, want %d", v, goroutines*each)
	}
}

// newRouter is shaped like the daemon's: fixed paths, a path variable,
// method restrictions, and its own 404/405 handlers.
func newRouter() *mux.Router {
	r := mux.NewRouter()
	r.HandleFunc("/hello", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("hi")) }).Methods(http.MethodPost)
	r.HandleFunc("/api/runs/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotFound) }).Methods(http.MethodGet)
	r.HandleFunc("/created", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusCreated) })
	r.HandleFunc("/silent", func(http.ResponseWriter, *http.Request) {})
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no such path", http.StatusNotFound) })
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "wrong method", http.StatusMethodNotAllowed)
	})
	return r
}

func TestMiddleware(t *testing.T) {
	requests := []struct{ method, path string }{
		{"POST", "/hello"},
		{"POST", "/hello?x=1"},
		{"GET", "/api/runs/6650a1"},
		{"GET", "/api/runs/6650a2"},
		{"GET", "/api/runs/%22%0A"}, // a nasty id never becomes a label value
		{"GET", "/no/such/path"},
		{"GET", "/also/missing"},
		{"DELETE", "/hello"}, // known path, wrong method
		{"PUT", "/created"},
		{"GET", "/silent"},
		{"BREW", "/created"}, // unknown methods do not grow the label set
	}
	want := map[string]float64{
		`jobmediator_http_requests_total{route="/hello",method="POST",code="200"}`:        2,
		`jobmediator_http_requests_total{route="/api/runs/{id}",method="GET",code="404"}`: 3,
		`jobmediator_http_requests_total{route="unmatched",method="GET",code="404"}`:      2,
		`jobmediator_http_requests_total{route="unmatched",method="DELETE",code="405"}`:   1,
		`jobmediator_http_requests_total{route="/created",method="PUT",code="201"}`:       1,
		`jobmediator_http_requests_total{route="/silent",method="GET",code="200"}`:        1,
		`jobmediator_http_requests_total{route="/created",method="other",code="201"}`:     1,
	}
	cases := []struct {
		name string
		wrap func(m *Metrics) http.Handler
		want map[string]float64
	}{
		{"wrapping the router", func(m *Metrics) http.Handler { return m.Middleware(newRouter()) }, want},
		{"inside the router (router.Use): matched routes only", func(m *Metrics) http.Handler {
			r := newRouter()
			r.Use(m.Middleware)
			return r
		}, func() map[string]float64 {
			// mux runs route middleware only on a match, so 404/405 are not seen.
			w := map[string]float64{}
			for k, v := range want {
				if !strings.Contains(k, Unmatched) {
					w[k] = v
				}
			}
			return w
		}()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := New(Options{Version: "test"})
			h := c.wrap(m)
			for _, rq := range requests {
				rr := httptest.NewRecorder()
				h.ServeHTTP(rr, httptest.NewRequest(rq.method, rq.path, nil))
				if rq.path == "/hello" && rq.method == "POST" && rr.Body.String() != "hi" {
					t.Fatalf("middleware changed the response: %q", rr.Body.String())
				}
			}
			_, body := scrape(t, m.Handler())
			got := map[string]float64{}
			for k, v := range samples(t, body) { // keys already sorted
				if strings.HasPrefix(k, "jobmediator_http_requests_total") {
					got[k] = v
				}
			}
			// samples() renders labels in the parser's (sorted) order.
			wantSorted := map[string]float64{}
			for k, v := range c.want {
				wantSorted[sortLabels(k)] = v
			}
			if !reflect.DeepEqual(got, wantSorted) {
				t.Fatalf("requests:\n got %v\nwant %v", got, wantSorted)
			}
			if strings.Contains(body, "6650a1") || strings.Contains(body, "no/such") {
				t.Fatalf("a raw path leaked into the labels:\n%s", body)
			}
		})
	}
}

// sortLabels rewrites name{b="1",a="2"} with its labels sorted by name.
func sortLabels(s string) string {
	i := strings.IndexByte(s, '{')
	if i < 0 {
		return s
	}
	pairs := strings.Split(strings.TrimSuffix(s[i+1:], "}"), ",")
	for a := 1; a < len(pairs); a++ {
		for b := a; b > 0 && pairs[b] < pairs[b-1]; b-- {
			pairs[b], pairs[b-1] = pairs[b-1], pairs[b]
		}
	}
	return s[:i] + "{" + strings.Join(pairs, ",") + "}"
}

func TestMiddlewareKeepsFlusher(t *testing.T) {
	m := New(Options{Version: "test"})
	var flushed bool
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		f, ok := w.(http.Flusher)
		if !ok {
			t.Error("the wrapped writer is not an http.Flusher")
			return
		}
		_, _ = w.Write([]byte("part"))
		f.Flush()
		flushed = true
	}))
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/stream", nil))
	if !flushed || !rr.Flushed {
		t.Fatalf("flush did not reach the real writer (handler flushed %v, recorder %v)", flushed, rr.Flushed)
	}
	if got := m.requests.Value(Unmatched, "GET", "200"); got != 1 {
		t.Fatalf("a handler that is not a router is recorded as unmatched: got %d", got)
	}
}

// recordingObserver is a Next observer.
type recordingObserver struct{ got []workflow.RunRecord }

func (o *recordingObserver) RunFinished(_ context.Context, rec workflow.RunRecord) {
	o.got = append(o.got, rec)
}

func TestRunsObserver(t *testing.T) {
	cases := []struct {
		name string
		rec  workflow.RunRecord
		want map[string]float64
	}{
		{"success, one call", record("hello", "webhook", runtime.StatusSuccess, 40*time.Millisecond, ok(201)), map[string]float64{
			`jobmediator_runs_total{status="success",trigger="webhook",workflow="hello"}`: 1,
			`jobmediator_orchestrations_total{workflow="hello"}`:                          1,
			`jobmediator_upstream_failures_total{workflow="hello"}`:                       0,
			`jobmediator_run_duration_seconds_count{workflow="hello"}`:                    1,
			`jobmediator_run_duration_seconds_sum{workflow="hello"}`:                      0.04,
			`jobmediator_run_duration_seconds_bucket{workflow="hello",le="0.025"}`:        0,
			`jobmediator_run_duration_seconds_bucket{workflow="hello",le="0.05"}`:         1,
		}},
		{"failed: 4xx is not an upstream failure, 5xx and transport errors are", record("hello", "webhook", runtime.StatusFailed, 2*time.Second,
			ok(422), ok(500), ok(503), refused(), ok(499), recorder.Exchange{Response: nil}), map[string]float64{
			`jobmediator_runs_total{status="failed",trigger="webhook",workflow="hello"}`: 1,
			`jobmediator_orchestrations_total{workflow="hello"}`:                         6,
			`jobmediator_upstream_failures_total{workflow="hello"}`:                      3,
			`jobmediator_run_duration_seconds_bucket{workflow="hello",le="1"}`:           0,
			`jobmediator_run_duration_seconds_bucket{workflow="hello",le="2.5"}`:         1,
		}},
		{"crashed", record("pull", "cron", runtime.StatusCrashed, 301*time.Second), map[string]float64{
			`jobmediator_runs_total{status="crashed",trigger="cron",workflow="pull"}`: 1,
			`jobmediator_run_duration_seconds_bucket{workflow="pull",le="300"}`:       0,
			`jobmediator_run_duration_seconds_bucket{workflow="pull",le="+Inf"}`:      1,
		}},
		{"no result is error", record("pull", "cron", "", time.Second), map[string]float64{
			`jobmediator_runs_total{status="error",trigger="cron",workflow="pull"}`: 1,
		}},
		{"no trigger is none", record("pull", "", runtime.StatusSuccess, time.Second), map[string]float64{
			`jobmediator_runs_total{status="success",trigger="none",workflow="pull"}`: 1,
		}},
		{"finish before start counts zero seconds", record("pull", "cron", runtime.StatusSuccess, -time.Second), map[string]float64{
			`jobmediator_run_duration_seconds_sum{workflow="pull"}`:                   0,
			`jobmediator_run_duration_seconds_bucket{workflow="pull",le="0.005"}`:     1,
			`jobmediator_runs_total{status="success",trigger="cron",workflow="pull"}`: 1,
		}},
		{"no times: no duration observed", workflow.RunRecord{Workflow: "pull", Trigger: "cron", Result: &runtime.Result{Status: runtime.StatusSuccess}}, map[string]float64{
			`jobmediator_run_duration_seconds_count{workflow="pull"}`:                 -1, // absent
			`jobmediator_runs_total{status="success",trigger="cron",workflow="pull"}`: 1,
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := New(Options{Version: "test"})
			next := &recordingObserver{}
			obs := m.Observer(next)
			obs.RunFinished(context.Background(), c.rec)
			if len(next.got) != 1 || next.got[0].Workflow != c.rec.Workflow {
				t.Fatalf("next observer got %d records", len(next.got))
			}
			_, body := scrape(t, m.Handler())
			got := samples(t, body)
			for k, want := range c.want {
				v, present := got.has(k)
				if want == -1 {
					if present {
						t.Fatalf("%s present (%v), want absent\n%s", k, v, body)
					}
					continue
				}
				if !present || fmt.Sprintf("%.9f", v) != fmt.Sprintf("%.9f", want) {
					t.Fatalf("%s = %v (present %v), want %v\n%s", k, v, present, want, body)
				}
			}
			runs := 0
			for k, v := range got {
				if strings.HasPrefix(k, "jobmediator_runs_total") {
					runs += int(v)
				}
			}
			if runs != 1 {
				t.Fatalf("%d runs counted, want 1", runs)
			}
		})
	}
	// m.Runs used directly (no Next) is an Observer too.
	m := New(Options{Version: "test"})
	var obs workflow.Observer = m.Runs
	obs.RunFinished(context.Background(), record("w", "t", runtime.StatusSuccess, time.Second))
	if got := m.Runs.runs.Value("w", "t", "success"); got != 1 {
		t.Fatalf("m.Runs counted %d", got)
	}
}

func TestScrapeCallbacks(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	cases := []struct {
		name       string
		queue      func(ctx context.Context) (map[string]int, error)
		registered func() bool
		want       map[string]float64 // -1: absent
	}{
		{"both fine", func(context.Context) (map[string]int, error) { return map[string]int{"pending": 3, "dead": 1}, nil },
			func() bool { return true }, map[string]float64{
				`jobmediator_queue_messages{state="pending"}`:                                 3,
				`jobmediator_queue_messages{state="dead"}`:                                    1,
				`jobmediator_openhim_registered`:                                              1,
				`jobmediator_scrape_errors_total{collector="jobmediator_queue_messages"}`:     0,
				`jobmediator_scrape_errors_total{collector="jobmediator_openhim_registered"}`: 0,
			}},
		{"store down", func(context.Context) (map[string]int, error) {
			return nil, errors.New("store: server selection timeout")
		},
			func() bool { return false }, map[string]float64{
				`jobmediator_queue_messages{state="pending"}`:                             -1,
				`jobmediator_openhim_registered`:                                          0,
				`jobmediator_scrape_errors_total{collector="jobmediator_queue_messages"}`: 1,
				`jobmediator_build_info{version="test"}`:                                  1,
			}},
		{"callback panics", func(context.Context) (map[string]int, error) { panic("nil store") },
			func() bool { return true }, map[string]float64{
				`jobmediator_queue_messages{state="pending"}`:                             -1,
				`jobmediator_scrape_errors_total{collector="jobmediator_queue_messages"}`: 1,
				`jobmediator_openhim_registered`:                                          1,
			}},
		{"callback hangs past the collect timeout", func(context.Context) (map[string]int, error) {
			<-release // ignores its context, like a stuck driver
			return map[string]int{"pending": 1}, nil
		}, func() bool { return true }, map[string]float64{
			`jobmediator_queue_messages{state="pending"}`:                             -1,
			`jobmediator_scrape_errors_total{collector="jobmediator_queue_messages"}`: 1,
		}},
		{"not registering: no registered gauge", func(context.Context) (map[string]int, error) { return map[string]int{}, nil },
			nil, map[string]float64{
				`jobmediator_openhim_registered`:                                              -1,
				`jobmediator_scrape_errors_total{collector="jobmediator_openhim_registered"}`: -1,
				`jobmediator_queue_messages{state="pending"}`:                                 -1,
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := New(Options{Version: "test", Queue: c.queue, Registered: c.registered})
			m.Registry.CollectTimeout = 50 * time.Millisecond
			res, body := scrape(t, m.Handler())
			if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != ContentType {
				t.Fatalf("status %d, Content-Type %q", res.StatusCode, res.Header.Get("Content-Type"))
			}
			got := samples(t, body)
			for k, want := range c.want {
				v, present := got.has(k)
				if want == -1 {
					if present {
						t.Fatalf("%s present, want absent\n%s", k, body)
					}
					continue
				}
				if !present || v != want {
					t.Fatalf("%s = %v (present %v), want %v\n%s", k, v, present, want, body)
				}
			}
			// Each failing scrape counts once more.
			if c.want[`jobmediator_scrape_errors_total{collector="jobmediator_queue_messages"}`] == 1 {
				_, body = scrape(t, m.Handler())
				if v := samples(t, body).at(`jobmediator_scrape_errors_total{collector="jobmediator_queue_messages"}`); v != 2 {
					t.Fatalf("second failing scrape: errors = %v, want 2", v)
				}
			}
		})
	}
}

func TestHandler(t *testing.T) {
	h := New(Options{Version: "test"}).Handler()
	cases := []struct {
		method   string
		status   int
		wantBody bool
	}{
		{http.MethodGet, 200, true},
		{http.MethodHead, 200, false},
		{http.MethodPost, 405, false},
	}
	for _, c := range cases {
		t.Run(c.method, func(t *testing.T) {
			rr := httptest.NewRecorder()
			h.ServeHTTP(rr, httptest.NewRequest(c.method, "/metrics", nil))
			if rr.Code != c.status {
				t.Fatalf("status %d, want %d", rr.Code, c.status)
			}
			hasMetrics := strings.Contains(rr.Body.String(), "jobmediator_build_info")
			if hasMetrics != c.wantBody {
				t.Fatalf("body has metrics = %v, want %v: %q", hasMetrics, c.wantBody, rr.Body.String())
			}
			if c.status == 200 {
				if ct := rr.Header().Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
					t.Fatalf("Content-Type %q", ct)
				}
				if cl, _ := strconv.Atoi(rr.Header().Get("Content-Length")); cl == 0 {
					t.Fatalf("Content-Length %q", rr.Header().Get("Content-Length"))
				}
			} else if rr.Header().Get("Allow") != "GET, HEAD" {
				t.Fatalf("Allow %q", rr.Header().Get("Allow"))
			}
		})
	}
}

func TestRegistrationMistakesPanic(t *testing.T) {
	cases := []struct {
		name string
		fn   func(r *Registry)
	}{
		{"invalid metric name", func(r *Registry) { r.Gauge("bad-name", "h") }},
		{"counter without _total", func(r *Registry) { r.Counter("test_runs", "h") }},
		{"registered twice", func(r *Registry) { r.Gauge("test_g", "h"); r.Gauge("test_g", "h") }},
		{"invalid label name", func(r *Registry) { r.Gauge("test_g", "h", "bad-label") }},
		{"reserved label name", func(r *Registry) { r.Gauge("test_g", "h", "__name") }},
		{"duplicate label", func(r *Registry) { r.Gauge("test_g", "h", "a", "a") }},
		{"le on a histogram", func(r *Registry) { r.Histogram("test_h", "h", DefaultBuckets, "le") }},
		{"no buckets", func(r *Registry) { r.Histogram("test_h", "h", nil) }},
		{"buckets not ascending", func(r *Registry) { r.Histogram("test_h", "h", []float64{1, 0.5}) }},
		{"+Inf bucket given", func(r *Registry) { r.Histogram("test_h", "h", []float64{1, math.Inf(1)}) }},
		{"too few label values", func(r *Registry) { r.Counter("test_c_total", "h", "a", "b").Inc("x") }},
		{"too many label values", func(r *Registry) { r.Counter("test_c_total", "h").Inc("x") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			c.fn(NewRegistry())
		})
	}
}

// formatFloat spells a bucket bound as the text format does.
func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
