package isolate

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/runtime"
	walker "github.com/jobmediator/jobmediator/workflow"
)

// BenchmarkTrivialRun compares one trivial run in-process with the same run
// in a worker process: the difference is what isolation costs a routed
// request (framing, two pipe hops, the memory guard).
func BenchmarkTrivialRun(b *testing.B) {
	wf := workflow("trivial", `fn(s => s)`, 0)
	input := json.RawMessage(`{"data":{"patient":{"id":"p1","name":"Ada"}},"request":{"method":"POST","path":"/trivial","headers":{}}}`)
	req := runtime.RunRequest{Workflow: wf, Compat: config.CompatLightning, Input: input}
	b.Run("in-process", func(b *testing.B) {
		e := walker.NewLocal(runtime.New(runtime.Options{}))
		for b.Loop() {
			if r := e.Run(context.Background(), req); r.Status != runtime.StatusSuccess {
				b.Fatal(r.Error)
			}
		}
	})
	b.Run("worker", func(b *testing.B) {
		p, err := New(Options{Command: []string{os.Args[0]}, Env: []string{workerEnv + "=1"}, Warm: 1})
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		for b.Loop() {
			if r := p.Run(context.Background(), req); r.Status != runtime.StatusSuccess {
				b.Fatal(r.Error)
			}
		}
	})
}
