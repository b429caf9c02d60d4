package isolate

import (
	"context"
	"testing"
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
