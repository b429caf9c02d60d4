package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Config is one `make bench` run.
type Config struct {
	Binary  string // bin/jobmediator
	Project string // examples/hello-upstream
	// Scripted is the same workflow with a job that runs in the VM
	// (bench/scripted-upstream); "" leaves it out.
	Scripted      string
	NodeDir       string        // bench/node (package.json, run.mjs, node_modules)
	WorkDir       string        // scratch (data dirs, logs, inputs)
	Out           string        // bench/results/latest.json
	Repeats       int           // per figure
	Duration      time.Duration // per routed load run
	StoreDuration time.Duration // per store measurement
	Pin           bool          // taskset: server on CPU 0, load and upstream on CPU 1
	MediatorEnv   []string      // extra environment for the mediator
	Only          []string      // routed, jobs, store (empty: all)
	Log           io.Writer     // progress lines
	// ProfileDir, when set, gets a CPU profile of the mediator during its
	// first closed-loop-16 run (JM_PPROF through the operator API).
	ProfileDir string
}

func (cfg *Config) progress(format string, args ...any) {
	if cfg.Log != nil {
		fmt.Fprintf(cfg.Log, format+"\n", args...)
	}
}

func (cfg *Config) want(part string) bool {
	if len(cfg.Only) == 0 {
		return true
	}
	for _, p := range cfg.Only {
		if p == part {
			return true
		}
	}
	return false
}

// Results is bench/results/latest.json.
type Results struct {
	Date     time.Time   `json:"date"`
	Commit   string      `json:"commit,omitempty"`
	Machine  string      `json:"machine"`
	Pinned   bool        `json:"pinned"`
	Repeats  int         `json:"repeats"`
	Duration string      `json:"loadDuration"`
	Routed   []RoutedRow `json:"routed,omitempty"`
	Jobs     []JobRow    `json:"jobs,omitempty"`
	Stores   []StoreRow  `json:"stores,omitempty"`
	Elapsed  string      `json:"elapsed"`
}

// Run measures every part asked for, prints the table and writes the JSON.
func (cfg *Config) Run(w io.Writer, commit, machine string) (*Results, error) {
	start := time.Now()
	res := &Results{Date: start.UTC(), Commit: commit, Machine: machine, Pinned: cfg.Pin, Repeats: cfg.Repeats, Duration: cfg.Duration.String()}
	var err error
	if cfg.want("routed") {
		if res.Routed, err = cfg.Routed(); err != nil {
			return nil, fmt.Errorf("routed: %w", err)
		}
	}
	if cfg.want("jobs") {
		if res.Jobs, err = cfg.Jobs(); err != nil {
			return nil, fmt.Errorf("jobs: %w", err)
		}
	}
	if cfg.want("store") {
		if res.Stores, err = cfg.Stores(); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	res.Elapsed = time.Since(start).Round(time.Second).String()
	WriteTable(w, res)
	if cfg.Out != "" {
		if err := os.MkdirAll(filepath.Dir(cfg.Out), 0o755); err != nil {
			return nil, err
		}
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(cfg.Out, append(b, '\n'), 0o644); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// cell is "median ±spread%".
func cell(f Figure, prec int) string {
	if f.Skipped != "" {
		return "skipped"
	}
	if len(f.Values) == 0 {
		return "–"
	}
	return fmt.Sprintf("%.*f ±%.0f%%", prec, f.Median, f.Spread())
}

// WriteTable prints the results as one Markdown table per part (the README
// carries the same text).
func WriteTable(w io.Writer, r *Results) {
	fmt.Fprintf(w, "make bench — %s, commit %s, %s; median ±half-range of %d repeats; pinned: %v\n\n", r.Date.Format("2006-01-02 15:04 UTC"), r.Commit, r.Machine, r.Repeats, r.Pinned)
	if len(r.Routed) > 0 {
		fmt.Fprintf(w, "Routed transaction (examples/hello-upstream, embedded store, no OpenHIM) vs a bare Go handler making the same upstream call, %s per run; mediator = the default (its declarative job runs in the daemon without a VM), in-process = JM_ISOLATION=none, scripted = the same workflow with a job that maps the body in JavaScript (bench/scripted-upstream: in a worker process, the default for any job that is not declarative)\n\n", r.Duration)
		fmt.Fprintln(w, "| load | mediator req/s | in-process req/s | scripted req/s | bare req/s | mediator/bare | in-process/bare | scripted/bare | mediator p50 / p99 ms | in-process p50 / p99 ms | scripted p50 / p99 ms | bare p50 / p99 ms | errors |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
		for _, x := range r.Routed {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s / %s | %s / %s | %s / %s | %d |\n", x.Scenario,
				cell(x.MediatorRPS, 0), cell(x.InProcessRPS, 0), cell(x.ScriptedRPS, 0), cell(x.BareRPS, 0),
				cell(x.Ratio, 3), cell(x.InProcessRatio, 3), cell(x.ScriptedRatio, 3),
				cell(x.MediatorP50, 1), cell(x.MediatorP99, 1), cell(x.InProcessP50, 1), cell(x.InProcessP99, 1),
				cell(x.ScriptedP50, 1), cell(x.ScriptedP99, 1), cell(x.BareP50, 1), cell(x.BareP99, 1), x.Errors)
		}
		fmt.Fprintln(w)
		fmt.Fprintln(w, "CPU per request (user+system time of each server's process tree, job workers included, over the run, divided by the requests it served): unlike req/s, little changed by what else runs on the machine")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| load | mediator µs | in-process µs | scripted µs | bare µs | bare/mediator | bare/in-process | bare/scripted |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
		for _, x := range r.Routed {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", x.Scenario, cell(x.MediatorCPU, 0), cell(x.InProcessCPU, 0),
				cell(x.ScriptedCPU, 0), cell(x.BareCPU, 0), cell(x.CPURatio, 3), cell(x.InProcessCPURatio, 3), cell(x.ScriptedCPURatio, 3))
		}
		fmt.Fprintln(w)
	}
	if len(r.Jobs) > 0 {
		fmt.Fprintln(w, "Jobs in process, JSON in to JSON out: Job Mediator (goja) vs @openfn/runtime 1.9.5 (Node)")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| job | jobmediator ms | node ms | node/jobmediator | peak RSS jobmediator MiB | peak RSS node MiB |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|")
		for _, x := range r.Jobs {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", x.Job, cell(x.JM, 3), cell(x.Node, 2), cell(x.Speedup, 2), cell(x.JMRSS, 0), cell(x.NodeRSS, 0))
		}
		for _, x := range r.Jobs {
			if x.Node.Skipped != "" {
				fmt.Fprintf(w, "\n(%s)\n", x.Node.Skipped)
				break
			}
		}
		fmt.Fprintln(w)
	}
	if len(r.Stores) > 0 {
		fmt.Fprintln(w, "Store: history writes (a run + 2 log lines) and enqueues from 16 writers, claims (claim + complete, 300 queued) from 4 workers")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| store | history writes/s, group commit | history writes/s, a commit each | enqueues/s | claims/s |")
		fmt.Fprintln(w, "|---|---|---|---|---|")
		for _, x := range r.Stores {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", x.Store, cell(x.Writes, 0), cell(x.Direct, 0), cell(x.Enqueue, 0), cell(x.Claims, 0))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "%s\n", strings.TrimSpace("elapsed "+r.Elapsed))
}
