// Package metrics exposes Job Mediator's Prometheus metrics without a
// Prometheus client library: a small Registry of counters, gauges and
// histograms with labels, written in the text exposition format 0.0.4, plus
// the mediator's own metrics (runs, latency, orchestrations, HTTP requests,
// queue depth, OpenHIM registration) in metrics.go.
//
// Output is stable: families sorted by name, series by label values, so a
// scrape can be golden-tested byte for byte.
package metrics

import (
	"context"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ContentType is what Handler answers with (text exposition format 0.0.4).
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// ScrapeErrorsName counts scrape-time callbacks that failed, by collector
// (the name of the metric family whose callback failed).
const ScrapeErrorsName = "jobmediator_scrape_errors_total"

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// Registry holds metric families. Registration panics on a programming
// error (bad or duplicate name, bad buckets); recording and scraping are
// safe for concurrent use.
type Registry struct {
	mu       sync.RWMutex
	families map[string]*family
	// CollectTimeout bounds each scrape-time callback (default 5 s); a
	// callback that is still running when it passes counts as an error.
	CollectTimeout time.Duration
	scrapeErrors   *CounterVec
}

// NewRegistry returns an empty registry that already exposes
// jobmediator_scrape_errors_total{collector}.
func NewRegistry() *Registry {
	r := &Registry{families: map[string]*family{}, CollectTimeout: 5 * time.Second}
	r.scrapeErrors = r.Counter(ScrapeErrorsName, "Scrape-time collectors that failed, by collector (the metric family whose callback failed or timed out).", "collector")
	return r
}

type kind int

const (
	kindCounter kind = iota
	kindGauge
	kindHistogram
)

func (k kind) String() string {
	return [...]string{"counter", "gauge", "histogram"}[k]
}

// family is one metric name: its help, type, label names and series.
type family struct {
	name    string
	help    string
	kind    kind
	labels  []string
	buckets []float64 // histograms: upper bounds, ascending, without +Inf

	mu     sync.RWMutex
	series map[string]*series // key: label values joined by \xff

	// collect, when set, produces the family's samples at scrape time
	// (label value → value) instead of stored series.
	collect func(ctx context.Context) (map[string]float64, error)
}

// series is one label-value combination of a family.
type series struct {
	values []string
	bits   atomic.Uint64 // counter: count; gauge: math.Float64bits

	hmu    sync.Mutex // histogram: counts, sum and count change together
	counts []uint64   // per bucket, not cumulative; last is +Inf
	sum    float64
	count  uint64
}

func (r *Registry) register(name, help string, k kind, labels []string, buckets []float64) *family {
	if !metricNameRE.MatchString(name) {
		panic(fmt.Sprintf("metrics: invalid metric name %q", name))
	}
	if k == kindCounter && !strings.HasSuffix(name, "_total") {
		panic(fmt.Sprintf("metrics: counter %q must end in _total", name))
	}
	seen := map[string]bool{}
	for _, l := range labels {
		if !labelNameRE.MatchString(l) || strings.HasPrefix(l, "__") {
			panic(fmt.Sprintf("metrics: %s: invalid label name %q", name, l))
		}
		if l == "le" && k == kindHistogram {
			panic(fmt.Sprintf("metrics: %s: label le is reserved for histogram buckets", name))
		}
		if seen[l] {
			panic(fmt.Sprintf("metrics: %s: duplicate label %q", name, l))
		}
		seen[l] = true
	}
	f := &family{name: name, help: help, kind: k, labels: slices.Clone(labels), buckets: buckets, series: map[string]*series{}}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.families[name]; dup {
		panic(fmt.Sprintf("metrics: %s registered twice", name))
	}
	r.families[name] = f
	if len(labels) == 0 {
		f.get(nil) // an unlabelled metric exists from the start, at zero
	}
	return f
}

func seriesKey(values []string) string { return strings.Join(values, "\xff") }

// get returns the series for values, creating it.
func (f *family) get(values []string) *series {
	if len(values) != len(f.labels) {
		panic(fmt.Sprintf("metrics: %s wants %d label values (%v), got %d", f.name, len(f.labels), f.labels, len(values)))
	}
	key := seriesKey(values)
	f.mu.RLock()
	s := f.series[key]
	f.mu.RUnlock()
	if s != nil {
		return s
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if s = f.series[key]; s == nil {
		s = &series{values: slices.Clone(values)}
		if f.kind == kindHistogram {
			s.counts = make([]uint64, len(f.buckets)+1)
		}
		f.series[key] = s
	}
	return s
}

// CounterVec is a counter family; a counter only goes up.
type CounterVec struct{ f *family }

// Counter registers a counter (its name must end in _total).
func (r *Registry) Counter(name, help string, labels ...string) *CounterVec {
	return &CounterVec{r.register(name, help, kindCounter, labels, nil)}
}

// Add adds n to the series with these label values (in the order the
// labels were registered).
func (c *CounterVec) Add(n uint64, values ...string) { c.f.get(values).bits.Add(n) }

// Inc adds one.
func (c *CounterVec) Inc(values ...string) { c.Add(1, values...) }

// Init creates the series at zero so rate() sees its first increase.
func (c *CounterVec) Init(values ...string) { c.f.get(values) }

// Value returns the series' current count (0 if it does not exist).
func (c *CounterVec) Value(values ...string) uint64 {
	c.f.mu.RLock()
	defer c.f.mu.RUnlock()
	if s := c.f.series[seriesKey(values)]; s != nil {
		return s.bits.Load()
	}
	return 0
}

// GaugeVec is a gauge family: a value that goes up and down.
type GaugeVec struct{ f *family }

// Gauge registers a gauge.
func (r *Registry) Gauge(name, help string, labels ...string) *GaugeVec {
	return &GaugeVec{r.register(name, help, kindGauge, labels, nil)}
}

// Set sets the series with these label values to v.
func (g *GaugeVec) Set(v float64, values ...string) {
	g.f.get(values).bits.Store(math.Float64bits(v))
}

// Add adds d (which may be negative).
func (g *GaugeVec) Add(d float64, values ...string) {
	s := g.f.get(values)
	for {
		old := s.bits.Load()
		if s.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
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
	f := r.register(name, help, kindGauge, labels, nil)
	f.mu.Lock()
	f.collect = fn
	delete(f.series, "")
	f.mu.Unlock()
	r.scrapeErrors.Init(name)
}

// DefaultBuckets are run-duration bounds in seconds, 5 ms to 5 minutes.
var DefaultBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// HistogramVec is a histogram family.
type HistogramVec struct{ f *family }

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
	return &HistogramVec{r.register(name, help, kindHistogram, labels, slices.Clone(buckets))}
}

// Observe records v in the series with these label values.
func (h *HistogramVec) Observe(v float64, values ...string) {
	s := h.f.get(values)
	i := sort.SearchFloat64s(h.f.buckets, v) // first bound >= v: le is inclusive
	s.hmu.Lock()
	s.counts[i]++
	s.sum += v
	s.count++
	s.hmu.Unlock()
}

// Init creates the series with all buckets at zero.
func (h *HistogramVec) Init(values ...string) { h.f.get(values) }

// WriteTo writes every family in the text exposition format 0.0.4. It runs
// the scrape-time callbacks first (with ctx, bounded by CollectTimeout).
func (r *Registry) WriteTo(ctx context.Context, w io.Writer) error {
	r.mu.RLock()
	fams := make([]*family, 0, len(r.families))
	for _, f := range r.families {
		fams = append(fams, f)
	}
	r.mu.RUnlock()
	sort.Slice(fams, func(i, j int) bool { return fams[i].name < fams[j].name })

	// Callbacks first, so their failures show in this scrape's error counter.
	collected := map[*family]map[string]float64{}
	for _, f := range fams {
		if f.collect == nil {
			continue
		}
		vals, err := r.runCollect(ctx, f)
		if err != nil {
			r.scrapeErrors.Inc(f.name)
			continue
		}
		collected[f] = vals
	}

	var b strings.Builder
	for _, f := range fams {
		if f.collect != nil {
			vals, ok := collected[f]
			if !ok || len(vals) == 0 {
				continue
			}
			writeHeader(&b, f)
			keys := make([]string, 0, len(vals))
			for k := range vals {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				var labels []string
				if len(f.labels) == 1 {
					labels = []string{f.labels[0], k}
				}
				writeSample(&b, f.name, labels, formatFloat(vals[k]))
			}
			continue
		}
		f.mu.RLock()
		ss := make([]*series, 0, len(f.series))
		for _, s := range f.series {
			ss = append(ss, s)
		}
		f.mu.RUnlock()
		if len(ss) == 0 {
			continue
		}
		sort.Slice(ss, func(i, j int) bool { return slices.Compare(ss[i].values, ss[j].values) < 0 })
		writeHeader(&b, f)
		for _, s := range ss {
			labels := make([]string, 0, 2*len(f.labels)+2)
			for i, l := range f.labels {
				labels = append(labels, l, s.values[i])
			}
			switch f.kind {
			case kindCounter:
				writeSample(&b, f.name, labels, strconv.FormatUint(s.bits.Load(), 10))
			case kindGauge:
				writeSample(&b, f.name, labels, formatFloat(math.Float64frombits(s.bits.Load())))
			case kindHistogram:
				s.hmu.Lock()
				counts, sum, count := slices.Clone(s.counts), s.sum, s.count
				s.hmu.Unlock()
				var cum uint64
				for i, c := range counts {
					cum += c
					le := "+Inf"
					if i < len(f.buckets) {
						le = formatFloat(f.buckets[i])
					}
					writeSample(&b, f.name+"_bucket", append(slices.Clip(labels), "le", le), strconv.FormatUint(cum, 10))
				}
				writeSample(&b, f.name+"_sum", labels, formatFloat(sum))
				writeSample(&b, f.name+"_count", labels, strconv.FormatUint(count, 10))
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// runCollect calls f.collect with a deadline, turning a panic or an
// overrun into an error. A callback that overruns keeps running in the
// background; its result is dropped.
func (r *Registry) runCollect(ctx context.Context, f *family) (map[string]float64, error) {
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
				done <- result{err: fmt.Errorf("metrics: collector %s panicked: %v", f.name, p)}
			}
		}()
		vals, err := f.collect(ctx)
		done <- result{vals, err}
	}()
	select {
	case res := <-done:
		return res.vals, res.err
	case <-ctx.Done():
		return nil, fmt.Errorf("metrics: collector %s: %w", f.name, ctx.Err())
	}
}

func writeHeader(b *strings.Builder, f *family) {
	b.WriteString("# HELP ")
	b.WriteString(f.name)
	b.WriteByte(' ')
	b.WriteString(escapeHelp(f.help))
	b.WriteString("\n# TYPE ")
	b.WriteString(f.name)
	b.WriteByte(' ')
	b.WriteString(f.kind.String())
	b.WriteByte('\n')
}

// writeSample writes name{l="v",…} value. labels alternates names and values.
func writeSample(b *strings.Builder, name string, labels []string, value string) {
	b.WriteString(name)
	if len(labels) > 0 {
		b.WriteByte('{')
		for i := 0; i < len(labels); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(labels[i])
			b.WriteString(`="`)
			b.WriteString(EscapeLabelValue(labels[i+1]))
			b.WriteByte('"')
		}
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(value)
	b.WriteByte('\n')
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

// EscapeLabelValue escapes backslash, double quote and newline as the text
// format requires inside a label value.
func EscapeLabelValue(v string) string { return labelEscaper.Replace(v) }

// escapeHelp escapes backslash and newline (HELP text keeps quotes).
func escapeHelp(h string) string { return helpEscaper.Replace(h) }

// formatFloat writes a sample value the way Prometheus' own clients do.
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
