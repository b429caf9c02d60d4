package isolate

import (
	"context"
	"testing"
	"time"
)

// BenchmarkGuard is the memory guard's cost to a run that ends before its
// first check (every routed run): start and stop.
func BenchmarkGuard(b *testing.B) {
	_, cancel := context.WithCancel(context.Background())
	defer cancel()
	lastASLimit = 1 << 40 // not the address-space limit of the test process
	b.ReportAllocs()
	for b.Loop() {
		g := guard(1<<40, cancel)
		if g.stop() {
			b.Fatal("over")
		}
	}
}

// TestGuardChecksWhileStarting: a check that fires while guard is still
// setting its timer (here at once; in production a worker descheduled for
// the whole 5 ms on a busy machine) must wait for the timer rather than
// find none: a worker died of that nil timer in the memory-bomb end-to-end
// test. Under -race the unsynchronised read is reported even when the
// timing does not line up.
func TestGuardChecksWhileStarting(t *testing.T) {
	_, cancel := context.WithCancel(context.Background())
	defer cancel()
	lastASLimit = 1 << 40
	defer func(d time.Duration) { guardEvery = d }(guardEvery)
	guardEvery = 0 // the first check fires as soon as the timer exists
	for i := 0; i < 2000; i++ {
		g := guard(1<<40, cancel)
		if g.stop() {
			t.Fatal("over")
		}
		g.check() // after stop: nothing, no re-arm
	}
}
