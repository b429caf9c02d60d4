package isolate

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/bench"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/runtime"
	walker "github.com/jobmediator/jobmediator/workflow"
)

// BenchmarkTrivialRun compares one trivial run in-process with the same run
// in a worker process: the difference is what isolation costs a routed
// request (framing, two pipe hops, the memory guard). cpu-µs/op is the CPU
// of this process plus its workers per run, steadier than ns/op on a
// shared machine.
func BenchmarkTrivialRun(b *testing.B) {
	wf := workflow("trivial", `fn(s => s)`, 0)
	input := json.RawMessage(`{"data":{"patient":{"id":"p1","name":"Ada"}},"request":{"method":"POST","path":"/trivial","headers":{}}}`)
	benchRuns(b, runtime.RunRequest{Workflow: wf, Compat: config.CompatLightning, Input: input}, nil)
}

// BenchmarkUpstreamRun is the routed bench's transaction (examples/hello-upstream)
// at the runner: a credential, one POST upstream recorded as an exchange, a
// log line, a per-run redactor.
func BenchmarkUpstreamRun(b *testing.B) {
	srv := httptest.NewServer(bench.UpstreamHandler())
	defer srv.Close()
	wf := &config.Workflow{Key: "hello", Jobs: []*config.Job{{Key: "post", Name: "post", Adaptor: "@openfn/language-http@7", Credential: "upstream",
		Body: `post('/records', $.data); fn(s => { console.log('posted'); return s; })`}}}
	input := json.RawMessage(`{"data":{"resourceType":"Patient","id":"p-1","name":[{"family":"Doe","given":["Jane"]}],"gender":"female","birthDate":"1990-01-01"},"request":{"method":"POST","path":"/hello","headers":{}}}`)
	cred := map[string]any{"baseUrl": srv.URL, "username": "demo", "password": "demo-secret"}
	base := redact.New()
	base.AddSecretsFrom(cred)
	req := runtime.RunRequest{Workflow: wf, Compat: config.CompatLightning, Input: input,
		Credential: func(k string) (map[string]any, bool) { return cred, k == "upstream" }}
	benchRuns(b, req, func(r *runtime.RunRequest) {
		// as the daemon does: a fresh redactor and recorder per run
		r.Redactor = base.Clone()
		r.HTTP = recorder.NewClient(nil, recorder.NewRecorder(r.Redactor))
	})
}

func benchRuns(b *testing.B, req runtime.RunRequest, perRun func(*runtime.RunRequest)) {
	run := func(b *testing.B, r interface {
		Run(context.Context, runtime.RunRequest) *runtime.Result
	}, workers func() []int) {
		c0 := cpuTime(workers())
		n := 0
		for b.Loop() {
			rq := req
			if perRun != nil {
				perRun(&rq)
			}
			if res := r.Run(context.Background(), rq); res.Status != runtime.StatusSuccess {
				b.Fatal(res.Status, res.Error)
			}
			n++
		}
		b.ReportMetric(float64(cpuTime(workers())-c0)/1e3/float64(n), "cpu-µs/op")
	}
	b.Run("in-process", func(b *testing.B) {
		e := walker.NewLocal(runtime.New(runtime.Options{}))
		run(b, e, func() []int { return nil })
	})
	b.Run("worker", func(b *testing.B) {
		p, err := New(Options{Command: []string{os.Args[0]}, Env: []string{workerEnv + "=1"}, Warm: 1, Size: 1})
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		run(b, p, p.pids)
	})
}

// pids lists the workers' process ids (benchmarks).
func (p *Pool) pids() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []int
	for w := range p.all {
		out = append(out, w.cmd.Process.Pid)
	}
	return out
}

// cpuTime is this process's CPU time plus that of pids, in nanoseconds.
func cpuTime(pids []int) int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	t := ru.Utime.Nano() + ru.Stime.Nano()
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		t += (u + st) * 1e7 // clock ticks of 10 ms
	}
	return t
}
