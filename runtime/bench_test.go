package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/jobmediator/jobmediator/config"
)

// BenchmarkTrivialJob measures per-run overhead on a warm pool.
func BenchmarkTrivialJob(b *testing.B) {
	e := New(Options{})
	job := &config.Job{Key: "bench", Adaptor: "common", Body: "fn(s => s)"}
	in := json.RawMessage(`{"data":{"a":1}}`)
	if res := e.RunJob(context.Background(), job, config.CompatLightning, in, RunRequest{}); res.Status != StatusSuccess {
		b.Fatalf("%+v", res.Error)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res := e.RunJob(context.Background(), job, config.CompatLightning, in, RunRequest{}); res.Status != StatusSuccess {
			b.Fatalf("%+v", res.Error)
		}
	}
}

// BenchmarkEach10k maps a field over 10,000 items with each().
func BenchmarkEach10k(b *testing.B) {
	e := New(Options{MaxStateBytes: 64 << 20, MaxInputBytes: 64 << 20})
	var sb strings.Builder
	sb.WriteString(`{"data":{"items":[`)
	for i := 0; i < 10000; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"id":%d,"name":"item %d"}`, i, i)
	}
	sb.WriteString(`]}}`)
	in := json.RawMessage(sb.String())
	job := &config.Job{Key: "each", Adaptor: "common", Body: `
fn(s => ({ ...s, names: [] }));
each('$.data.items[*]', fn(s => { s.names.push(s.data.name.toUpperCase()); return s; }));
fn(s => ({ count: s.names.length }));`}
	res := e.RunJob(context.Background(), job, config.CompatLightning, in, RunRequest{})
	if res.Status != StatusSuccess || string(res.State) != `{"count":10000}` {
		b.Fatalf("%s %+v", res.State, res.Error)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res := e.RunJob(context.Background(), job, config.CompatLightning, in, RunRequest{}); res.Status != StatusSuccess {
			b.Fatalf("%+v", res.Error)
		}
	}
}
