// Package hugepage backs the heap a job allocates with transparent huge
// pages where the kernel only gives them to memory that asks
// (/sys/kernel/mm/transparent_hugepage/enabled = madvise, the common
// default).
//
// Why: a job's heap grows by tens of megabytes within one run (goja holds
// a state in about ten times its JSON size), and every 4 KiB page the heap
// touches for the first time is a page fault. On the virtual machines this
// was measured on a fault costs about 11 µs (64 MB first written in 180 ms;
// as 2 MiB pages, in 4 ms): make bench's each over 10,000 items, whose heap
// grows by 35 MB, took 108 ms on 4 KiB pages and 38-64 ms on 2 MiB ones.
// Go's runtime leaves its heap to the kernel's default, which in madvise
// mode is 4 KiB pages.
//
// How: Reserve, once at process start, makes the heap map a region
// (allocating and freeing one large object, which maps address space
// without touching it) and remembers it. Begin marks the start of a run:
// the region is advised MADV_HUGEPAGE, so the faults of the run's heap
// inside it are 2 MiB ones. Once no run has been going for a second the
// region is advised MADV_NOHUGEPAGE again: an idle process keeps no huge
// pages it does not use, and khugepaged (which, with max_ptes_none at its
// default, would fill half-empty 2 MiB ranges back in) leaves it alone, so
// memory the collector gives back stays given back.
//
// GODEBUG=disablethp=1, Go's own switch for huge pages on its heap, turns
// this off too.
package hugepage

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Size is the region Reserve asks for by default: enough for the heap of
// make bench's map over 100,000 records (about 200 MB at its peak). It is
// address space, not memory: nothing is resident until a run touches it.
const Size = 256 << 20

// idleAfter is how long the region stays advised after the last run ended:
// a busy process does not pay two madvise calls per run.
const idleAfter = time.Second

var (
	once     sync.Once
	describe string
	ready    atomic.Bool // a region is reserved: Begin has work to do

	mu      sync.Mutex
	lo, hi  uintptr // the reserved region, aligned to huge pages
	active  int     // runs going
	advised bool    // MADV_HUGEPAGE is set on [lo, hi)
	idle    *time.Timer
)

// Reserve reserves a region of n bytes of heap for runs (once per process;
// later calls return the first one's answer) and says what it did, for the
// start log: "256 MiB of heap while jobs run (THP: madvise)", or why not.
func Reserve(n int64) string {
	once.Do(func() { describe = reserve(n) })
	return describe
}

// Begin marks the start of a run; the function it returns marks its end.
// Both are cheap when nothing was reserved.
func Begin() (end func()) {
	if !ready.Load() {
		return nothing
	}
	mu.Lock()
	active++
	if !advised {
		advised = advise(true)
	}
	mu.Unlock()
	return stop
}

func nothing() {}

func stop() {
	mu.Lock()
	active--
	if active == 0 {
		if idle == nil {
			idle = time.AfterFunc(idleAfter, settle)
		} else {
			idle.Reset(idleAfter)
		}
	}
	mu.Unlock()
}

// settle takes the advice back once the process is idle.
func settle() {
	mu.Lock()
	defer mu.Unlock()
	if active == 0 && advised {
		advised = !advise(false)
	}
}

// mode reads the kernel's THP setting ("always [madvise] never" → "madvise").
func mode(setting string) string {
	if i := strings.IndexByte(setting, '['); i >= 0 {
		if j := strings.IndexByte(setting[i:], ']'); j > 0 {
			return setting[i+1 : i+j]
		}
	}
	return ""
}

// disabled says whether GODEBUG turns huge pages off (disablethp=1; the
// last setting of a key wins, as in Go's own parsing).
func disabled(godebug string) bool {
	off := false
	for _, kv := range strings.Split(godebug, ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok && k == "disablethp" {
			off = v == "1"
		}
	}
	return off
}

// fit is how much of want to reserve under an address-space limit (0: none)
// of which used bytes are mapped already: at most a quarter of the room
// left, so a capped process (ulimit -v, a worker's RLIMIT_AS) keeps room
// for what it runs; rounded down to whole huge pages of size page.
func fit(want, used, limit, page int64) int64 {
	if limit > 0 {
		want = min(want, (limit-used)/4)
	}
	return max(want/page*page, 0)
}
