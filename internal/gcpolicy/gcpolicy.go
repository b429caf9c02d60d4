// Package gcpolicy is the garbage collector's settings of the daemon, which
// runs jobs itself under JM_ISOLATION=none, and of make bench's in-process
// job child, so that the bench measures jobs under those settings rather
// than Go's defaults. Job workers keep their own (a ballast and a per-run
// limit, runtime/isolate).
package gcpolicy

import (
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// A mediator's garbage is short-lived: every routed request allocates its
// request, state, orchestration and history record and drops them when
// it answers, while what stays live (VM pools, connection pools, indexes)
// is small. At Go's default GOGC=100 the collector ran whenever the heap
// doubled over that small live set: 14% of the daemon's CPU under routed
// load (make bench profile, in-process). gcPercent lets the heap grow to
// five times the live set between collections instead, and gcLimit caps
// what that may cost in memory: the collector works harder as the heap
// nears the limit, so a large live heap (in-process jobs with big states)
// gets a heap bounded by the limit rather than five times its size.
const (
	gcPercent = 400
	gcLimit   = 1 << 30 // 1 GiB, or 3/4 of the container's memory limit if lower
)

// Tune applies gcPercent and gcLimit unless the operator set GOGC or
// GOMEMLIMIT (Go's own settings win) and says what is in effect.
func Tune(getenv func(string) string, cgroupLimit int64) string {
	var parts []string
	if v := getenv("GOGC"); v != "" {
		parts = append(parts, "GOGC="+v+" (environment)")
	} else {
		debug.SetGCPercent(gcPercent)
		parts = append(parts, fmt.Sprintf("GOGC=%d", gcPercent))
	}
	if v := getenv("GOMEMLIMIT"); v != "" {
		parts = append(parts, "GOMEMLIMIT="+v+" (environment)")
	} else {
		limit := int64(gcLimit)
		if cgroupLimit > 0 && cgroupLimit/4*3 < limit {
			limit = cgroupLimit / 4 * 3
		}
		debug.SetMemoryLimit(limit)
		parts = append(parts, fmt.Sprintf("GOMEMLIMIT=%dMiB", limit>>20))
	}
	return strings.Join(parts, " ")
}

// CgroupMemoryLimit is the memory limit of the container this process runs
// in (cgroup v2, then v1), or 0 when there is none or it cannot be read.
func CgroupMemoryLimit() int64 {
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || n <= 0 || n >= 1<<60 { // "max", or v1's "no limit" sentinel
			return 0
		}
		return n
	}
	return 0
}
