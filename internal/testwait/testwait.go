// Package testwait is the one way the tests wait for something to happen:
// poll a condition until it holds, and fail the test (naming what it waited
// for) when it does not within the deadline. Tests never sleep and then
// assert; a condition that cannot become true fails instead of passing.
package testwait

import (
	"testing"
	"time"
)

// Poll is how often For checks the condition.
const Poll = 5 * time.Millisecond

// For polls cond every Poll until it returns true, or fails t with
// "timed out after D waiting for WHAT".
func For(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	if !Until(within, cond) {
		t.Fatalf("timed out after %v waiting for %s", within, what)
	}
}

// Until polls cond every Poll for at most within and reports whether it
// became true: for callers that fail in their own words.
func Until(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(Poll)
	}
}
