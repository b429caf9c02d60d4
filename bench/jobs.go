package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	_ "github.com/jobmediator/jobmediator/adaptors/all" // the adaptors jobs use
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/gcpolicy"
	"github.com/jobmediator/jobmediator/internal/hugepage"
	"github.com/jobmediator/jobmediator/runtime"
)

// JobCase is one job run in both runtimes. Ops are its top-level
// operations: Job Mediator gets them as job source (one per statement), Node
// as the compiled module @openfn/compiler would produce (imports + `export
// default [ops]`), so both run exactly the same operations.
type JobCase struct {
	Name  string
	Ops   []string
	Input func() ([]byte, error)
	// RSS: report the peak resident set of both processes for this job.
	RSS bool
	// Inner is how many timed runs each child does (default 1); a repeat's
	// figure is their median. A job that takes microseconds needs several
	// for one figure not to be a single timer tick or GC pause.
	Inner int
}

var jobCases = []JobCase{
	{Name: "trivial", Inner: 25, Ops: []string{`fn(state => state)`},
		Input: func() ([]byte, error) { return []byte(`{"data":{"id":"p-1","value":42}}`), nil }},
	{Name: "each 10k", Ops: []string{
		`each('$.data.items[*]', fn(state => { state.total = (state.total || 0) + state.data.qty * state.data.price; return state; }))`,
	}, Input: func() ([]byte, error) {
		items := make([]map[string]any, 10000)
		for i := range items {
			items[i] = map[string]any{"sku": fmt.Sprintf("sku-%05d", i), "qty": i % 7, "price": 1.5}
		}
		return json.Marshal(map[string]any{"data": map[string]any{"items": items}})
	}},
	{Name: "map 100k", RSS: true, Ops: []string{
		`fn(state => { state.data = state.data.records.map(r => ({ id: r.id, name: r.given + ' ' + r.family, age: r.age + 1, active: !r.inactive })); return state; })`,
	}, Input: func() ([]byte, error) {
		recs := make([]map[string]any, 100000)
		for i := range recs {
			recs[i] = map[string]any{"id": fmt.Sprintf("r%06d", i), "given": "Ann", "family": "Lee", "age": i % 90, "inactive": i%3 == 0}
		}
		return json.Marshal(map[string]any{"data": map[string]any{"records": recs}})
	}},
	{Name: "dhis2 dataValues", Ops: []string{
		`fn(state => { state.out = []; return state; })`,
		`each('$.data.dataValues[*]', fn(state => { state.out.push({ dataElement: dataValue('dataElement')(state), period: dataValue('period')(state), orgUnit: dataValue('orgUnit')(state), categoryOptionCombo: dataValue('categoryOptionCombo')(state), value: Number(dataValue('value')(state)) }); return state; }))`,
		`fn(state => ({ data: { dataSet: 'pBOMPrpg1QX', completeDate: '2018-12-31', dataValues: state.out } }))`,
	}, Input: dhis2Input},
}

// dhis2Input is the real DHIS2 bulk dataValueSet from the shared test data
// (231 values), repeated for 20 periods: 4,620 dataValues.
func dhis2Input() ([]byte, error) {
	raw, err := os.ReadFile(dhis2Fixture)
	if err != nil {
		return nil, err
	}
	var set struct {
		DataValues []map[string]any `json:"dataValues"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, err
	}
	var all []map[string]any
	for p := 0; p < 20; p++ {
		for _, dv := range set.DataValues {
			c := map[string]any{}
			for k, v := range dv {
				c[k] = v
			}
			c["period"] = fmt.Sprintf("2018%02d", p%12+1)
			all = append(all, c)
		}
	}
	return json.Marshal(map[string]any{"data": map[string]any{"dataValues": all}})
}

// dhis2Fixture is set by the command (the repository's testdata path).
var dhis2Fixture = "/work/shared/testdata/dhis2/datavalueset-bulk.json"

func (j JobCase) jmSource() string { return strings.Join(j.Ops, ";\n") + ";\n" }

func (j JobCase) nodeSource() string {
	return "import { fn, each, dataValue } from '@openfn/language-common';\nexport * from '@openfn/language-common';\nexport default [\n" +
		strings.Join(j.Ops, ",\n") + "\n];\n"
}

func findJob(name string) (JobCase, bool) {
	for _, j := range jobCases {
		if j.Name == name {
			return j, true
		}
	}
	return JobCase{}, false
}

// childResult is what a job child prints.
type childResult struct {
	MS    []float64 `json:"ms"`
	Bytes int       `json:"bytes"`
}

// RunJobChild runs one job in this process (`jmbench jobrun`): one
// untimed warm-up, then repeats timed from the input as JSON bytes to the
// final state as JSON bytes, as the mediator runs it.
func RunJobChild(name, inputFile string, repeats int, out io.Writer) error {
	j, ok := findJob(name)
	if !ok {
		return fmt.Errorf("unknown job %q", name)
	}
	input, err := os.ReadFile(inputFile)
	if err != nil {
		return err
	}
	// the collector settings a mediator runs jobs with (the daemon's
	// GOGC and soft limit), not Go's defaults
	gcpolicy.Tune(os.Getenv, gcpolicy.CgroupMemoryLimit())
	hugepage.Reserve(hugepage.Size) // as a worker does when it starts
	eng := runtime.New(runtime.Options{MaxInputBytes: 256 << 20, MaxStateBytes: 256 << 20, PoolSize: 1})
	job := &config.Job{Key: "job", Adaptor: "@openfn/language-common@3.3.4", Body: j.jmSource()}
	once := func() (float64, int, error) {
		t0 := time.Now()
		res := eng.RunJob(context.Background(), job, config.CompatLightning, input, runtime.RunRequest{})
		d := time.Since(t0)
		if res.Error != nil {
			return 0, 0, fmt.Errorf("%s: %s", name, res.Error.Message)
		}
		return ms(d), len(res.State), nil
	}
	if _, _, err := once(); err != nil {
		return err
	}
	var r childResult
	for i := 0; i < repeats; i++ {
		t, n, err := once()
		if err != nil {
			return err
		}
		r.MS, r.Bytes = append(r.MS, t), n
	}
	return json.NewEncoder(out).Encode(r)
}

// JobRow compares one job in both runtimes.
type JobRow struct {
	Job       string `json:"job"`
	JM        Figure `json:"jobmediatorMs"`
	Node      Figure `json:"nodeMs"`
	Speedup   Figure `json:"speedup"` // node time / jobmediator time
	JMRSS     Figure `json:"jobmediatorPeakRssMiB,omitzero"`
	NodeRSS   Figure `json:"nodePeakRssMiB,omitzero"`
	JMBytes   int    `json:"jobmediatorStateBytes"`
	NodeBytes int    `json:"nodeStateBytes"`
}

func runChild(cmd *exec.Cmd) (childResult, float64, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return childResult{}, 0, fmt.Errorf("%s: %v: %s", cmd.Path, err, lastLines(stderr.String(), 5))
	}
	var r childResult
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		return r, 0, fmt.Errorf("%s: bad output %q", cmd.Path, stdout.String())
	}
	rss := 0.0
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = float64(ru.Maxrss) / 1024 // KiB on Linux
	}
	return r, rss, nil
}

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

// nodeAvailable says why the Node baseline cannot run ("" when it can).
func (cfg *Config) nodeAvailable() string {
	if _, err := exec.LookPath("node"); err != nil {
		return "node is not installed: the Node baseline is skipped"
	}
	if _, err := os.Stat(filepath.Join(cfg.NodeDir, "node_modules", "@openfn", "runtime", "package.json")); err != nil {
		return "@openfn/runtime is not installed in " + cfg.NodeDir + " (npm install failed?): the Node baseline is skipped"
	}
	return ""
}

// Jobs runs every job case in a child process of each runtime, each child
// running its warm-up and repeats, so peak RSS is per job and per runtime.
func (cfg *Config) Jobs() ([]JobRow, error) {
	skip := cfg.nodeAvailable()
	if skip != "" {
		cfg.progress("%s", skip)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var rows []JobRow
	for i, j := range jobCases {
		input, err := j.Input()
		if err != nil {
			return nil, fmt.Errorf("%s: input: %w", j.Name, err)
		}
		in := filepath.Join(cfg.WorkDir, fmt.Sprintf("job%d.json", i))
		src := filepath.Join(cfg.WorkDir, fmt.Sprintf("job%d.mjs", i))
		if err := os.WriteFile(in, input, 0o600); err != nil {
			return nil, err
		}
		if err := os.WriteFile(src, []byte(j.nodeSource()), 0o600); err != nil {
			return nil, err
		}
		// Each repeat is one fresh child of each runtime (a warm-up run, then
		// Inner timed runs), the two alternating, so a busy moment of the
		// machine hits both sides of a ratio alike and peak RSS is per run.
		row := JobRow{Job: j.Name}
		var jmMS, nodeMS, jmRSS, nodeRSS []float64
		for rep := 0; rep < cfg.Repeats; rep++ {
			inner := fmt.Sprint(max(1, j.Inner))
			jr, rss, err := runChild(cfg.pinned("0", self, "jobrun", "-job", j.Name, "-input", in, "-repeats", inner))
			if err != nil {
				return nil, err
			}
			t := figure("ms", jr.MS).Median
			jmMS, jmRSS, row.JMBytes = append(jmMS, t), append(jmRSS, rss), jr.Bytes
			cfg.progress("job %-16s jobmediator %9.3f ms  peak RSS %6.0f MiB", j.Name, t, rss)
			if skip != "" {
				continue
			}
			cmd := cfg.pinned("0", "node", "--experimental-vm-modules", "--no-warnings", filepath.Join(cfg.NodeDir, "run.mjs"), src, in, inner)
			cmd.Dir = cfg.NodeDir
			nr, rss, err := runChild(cmd)
			if err != nil {
				return nil, err
			}
			t = figure("ms", nr.MS).Median
			nodeMS, nodeRSS, row.NodeBytes = append(nodeMS, t), append(nodeRSS, rss), nr.Bytes
			cfg.progress("job %-16s node        %9.3f ms  peak RSS %6.0f MiB", j.Name, t, rss)
		}
		row.JM = figure("ms", jmMS)
		if skip == "" {
			row.Node = figure("ms", nodeMS)
			row.Speedup = ratio(row.Node, row.JM)
			if row.JMBytes != row.NodeBytes {
				cfg.progress("job %-16s note: final states differ in size (%d vs %d bytes)", j.Name, row.JMBytes, row.NodeBytes)
			}
		} else {
			row.Node.Skipped = skip
		}
		if j.RSS {
			row.JMRSS = figure("MiB", jmRSS)
			if skip == "" {
				row.NodeRSS = figure("MiB", nodeRSS)
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// WriteInputs writes each job's input state and Node module to dir
// (`jmbench inputs DIR`, for profiling one job by hand).
func WriteInputs(dir string) error {
	for i, j := range jobCases {
		input, err := j.Input()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("job%d.json", i)), input, 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("job%d.mjs", i)), []byte(j.nodeSource()), 0o644); err != nil {
			return err
		}
	}
	return nil
}
