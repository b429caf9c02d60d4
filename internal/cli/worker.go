package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"

	"github.com/jobmediator/jobmediator/runtime"
	"github.com/jobmediator/jobmediator/runtime/isolate"
	"github.com/jobmediator/jobmediator/workflow"
)

// worker is the process the daemon runs jobs in (runtime/isolate). It is
// not for people: the daemon starts it with its requests on fd 3 and reads
// the answers on fd 4 (and, when its options say so, log lines and
// exchanges on fd 5).
func worker(stderr io.Writer, getenv func(string) string) int {
	var o isolate.WorkerOptions
	if v := getenv(isolate.OptionsEnv); v != "" {
		if err := json.Unmarshal([]byte(v), &o); err != nil {
			fmt.Fprintf(stderr, "jobmediator worker: %s: %v\n", isolate.OptionsEnv, err)
			return exitUsage
		}
	}
	// When fds 3 and 4 are not inherited the Go runtime may use them
	// itself (its poller): the daemon hands over two pipes, so anything
	// else means a person typed `jobmediator worker`.
	in, okIn := isolate.WorkerPipe(3, "requests")
	out, okOut := isolate.WorkerPipe(4, "replies")
	if !okIn || !okOut {
		fmt.Fprintln(stderr, "jobmediator worker: started by `jobmediator serve` only (it reads runs from a pipe on fd 3 and answers on fd 4)")
		return exitUsage
	}
	var side io.Writer
	if o.SideBudget > 0 { // the daemon handed over a third pipe, for log and exchange frames
		s, ok := isolate.WorkerPipe(5, "side")
		if !ok {
			fmt.Fprintln(stderr, "jobmediator worker: started by `jobmediator serve` only (fd 5 is not the side pipe it was promised)")
			return exitUsage
		}
		side = s
	}
	if dir := getenv("JM_WORKER_CPUPROFILE"); dir != "" {
		// a CPU profile per worker, from its start to its end (when the
		// daemon stops or replaces it): the daemon's /debug/pprof does not
		// see the jobs' side of a run
		if f, err := os.Create(filepath.Join(dir, fmt.Sprintf("worker-%d.pprof", os.Getpid()))); err != nil {
			fmt.Fprintln(stderr, "jobmediator worker: JM_WORKER_CPUPROFILE:", err)
		} else if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "jobmediator worker: JM_WORKER_CPUPROFILE:", err)
			f.Close()
		} else {
			defer f.Close()
			defer pprof.StopCPUProfile()
		}
	}
	walk := func(e *runtime.Engine) isolate.Runner { return workflow.NewLocal(e) }
	if err := isolate.Serve(in, out, side, o, walk); err != nil {
		fmt.Fprintln(stderr, "jobmediator worker:", err)
		return exitFailed
	}
	return exitOK
}
