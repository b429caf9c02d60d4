package backoff

import (
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	fixed := func(v float64) func() float64 { return func() float64 { return v } }
	cases := []struct {
		name         string
		attempt      int
		initial, max time.Duration
		rnd          func() float64
		want         time.Duration
	}{
		{"first retry, no jitter", 1, time.Second, time.Minute, fixed(0), 500 * time.Millisecond},
		{"first retry, full jitter", 1, time.Second, time.Minute, fixed(0.999999999), time.Second - time.Nanosecond},
		{"second doubles", 2, time.Second, time.Minute, fixed(0), time.Second},
		{"third, mid jitter", 3, time.Second, time.Minute, fixed(0.5), 3 * time.Second},
		{"capped at max", 10, time.Second, time.Minute, fixed(0), 30 * time.Second},
		{"huge attempt stays capped", 5000, time.Second, time.Minute, fixed(1), time.Minute},
		{"attempt below 1 acts as 1", 0, time.Second, time.Minute, fixed(0), 500 * time.Millisecond},
		{"nil rnd means no jitter", 2, time.Second, time.Minute, nil, time.Second},
		{"rnd out of range is clamped", 2, time.Second, time.Minute, fixed(7), 2 * time.Second},
		{"negative rnd is clamped", 2, time.Second, time.Minute, fixed(-1), time.Second},
		{"max below initial", 3, time.Second, time.Millisecond, fixed(0), 500 * time.Millisecond},
		{"zero initial", 3, 0, time.Minute, fixed(0.5), 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Delay(c.attempt, c.initial, c.max, c.rnd); got != c.want {
				t.Fatalf("Delay(%d, %s, %s) = %s, want %s", c.attempt, c.initial, c.max, got, c.want)
			}
		})
	}
	// Property: always within [d/2, d] of the exponential step.
	for attempt := 1; attempt < 20; attempt++ {
		for _, r := range []float64{0, 0.3, 0.9} {
			got := Delay(attempt, 100*time.Millisecond, 10*time.Second, fixed(r))
			if got < 50*time.Millisecond || got > 10*time.Second {
				t.Fatalf("attempt %d: %s out of bounds", attempt, got)
			}
		}
	}
}

func TestNoJitterIsTheFullStep(t *testing.T) {
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 7: time.Minute} {
		if got := Delay(attempt, time.Second, time.Minute, NoJitter); got != want {
			t.Errorf("attempt %d: %s, want %s", attempt, got, want)
		}
	}
}
