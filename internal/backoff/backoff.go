// Package backoff is the one retry schedule of the mediator: exponential
// from an initial delay, doubling up to a cap, with equal jitter. The queue
// (workflow retries), the OpenHIM registrar and the notification sinks all
// wait by it.
package backoff

import (
	"math"
	"time"
)

// Delay returns the delay before retry number attempt (1 = first retry):
// exponential from initial, doubling each attempt and capped at max, with
// "equal jitter": half the delay is fixed and half random (rnd returns a
// value in [0,1)). Equal jitter keeps a floor under the delay, so a storm of
// failures (retry storms are the top mediator complaint, ecosystem.md §2)
// never collapses to immediate retries, while still spreading replicas out.
// attempt < 1 is treated as 1; initial <= 0 gives 0; max < initial means initial.
func Delay(attempt int, initial, max time.Duration, rnd func() float64) time.Duration {
	if initial <= 0 {
		return 0
	}
	if max < initial {
		max = initial
	}
	if attempt < 1 {
		attempt = 1
	}
	d := max
	if exp := attempt - 1; exp < 62 {
		if f := float64(initial) * math.Pow(2, float64(exp)); f < float64(max) {
			d = time.Duration(f)
		}
	}
	r := 0.0
	if rnd != nil {
		r = rnd()
	}
	r = math.Min(math.Max(r, 0), 1)
	half := d / 2
	return half + time.Duration(r*float64(d-half))
}

// NoJitter makes Delay return the full exponential step (for a single
// client retrying one server, where spreading replicas is moot and tests
// want exact waits).
func NoJitter() float64 { return 1 }
