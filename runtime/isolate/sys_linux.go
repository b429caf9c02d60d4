package isolate

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

var pageSize = int64(os.Getpagesize())

// statm returns a process's virtual size and resident set, in bytes.
func statm(pid string) (vsz, rss int64, ok bool) {
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

// setAddressSpaceLimit caps the worker's address space (RLIMIT_AS) at what
// it has mapped now plus room for a run of limit bytes and the garbage
// collector's headroom. Only the soft limit moves, so a later run with a
// bigger budget can raise it again; an inherited hard limit (ulimit -v)
// is never exceeded.
func setAddressSpaceLimit(limit int64) {
	vsz, _, ok := statm("self")
	if !ok {
		return
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &rl); err != nil {
		return
	}
	want := uint64(vsz + 2*limit + 512<<20) //nolint:gosec // G115: sizes of this process and its limit, positive and far below 2^63
	if rl.Max != ^uint64(0) && want > rl.Max {
		want = rl.Max
	}
	rl.Cur = want
	_ = syscall.Setrlimit(syscall.RLIMIT_AS, &rl)
}

func workerSysProcAttr() *syscall.SysProcAttr {
	// The worker dies with the mediator even if the pipe is not noticed.
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
