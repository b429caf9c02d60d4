package procstat

import (
	"runtime"
	"testing"
)

// TestStatmSelf: this process maps more than it holds resident, and holds
// at least the 32 MB just written; a process that does not exist is not ok.
func TestStatmSelf(t *testing.T) {
	keep := make([]byte, 32<<20)
	for i := range keep {
		keep[i] = 1
	}
	vsz, rss, ok := Statm("self")
	if runtime.GOOS != "linux" {
		if ok {
			t.Fatalf("Statm on %s: ok without /proc", runtime.GOOS)
		}
		return
	}
	if !ok || rss < 32<<20 || vsz < rss {
		t.Fatalf("Statm(self) = %d, %d, %v", vsz, rss, ok)
	}
	if _, _, ok := Statm("999999999"); ok {
		t.Fatal("Statm of a process that does not exist is ok")
	}
	_ = keep[len(keep)-1]
}
