package auth

import (
	"strconv"
	"testing"
	"time"
)

func TestLimiterRefillsAndForgetsIdleClients(t *testing.T) {
	l := NewLimiter(60, time.Minute, 3) // one a second, bursts of three
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 3; i++ {
		if _, ok := l.Allow("a", t0); !ok {
			t.Fatalf("burst request %d refused", i)
		}
	}
	wait, ok := l.Allow("a", t0)
	if ok || wait != time.Second {
		t.Fatalf("fourth: ok=%v wait=%v, want refused for 1s", ok, wait)
	}
	if _, ok := l.Allow("a", t0.Add(time.Second)); !ok {
		t.Fatal("no token after a second")
	}
	// A flood of addresses never grows the table past maxClients.
	for i := 0; i < maxClients+500; i++ {
		l.Allow("addr:"+strconv.Itoa(i), t0.Add(2*time.Second))
	}
	if n := len(l.buckets); n > maxClients {
		t.Fatalf("%d buckets kept", n)
	}
}
