package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/jobmediator/jobmediator/runtime"
	"github.com/jobmediator/jobmediator/runtime/isolate"
	"github.com/jobmediator/jobmediator/workflow"
)

// worker is the process the daemon runs jobs in (runtime/isolate). It is
// not for people: the daemon starts it with its requests on fd 3 and reads
// the answers on fd 4.
func worker(stderr io.Writer, getenv func(string) string) int {
	var o isolate.WorkerOptions
	if v := getenv(isolate.OptionsEnv); v != "" {
		if err := json.Unmarshal([]byte(v), &o); err != nil {
			fmt.Fprintf(stderr, "jobmediator worker: %s: %v\n", isolate.OptionsEnv, err)
			return exitUsage
		}
	}
	in, out := os.NewFile(3, "requests"), os.NewFile(4, "replies")
	if in == nil || out == nil {
		fmt.Fprintln(stderr, "jobmediator worker: started by the daemon only (needs fds 3 and 4)")
		return exitUsage
	}
	walk := func(e *runtime.Engine) isolate.Runner { return workflow.NewLocal(e) }
	if err := isolate.Serve(in, out, o, walk); err != nil {
		fmt.Fprintln(stderr, "jobmediator worker:", err)
		return exitFailed
	}
	return exitOK
}
