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

// BenchmarkLargeJSON runs issue 11's large valid bodies (an 8 MB object
// with 500,000 keys, a 2,000,000-element array) as state.data through a
// trivial job in-process: native parse, §2.1 assembly, stringify. It is the
// runtime share of e2e's BenchmarkLargeJSON, small enough to profile.
func BenchmarkLargeJSON(b *testing.B) {
	e := New(Options{MaxStateBytes: 64 << 20, MaxInputBytes: 64 << 20})
	job := &config.Job{Key: "echo", Adaptor: "common", Body: "fn(s => s)"}
	var obj, arr strings.Builder
	obj.WriteString(`{"data":{`)
	for i := 0; i < 500000; i++ {
		if i > 0 {
			obj.WriteByte(',')
		}
		fmt.Fprintf(&obj, `"k%07d":%d`, i, i)
	}
	obj.WriteString(`}}`)
	arr.WriteString(`{"data":[`)
	for i := 0; i < 2000000; i++ {
		if i > 0 {
			arr.WriteByte(',')
		}
		fmt.Fprintf(&arr, "%d", i%1000)
	}
	arr.WriteString(`]}`)
	for _, tc := range []struct{ name, in string }{{"object-500k-keys", obj.String()}, {"array-2M", arr.String()}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.in)))
			for b.Loop() {
				res := e.RunJob(context.Background(), job, config.CompatLightning, json.RawMessage(tc.in), RunRequest{})
				if res.Status != StatusSuccess || len(res.State) < len(tc.in) {
					b.Fatalf("%v, %d bytes", res.Error, len(res.State))
				}
			}
		})
	}
}
