// Package procstat reads a process's memory sizes from /proc (Linux): the
// worker pool's resident-memory backstop, a worker's address-space limit
// and the huge-page region's sizing all read the same file.
package procstat

import (
	"os"
	"strconv"
	"strings"
)

var pageSize = int64(os.Getpagesize())

// Statm returns a process's virtual size and resident set, in bytes, from
// /proc/PID/statm (pid "self": this process); ok is false where there is
// no such file.
func Statm(pid string) (vsz, rss int64, ok bool) {
	b, err := os.ReadFile("/proc/" + pid + "/statm")
	if err != nil {
		return 0, 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, 0, false
	}
	v, err1 := strconv.ParseInt(f[0], 10, 64)
	r, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return v * pageSize, r * pageSize, true
}
