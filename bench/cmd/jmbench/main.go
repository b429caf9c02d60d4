// Command jmbench is `make bench`: see package bench.
//
//	jmbench [-repeats 3] [-duration 3s] [-only routed,jobs,store]   the table
//	jmbench bare -listen ADDR -upstream URL                          the baseline server
//	jmbench jobrun -job NAME -input FILE -repeats N [-cpuprofile F] [-jsprofile F]  one job in process
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/dop251/goja"

	"github.com/jobmediator/jobmediator/bench"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "bare":
			fs := flag.NewFlagSet("bare", flag.ExitOnError)
			listen := fs.String("listen", "127.0.0.1:0", "address")
			upstream := fs.String("upstream", "", "upstream base URL")
			_ = fs.Parse(os.Args[2:])
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			exit(bench.ServeBare(ctx, *listen, *upstream))
			return
		case "inputs":
			exit(bench.WriteInputs(os.Args[2]))
			return
		case "jobrun":
			fs := flag.NewFlagSet("jobrun", flag.ExitOnError)
			job := fs.String("job", "", "job name")
			input := fs.String("input", "", "input state file")
			repeats := fs.Int("repeats", 3, "timed repeats")
			prof := fs.String("cpuprofile", "", "write a CPU profile of the whole child here")
			jsProf := fs.String("jsprofile", "", "write goja's JavaScript-level profile (functions of the job and adaptors) here")
			_ = fs.Parse(os.Args[2:])
			if *prof != "" {
				f, err := os.Create(*prof)
				exit(err)
				exit(pprof.StartCPUProfile(f))
				defer pprof.StopCPUProfile()
			}
			if *jsProf != "" {
				f, err := os.Create(*jsProf)
				exit(err)
				exit(goja.StartProfile(f))
				defer goja.StopProfile()
			}
			if err := bench.RunJobChild(*job, *input, *repeats, os.Stdout); err != nil {
				pprof.StopCPUProfile()
				goja.StopProfile()
				exit(err)
			}
			return
		}
	}
	cfg := bench.Config{Log: os.Stderr}
	only := ""
	flag.StringVar(&cfg.Binary, "bin", "bin/jobmediator", "the jobmediator binary under test")
	flag.StringVar(&cfg.Project, "project", "examples/hello-upstream", "project routed transactions run")
	flag.StringVar(&cfg.Scripted, "scripted", "bench/scripted-upstream", "the same workflow with a job run in the VM, measured alongside (\"\": leave out)")
	flag.StringVar(&cfg.NodeDir, "node", "bench/node", "directory with run.mjs and node_modules")
	flag.StringVar(&cfg.Out, "out", "bench/results/latest.json", "JSON results")
	flag.IntVar(&cfg.Repeats, "repeats", 3, "repeats per figure")
	flag.DurationVar(&cfg.Duration, "duration", 2*time.Second, "length of each routed load run")
	flag.DurationVar(&cfg.StoreDuration, "store-duration", 1500*time.Millisecond, "length of each store measurement")
	flag.BoolVar(&cfg.Pin, "pin", true, "pin servers to CPU 0 and the load generator to CPU 1 (taskset)")
	flag.StringVar(&cfg.ProfileDir, "profile", "", "write CPU profiles of both mediators under load (closed 16) to this directory")
	flag.StringVar(&only, "only", "", "comma-separated parts: routed, jobs, store")
	flag.Parse()
	if only != "" {
		cfg.Only = strings.Split(only, ",")
	}
	if cfg.Pin && os.Getenv("JMBENCH_PINNED") == "" {
		if _, err := exec.LookPath("taskset"); err != nil || runtime.NumCPU() < 2 {
			fmt.Fprintln(os.Stderr, "jmbench: taskset or a second CPU is missing: running unpinned")
			cfg.Pin = false
		} else {
			// Re-run this process on CPU 1: the load generator and upstream
			// share it, servers get CPU 0 to themselves.
			self, _ := os.Executable()
			cmd := exec.Command("taskset", append([]string{"-c", "1", self}, os.Args[1:]...)...)
			cmd.Env = append(os.Environ(), "JMBENCH_PINNED=1")
			cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
			if err := cmd.Run(); err != nil {
				os.Exit(1)
			}
			return
		}
	}
	for _, p := range []*string{&cfg.Binary, &cfg.Project, &cfg.Scripted, &cfg.NodeDir, &cfg.Out, &cfg.ProfileDir} {
		if *p == "" {
			continue
		}
		if abs, err := filepath.Abs(*p); err == nil {
			*p = abs
		}
	}
	dir, err := os.MkdirTemp("", "jmbench-")
	exit(err)
	defer os.RemoveAll(dir)
	cfg.WorkDir = dir
	commit, _ := exec.Command("git", "describe", "--always", "--dirty").Output()
	machine := machineName()
	if _, err := cfg.Run(os.Stdout, strings.TrimSpace(string(commit)), machine); err != nil {
		os.RemoveAll(dir)
		exit(err)
	}
}

func exit(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "jmbench:", err)
		os.Exit(1)
	}
}

// machineName is the CPU model and count (this process may be pinned to
// one CPU, so runtime.NumCPU would say 1).
func machineName() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	model, n := "", 0
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			model, n = strings.TrimSpace(v), n+1
		}
	}
	return fmt.Sprintf("%s/%s, %d × %s", runtime.GOOS, runtime.GOARCH, n, model)
}
