package isolate

import (
	"os"
	"slices"
	"strconv"
	"syscall"
	"unsafe"

	"github.com/jobmediator/jobmediator/internal/procstat"
)

// fcntl commands from linux/fcntl.h (not in package syscall).
const (
	fSetPipeSz = 1031
	fGetPipeSz = 1032
)

// sidePipe makes the side pipe (frame.go): a read end for the mediator,
// non-blocking and never handed to Go's poller, and a blocking write end
// for the worker. It asks for 1 MB of pipe buffer so a run's frames fit
// between two reads; capacity is what it got.
func sidePipe() (r *sideReader, w *os.File, capacity int, err error) {
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		return nil, nil, 0, err
	}
	if err := syscall.SetNonblock(p[0], true); err != nil {
		_ = syscall.Close(p[0])
		_ = syscall.Close(p[1])
		return nil, nil, 0, err
	}
	// Refused past /proc/sys/fs/pipe-max-size or the user's pipe pages:
	// the default 64 KB then, and a smaller budget (spawn).
	_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, uintptr(p[0]), fSetPipeSz, 1<<20)
	c, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(p[0]), fGetPipeSz, 0)
	if errno != 0 {
		c = 64 << 10
	}
	return &sideReader{fd: p[0]}, os.NewFile(uintptr(p[1]), "side"), int(c), nil //nolint:gosec // G115: a pipe's size in bytes
}

// read appends what the side pipe holds now to buf, without waiting, and
// at most maxSideRead bytes.
func (s *sideReader) read(buf []byte) []byte {
	if s == nil {
		return buf
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return buf
	}
	for start := len(buf); len(buf)-start < maxSideRead; {
		if cap(buf)-len(buf) < 16<<10 {
			buf = slices.Grow(buf, 64<<10)
		}
		n, err := syscall.Read(s.fd, buf[len(buf):cap(buf)])
		if n > 0 {
			buf = buf[:len(buf)+n]
			continue
		}
		if err != syscall.EINTR {
			break // EAGAIN: empty for now; 0: the worker is gone and all is read
		}
	}
	return buf
}

func (s *sideReader) close() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		_ = syscall.Close(s.fd)
	}
}

// setAddressSpaceLimit caps the worker's address space (RLIMIT_AS) at what
// it has mapped now plus room for a run of limit bytes and the garbage
// collector's headroom. Only the soft limit moves, so a later run with a
// bigger budget can raise it again; an inherited hard limit (ulimit -v)
// is never exceeded.
func setAddressSpaceLimit(limit int64) {
	vsz, _, ok := procstat.Statm("self")
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

// schedBatch is SCHED_BATCH (linux/sched.h).
const schedBatch = 3

// batchScheduling puts every thread of this process under SCHED_BATCH
// (threads made later inherit it): a worker woken by the mediator or by
// an upstream answer then waits for the CPU's current slice to end instead
// of preempting another worker mid-run. With the mediator on one CPU and
// a run per worker, wake-up preemption between workers switched address
// spaces several times per run. The mediator itself stays SCHED_OTHER, so
// it still preempts a worker to answer.
func batchScheduling() {
	var param [1]int32 // sched_priority 0
	// twice: a thread started during the first pass by one not yet moved
	// would keep SCHED_OTHER
	for range 2 {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			_, _, _ = syscall.RawSyscall(syscall.SYS_SCHED_SETSCHEDULER, uintptr(tid), schedBatch, uintptr(unsafe.Pointer(&param[0]))) //nolint:gosec // G103: sched_setscheduler reads a struct sched_param, one int
		}
	}
}

// WorkerPipe opens a pipe the mediator handed a worker on fd; false when fd
// is not a pipe (not inherited: the Go runtime may use that number itself).
// The pipe is switched to non-blocking and so joins Go's poller: a
// goroutine waiting for the next run then parks instead of holding the
// worker's only P in a read system call, which the runtime's monitor
// thread had to take back every 20 µs, all the time.
func WorkerPipe(fd uintptr, name string) (*os.File, bool) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(fd), &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFIFO { //nolint:gosec // G115: a small descriptor number
		return nil, false
	}
	if err := syscall.SetNonblock(int(fd), true); err != nil { //nolint:gosec // G115: a small descriptor number
		return nil, false
	}
	return os.NewFile(fd, name), true
}
