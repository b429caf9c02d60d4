package hugepage

import (
	"errors"
	"fmt"
	"os"
	goruntime "runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"github.com/jobmediator/jobmediator/internal/procstat"
)

const sysfs = "/sys/kernel/mm/transparent_hugepage/"

func reserve(n int64) string {
	if disabled(os.Getenv("GODEBUG")) {
		return "off (GODEBUG=disablethp=1)"
	}
	b, err := os.ReadFile(sysfs + "enabled")
	if err != nil {
		return "off (the kernel has no transparent huge pages)"
	}
	switch m := mode(string(b)); m {
	case "always":
		return "the kernel's own (THP: always)"
	case "madvise":
	default:
		return "off (THP: " + m + ")"
	}
	page := int64(2 << 20)
	if b, err := os.ReadFile(sysfs + "hpage_pmd_size"); err == nil {
		if v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && v > 0 && v&(v-1) == 0 {
			page = v
		}
	}
	mapped, _, _ := procstat.Statm("self")
	var limit int64
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_AS, &rl) == nil && rl.Cur < 1<<62 {
		limit = int64(rl.Cur)
	}
	// no more than the heap may hold under Go's soft limit (a small
	// container's GOMEMLIMIT)
	n = fit(min(n, debug.SetMemoryLimit(-1)), mapped, limit, page)
	if n < page {
		return "off (RLIMIT_AS or GOMEMLIMIT leave too little room)"
	}
	// one huge page more than the region: the object is not aligned
	start := fresh(n + page)
	goruntime.GC()
	debug.FreeOSMemory()
	align := uintptr(page) //nolint:gosec // G115: a power of two from sysfs or 2 MiB
	lo = (start + align - 1) &^ (align - 1)
	hi = lo + uintptr(n) //nolint:gosec // G115: n is positive (fit)
	if err := madvise(syscall.MADV_NOHUGEPAGE); err != nil {
		return "off (madvise: " + err.Error() + ")"
	}
	ready.Store(true)
	return fmt.Sprintf("%d MiB of heap while jobs run (THP: madvise)", (hi-lo)>>20)
}

// fresh allocates n bytes and drops them, and says where they were. A large
// object of fresh memory is mapped but never written (it is zero already),
// so this costs address space, not memory; once collected, its pages are
// the heap's free pages, and the heap grows into them as runs allocate.
func fresh(n int64) uintptr {
	big := make([]byte, n)
	return uintptr(unsafe.Pointer(unsafe.SliceData(big))) //nolint:gosec // G103: only the address, to advise the range
}

// advise sets (on) or takes back the huge page advice on the region, and
// says whether it now holds as asked.
func advise(on bool) bool {
	if on {
		return madvise(syscall.MADV_HUGEPAGE) == nil
	}
	return madvise(syscall.MADV_NOHUGEPAGE) == nil
}

func madvise(advice int) error {
	if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, lo, hi-lo, uintptr(advice)); e != 0 {
		return e
	}
	return nil
}

// Fallbacks is the kernel's count of faults in advised memory that found no
// free huge page and took a small one (/proc/vmstat thp_fault_fallback):
// where a region holds no huge pages, this says whether the kernel tried.
func Fallbacks() (int64, error) {
	b, err := os.ReadFile("/proc/vmstat")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == "thp_fault_fallback" {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("/proc/vmstat has no thp_fault_fallback")
}
