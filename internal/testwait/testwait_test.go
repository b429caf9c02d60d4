package testwait

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// fakeT records Fatalf instead of stopping the test.
type fakeT struct {
	testing.TB
	msg string
}

func (f *fakeT) Helper()                           {}
func (f *fakeT) Fatalf(format string, args ...any) { f.msg = fmt.Sprintf(format, args...) }

func TestForReturnsOnceTrue(t *testing.T) {
	var n atomic.Int32
	For(t, "the third poll", time.Second, func() bool { return n.Add(1) >= 3 })
	if n.Load() != 3 {
		t.Fatalf("polled %d times", n.Load())
	}
}

func TestForFailsNamingWhat(t *testing.T) {
	f := &fakeT{TB: t}
	For(f, "the impossible", 20*time.Millisecond, func() bool { return false })
	if f.msg != "timed out after 20ms waiting for the impossible" {
		t.Fatalf("message %q", f.msg)
	}
}

func TestUntil(t *testing.T) {
	if Until(10*time.Millisecond, func() bool { return false }) {
		t.Fatal("false condition reported true")
	}
	if !Until(0, func() bool { return true }) {
		t.Fatal("true condition reported false")
	}
}
