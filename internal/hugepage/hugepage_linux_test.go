package hugepage

import (
	"bufio"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/internal/testwait"
)

// region is what /proc/self/smaps says of the reserved region: the huge
// pages resident in it and whether each of its mappings carries the advice
// ("hg") or its opposite ("nh").
type region struct {
	hugeKB       int64
	allHG, allNH bool
}

func readRegion(t *testing.T) region {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := region{allHG: true, allNH: true}
	in, seen := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if a, b, ok := strings.Cut(fields[0], "-"); ok && !strings.HasSuffix(fields[0], ":") {
			start, err1 := strconv.ParseUint(a, 16, 64)
			end, err2 := strconv.ParseUint(b, 16, 64)
			if err1 == nil && err2 == nil {
				in = uintptr(start) < hi && uintptr(end) > lo
				seen = seen || in
				continue
			}
		}
		if !in {
			continue
		}
		switch fields[0] {
		case "AnonHugePages:":
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			r.hugeKB += kb
		case "VmFlags:":
			r.allHG = r.allHG && slices.Contains(fields[1:], "hg")
			r.allNH = r.allNH && slices.Contains(fields[1:], "nh")
		}
	}
	if !seen {
		t.Fatalf("no mapping of /proc/self/smaps covers the region %#x-%#x", lo, hi)
	}
	return r
}

// TestRunsGetHugePages follows the region through a run on this machine's
// kernel: advised while a run goes (and the heap the run touches in it is
// huge pages), advised off once the process has been idle a second.
func TestRunsGetHugePages(t *testing.T) {
	setting, err := os.ReadFile(sysfs + "enabled")
	if err != nil {
		if got := Reserve(64 << 20); got != "off (the kernel has no transparent huge pages)" {
			t.Fatalf("Reserve = %q without %s", got, sysfs)
		}
		return
	}
	got := Reserve(64 << 20)
	switch m := mode(string(setting)); m {
	case "always":
		if got != "the kernel's own (THP: always)" || ready.Load() {
			t.Fatalf("THP always: Reserve = %q, reserved %v", got, ready.Load())
		}
		return
	case "madvise":
	default:
		if got != "off (THP: "+m+")" || ready.Load() {
			t.Fatalf("THP %s: Reserve = %q, reserved %v", m, got, ready.Load())
		}
		return
	}
	if got != "64 MiB of heap while jobs run (THP: madvise)" || !ready.Load() {
		t.Fatalf("THP madvise: Reserve = %q", got)
	}
	if again := Reserve(1 << 30); again != got {
		t.Fatalf("a second Reserve = %q, want the first one's %q", again, got)
	}
	if r := readRegion(t); !r.allNH || r.hugeKB != 0 {
		t.Fatalf("before any run the region should be advised off and hold no huge page: %+v", r)
	}

	before := fallbacks(t)
	end := Begin()
	if r := readRegion(t); !r.allHG {
		t.Fatalf("during a run the region should be advised: %+v", r)
	}
	// what a run allocates: 48 MB of small objects, kept live; the heap
	// grows into the region and touches it
	keep := make([][]byte, 0, 48<<10)
	for range 48 << 10 {
		b := make([]byte, 1024)
		b[0] = 1
		keep = append(keep, b)
	}
	// the kernel may fall back to small pages when it finds no free 2 MiB
	// (then it counts the fallback): either way it tried, as asked
	if r := readRegion(t); r.hugeKB < 2048 && fallbacks(t) == before {
		t.Fatalf("a run's heap in the region should be huge pages: %+v", r)
	}
	end()
	if r := readRegion(t); !r.allHG {
		t.Fatalf("just after a run the advice should hold (for the next run): %+v", r)
	}
	testwait.For(t, "the advice taken back after a second idle", 10*time.Second, func() bool { return readRegion(t).allNH })
	// a run after that advises the region again
	end = Begin()
	if r := readRegion(t); !r.allHG {
		t.Fatalf("a later run should advise the region again: %+v", r)
	}
	end()
	_ = keep[len(keep)-1]
}

func fallbacks(t *testing.T) int64 {
	t.Helper()
	n, err := Fallbacks()
	if err != nil {
		t.Fatal(err)
	}
	return n
}
