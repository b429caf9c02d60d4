// Package bench is `make bench`: Job Mediator measured side by side with a
// baseline in the same run (a bare Go handler for routed transactions,
// @openfn/runtime in Node for jobs), every figure repeated and reported as
// median and spread. It never asserts a time: it prints a table and writes
// bench/results/latest.json.
package bench

import (
	"math"
	"slices"
	"time"
)

// Figure is one measured quantity over several repeats.
type Figure struct {
	Unit    string    `json:"unit"`
	Values  []float64 `json:"values"`
	Median  float64   `json:"median"`
	Min     float64   `json:"min"`
	Max     float64   `json:"max"`
	Skipped string    `json:"skipped,omitempty"`
}

func figure(unit string, vs []float64) Figure {
	f := Figure{Unit: unit, Values: vs}
	if len(vs) == 0 {
		return f
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	f.Min, f.Max = s[0], s[len(s)-1]
	if n := len(s); n%2 == 1 {
		f.Median = s[n/2]
	} else {
		f.Median = (s[n/2-1] + s[n/2]) / 2
	}
	return f
}

// Spread is the half-range around the median, in percent of the median.
func (f Figure) Spread() float64 {
	if f.Median == 0 {
		return 0
	}
	return 100 * (f.Max - f.Min) / 2 / math.Abs(f.Median)
}

// ratio divides two figures repeat by repeat (the repeats are interleaved,
// so repeat i of both ran under the same conditions).
func ratio(a, b Figure) Figure {
	n := min(len(a.Values), len(b.Values))
	vs := make([]float64, 0, n)
	for i := 0; i < n; i++ {
		if b.Values[i] != 0 {
			vs = append(vs, a.Values[i]/b.Values[i])
		}
	}
	return figure("×", vs)
}

// percentile of sorted latencies (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
