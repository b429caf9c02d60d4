// Package metrics exposes Job Mediator's Prometheus metrics through the
// official client library (github.com/prometheus/client_golang): a small
// Registry of counters, gauges and histograms with labels, served in the
// text exposition format 0.0.4, plus the mediator's own metrics (runs,
// latency, orchestrations, HTTP requests, queue depth, OpenHIM
// registration) in metrics.go.
//
// The Registry adds what the mediator needs on top of client_golang:
// counters must end in _total, gauges read at scrape time get the scrape's
// context and a deadline, and one that fails, panics or hangs is left out of
// that scrape and counted in jobmediator_scrape_errors_total instead of
// failing it. Output is stable (client_golang sorts families and series), so
// a scrape can be golden-tested byte for byte.
package metrics

import (
	"context"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// ContentType is what Handler answers with (text exposition format 0.0.4).
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// ScrapeErrorsName counts scrape-time callbacks that failed, by collector
// (the name of the metric family whose callback failed).
const ScrapeErrorsName = "jobmediator_scrape_errors_total"

// Registry holds metric families. Registration panics on a programming
// error (bad or duplicate name, bad buckets); recording and scraping are
// safe for concurrent use.
type Registry struct {
	reg *prometheus.Registry
	// CollectTimeout bounds each scrape-time callback (default 5 s); a
	// callback that is still running when it passes counts as an error.
	CollectTimeout time.Duration
	scrapeErrors   *CounterVec

	// scrape serialises scrapes: the scrape-time gauges hold the values
	// this scrape collected until Gather has read them.
	scrape sync.Mutex
	funcs  []*gaugeFunc
}

// NewRegistry returns an empty registry that already exposes
// jobmediator_scrape_errors_total{collector}.
func NewRegistry() *Registry {
	r := &Registry{reg: prometheus.NewPedanticRegistry(), CollectTimeout: 5 * time.Second}
	r.scrapeErrors = r.Counter(ScrapeErrorsName, "Scrape-time collectors that failed, by collector (the metric family whose callback failed or timed out).", "collector")
	return r
}

// mustRegister registers c; client_golang panics on an invalid or
// duplicate name, an invalid or duplicate label, or le on a histogram.
func (r *Registry) mustRegister(c prometheus.Collector) { r.reg.MustRegister(c) }

// CounterVec is a counter family; a counter only goes up.
type CounterVec struct {
	v      *prometheus.CounterVec
	labels []string
}

// Counter registers a counter (its name must end in _total).
func (r *Registry) Counter(name, help string, labels ...string) *CounterVec {
	if !strings.HasSuffix(name, "_total") {
		panic(fmt.Sprintf("metrics: counter %q must end in _total", name))
	}
	c := &CounterVec{v: prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels), labels: labels}
	r.mustRegister(c.v)
	if len(labels) == 0 {
		c.v.WithLabelValues() // an unlabelled metric exists from the start, at zero
	}
	return c
}

// Add adds n to the series with these label values (in the order the
// labels were registered).
func (c *CounterVec) Add(n uint64, values ...string) { c.v.WithLabelValues(values...).Add(float64(n)) }

// Inc adds one.
func (c *CounterVec) Inc(values ...string) { c.Add(1, values...) }

// Init creates the series at zero so rate() sees its first increase.
func (c *CounterVec) Init(values ...string) { c.v.WithLabelValues(values...) }

// Value returns the series' current count (0 if it does not exist; asking
// does not create it).
func (c *CounterVec) Value(values ...string) uint64 {
	for _, m := range collect(c.v) {
		if labelsEqual(m.GetLabel(), c.labels, values) {
			return uint64(m.GetCounter().GetValue())
		}
	}
	return 0
}

// collect reads c's current series.
func collect(c prometheus.Collector) []*dto.Metric {
	ch := make(chan prometheus.Metric)
	go func() { c.Collect(ch); close(ch) }()
	var out []*dto.Metric
	for m := range ch {
		var d dto.Metric
		if m.Write(&d) == nil {
			out = append(out, &d)
		}
	}
	return out
}

func labelsEqual(pairs []*dto.LabelPair, names, values []string) bool {
	if len(pairs) != len(names) || len(values) != len(names) {
		return false
	}
	want := make(map[string]string, len(names))
	for i, n := range names {
		want[n] = values[i]
	}
	for _, p := range pairs {
		if v, ok := want[p.GetName()]; !ok || v != p.GetValue() {
			return false
		}
	}
	return true
}

// GaugeVec is a gauge family: a value that goes up and down.
type GaugeVec struct{ v *prometheus.GaugeVec }

// Gauge registers a gauge.
func (r *Registry) Gauge(name, help string, labels ...string) *GaugeVec {
	g := &GaugeVec{v: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)}
	r.mustRegister(g.v)
	if len(labels) == 0 {
		g.v.WithLabelValues()
	}
	return g
}

// Set sets the series with these label values to v.
func (g *GaugeVec) Set(v float64, values ...string) { g.v.WithLabelValues(values...).Set(v) }

// Add adds d (which may be negative).
func (g *GaugeVec) Add(d float64, values ...string) { g.v.WithLabelValues(values...).Add(d) }

// gaugeFunc is a gauge whose values a callback produces at scrape time.
// WriteTo runs the callback with the scrape's context first and leaves
// the values here for Collect.
type gaugeFunc struct {
	name  string
	desc  *prometheus.Desc
	label string
	fn    func(ctx context.Context) (map[string]float64, error)

	vals map[string]float64 // this scrape's values; nil: left out
}

func (g *gaugeFunc) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *gaugeFunc) Collect(ch chan<- prometheus.Metric) {
	for k, v := range g.vals {
		var lv []string
		if g.label != "" {
			lv = []string{k}
		}
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, v, lv...)
	}
}

// GaugeFunc registers a gauge whose values are read at scrape time. fn
// returns the value per value of the one label (label "" means no label:
// fn returns a single entry under the key ""). A failing, panicking or
// slow fn leaves the family out of that scrape and increments
// jobmediator_scrape_errors_total{collector=name}; the scrape still succeeds.
func (r *Registry) GaugeFunc(name, help, label string, fn func(ctx context.Context) (map[string]float64, error)) {
	var labels []string
	if label != "" {
		labels = []string{label}
	}
	g := &gaugeFunc{name: name, desc: prometheus.NewDesc(name, help, labels, nil), label: label, fn: fn}
	r.mustRegister(g)
	r.scrape.Lock()
	r.funcs = append(r.funcs, g)
	r.scrape.Unlock()
	r.scrapeErrors.Init(name)
}

// DefaultBuckets are run-duration bounds in seconds, 5 ms to 5 minutes.
var DefaultBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// HistogramVec is a histogram family.
type HistogramVec struct{ v *prometheus.HistogramVec }

// Histogram registers a histogram with the given upper bounds (ascending,
// finite; +Inf is added).
func (r *Registry) Histogram(name, help string, buckets []float64, labels ...string) *HistogramVec {
	if len(buckets) == 0 {
		panic(fmt.Sprintf("metrics: histogram %s needs buckets", name))
	}
	for i, b := range buckets {
		if math.IsNaN(b) || math.IsInf(b, 0) || (i > 0 && b <= buckets[i-1]) { //nolint:gosec // G602: i > 0 guards buckets[i-1]
			panic(fmt.Sprintf("metrics: histogram %s: buckets must be finite and strictly ascending, got %v", name, buckets))
		}
	}
	for _, l := range labels {
		if l == "le" {
			panic(fmt.Sprintf("metrics: %s: label le is reserved for histogram buckets", name))
		}
	}
	h := &HistogramVec{v: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)}
	r.mustRegister(h.v)
	if len(labels) == 0 {
		h.v.WithLabelValues()
	}
	return h
}

// Observe records v in the series with these label values.
func (h *HistogramVec) Observe(v float64, values ...string) {
	h.v.WithLabelValues(values...).Observe(v)
}

// Init creates the series with all buckets at zero.
func (h *HistogramVec) Init(values ...string) { h.v.WithLabelValues(values...) }

// WriteTo writes every family in the text exposition format 0.0.4. It runs
// the scrape-time callbacks first (with ctx, bounded by CollectTimeout), so
// their failures show in this scrape's error counter.
func (r *Registry) WriteTo(ctx context.Context, w io.Writer) error {
	r.scrape.Lock()
	defer r.scrape.Unlock()
	for _, g := range r.funcs {
		vals, err := r.runCollect(ctx, g)
		if err != nil {
			r.scrapeErrors.Inc(g.name)
			vals = nil
		}
		g.vals = vals
	}
	fams, err := r.reg.Gather()
	for _, g := range r.funcs {
		g.vals = nil
	}
	if err != nil {
		return fmt.Errorf("metrics: gather: %w", err)
	}
	sort.Slice(fams, func(i, j int) bool { return fams[i].GetName() < fams[j].GetName() })
	var b strings.Builder
	for _, f := range fams {
		if _, err := expfmt.MetricFamilyToText(&b, f); err != nil {
			return fmt.Errorf("metrics: %s: %w", f.GetName(), err)
		}
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// runCollect calls g.fn with a deadline, turning a panic or an overrun into
// an error. A callback that overruns keeps running in the background; its
// result is dropped.
func (r *Registry) runCollect(ctx context.Context, g *gaugeFunc) (map[string]float64, error) {
	timeout := r.CollectTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type result struct {
		vals map[string]float64
		err  error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{err: fmt.Errorf("metrics: collector %s panicked: %v", g.name, p)}
			}
		}()
		vals, err := g.fn(ctx)
		done <- result{vals, err}
	}()
	select {
	case res := <-done:
		return res.vals, res.err
	case <-ctx.Done():
		return nil, fmt.Errorf("metrics: collector %s: %w", g.name, ctx.Err())
	}
}
