package bench

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The routed figures above are throughput and latency, which a busy
// machine halves; CPU time spent per request is what a server costs and
// changes little with the load beside it. cpuTime is the user+system CPU
// time so far of a process and all its live descendants (the mediator's job
// workers), read from /proc: the difference across a load run, divided by
// the requests served, is that server's CPU per request.

// clockTick is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on every
// Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

type procStat struct {
	ppid int
	// clock ticks: own user+system time, plus that of children it has
	// waited for (a job worker replaced after a memory limit)
	ticks int64
}

// readStat parses /proc/<pid>/stat (the command name may hold spaces and
// parentheses, so fields are counted from the last ')').
func readStat(pid int) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(s[i+1:])
	// after ")": state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14)
	if len(f) < 15 {
		return procStat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	var ticks int64
	for _, x := range f[11:15] {
		n, _ := strconv.ParseInt(x, 10, 64)
		ticks += n
	}
	return procStat{ppid: ppid, ticks: ticks}, true
}

// cpuTime sums pid and its descendants; false when /proc is not there.
func cpuTime(pid int) (time.Duration, bool) {
	root, ok := readStat(pid)
	if !ok {
		return 0, false
	}
	stats := map[int]procStat{pid: root}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		p, err := strconv.Atoi(filepath.Base(d))
		if err != nil || p == pid {
			continue
		}
		if st, ok := readStat(p); ok {
			stats[p] = st
		}
	}
	var ticks int64
	for p, st := range stats {
		for q, hops := p, 0; hops < 64; hops++ {
			if q == pid {
				ticks += st.ticks
				break
			}
			parent, ok := stats[q]
			if !ok || parent.ppid == q {
				break
			}
			q = parent.ppid
		}
	}
	return time.Duration(ticks) * clockTick, true
}
