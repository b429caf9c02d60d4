package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/store"
)

// benchStores opens each implementation fresh for a benchmark: the embedded
// file in a temp dir and MongoDB via the package's FerretDB.
func benchStores(b *testing.B) map[string]func(b *testing.B) store.Store {
	return benchStoresWith(store.Config{})
}

// benchStoresWith is benchStores with cfg's settings.
func benchStoresWith(cfg store.Config) map[string]func(b *testing.B) store.Store {
	return map[string]func(b *testing.B) store.Store{
		"bolt": func(b *testing.B) store.Store {
			cfg.DataDir = b.TempDir()
			s, err := store.Open(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		},
		"mongo": func(b *testing.B) store.Store {
			srv := sharedFerret(b)
			cfg.MongoURL, cfg.Database = srv.URI(), "bench"+randSuffix()
			s, err := store.Open(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		},
	}
}

func reportOpsPerSec(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "ops/s")
	}
}

// BenchmarkEnqueueClaimComplete is one message's whole life in the queue:
// enqueue, claim with a lease, complete.
func BenchmarkEnqueueClaimComplete(b *testing.B) {
	for _, name := range []string{"bolt", "mongo"} {
		b.Run(name, func(b *testing.B) {
			s := benchStores(b)[name](b)
			ctx := context.Background()
			payload := json.RawMessage(`{"body":{"resourceType":"Patient","id":"p1"},"headers":{"content-type":"application/fhir+json"}}`)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m := &store.Message{Kind: store.KindRetry, Workflow: "wf", Payload: payload, IdempotencyKey: fmt.Sprintf("tx-%d", i)}
				if err := s.Enqueue(ctx, m); err != nil {
					b.Fatal(err)
				}
				got, err := s.Claim(ctx, "bench", time.Minute, time.Now().Add(time.Second))
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Complete(ctx, got.ID, "bench"); err != nil {
					b.Fatal(err)
				}
			}
			reportOpsPerSec(b)
		})
	}
}

// BenchmarkCreateRun stores a finished run with a ~1 KiB input and output
// and two steps (redaction and the size cap included).
func BenchmarkCreateRun(b *testing.B) {
	input := json.RawMessage(fmt.Sprintf(`{"data":{"entry":[%s{"id":"last"}]}}`, repeat(`{"id":"abcdefgh","value":12345},`, 30)))
	for _, name := range []string{"bolt", "mongo"} {
		b.Run(name, func(b *testing.B) {
			s := benchStores(b)[name](b)
			ctx := context.Background()
			start := time.Now()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r := &store.Run{Workflow: "wf", Trigger: "openhim", Status: store.RunSuccess,
					TransactionID: fmt.Sprintf("tx-%d", i), Input: input, Output: input,
					Started: start.Add(time.Duration(i) * time.Millisecond), Finished: start.Add(time.Duration(i)*time.Millisecond + time.Second),
					Steps: []store.StepRecord{
						{ID: "a", Status: store.RunSuccess, Started: start},
						{ID: "b", Status: store.RunSuccess, Started: start},
					}}
				if err := s.CreateRun(ctx, r); err != nil {
					b.Fatal(err)
				}
			}
			reportOpsPerSec(b)
		})
	}
}

func repeat(s string, n int) string {
	out := ""
	for i := 0; i < n; i++ {
		out += s
	}
	return out
}

// routedInput and routedOutput are the states of one hello-upstream routed
// run (bench/routed.go's body, posted on and answered by the records API).
var (
	routedInput  = json.RawMessage(`{"data":{"resourceType":"Patient","id":"p-1","name":[{"family":"Doe","given":["Jane"]}],"gender":"female","birthDate":"1990-01-01"},"openhim":{"transactionId":"6a1b2c3d4e5f60718293a4b5","method":"POST","path":"/hello","headers":{"content-type":"application/json","x-openhim-transactionid":"6a1b2c3d4e5f60718293a4b5"}}}`)
	routedOutput = json.RawMessage(`{"data":{"id":"rec-1","status":"created"},"references":[{"resourceType":"Patient","id":"p-1","name":[{"family":"Doe","given":["Jane"]}],"gender":"female","birthDate":"1990-01-01"}],"response":{"url":"http://127.0.0.1:40123/records","method":"POST","statusCode":201,"statusMessage":"Created","headers":{"content-type":"application/json","content-length":"34"},"duration":1}}`)
)

// routedOrchestration is the console's record of a routed run's one call.
func routedOrchestration(t time.Time) []store.Orchestration {
	return []store.Orchestration{{Name: "POST /records", Step: "post-to-upstream", Method: "POST", URL: "http://127.0.0.1:40123/records",
		RequestHeaders: map[string]string{"Content-Type": "application/json", "Authorization": "Basic dXNlcjpwYXNz"},
		RequestBody:    `{"resourceType":"Patient","id":"p-1","name":[{"family":"Doe","given":["Jane"]}],"gender":"female","birthDate":"1990-01-01"}`,
		RequestTime:    t, Status: 201, ResponseHeaders: map[string]string{"Content-Type": "application/json", "Content-Length": "34"},
		ResponseBody: `{"id":"rec-1","status":"created"}`, ResponseTime: t.Add(time.Millisecond)}}
}

// routedRun builds what workflow.History records for one routed run: the
// states cleaned by the run's redactor on the journal's writer (as
// historyRun does, so it is recorded with RecordCleanRunFunc), one step,
// two log lines.
func routedRun(red *redact.Redactor, id string, i int, start time.Time) func() (*store.Run, []store.LogLine) {
	return func() (*store.Run, []store.LogLine) {
		out := red.JSON(routedOutput)
		r := &store.Run{ID: id, Workflow: "hello-upstream", Trigger: "webhook", Status: store.RunSuccess,
			TransactionID: fmt.Sprintf("tx-%d", i), Input: red.JSON(routedInput), Output: out,
			Started: start, Finished: start.Add(3 * time.Millisecond), Orchestrations: 1,
			Steps: []store.StepRecord{{ID: "post-to-upstream", Name: "post to upstream", Status: store.RunSuccess,
				Started: start, Finished: start.Add(2 * time.Millisecond), Output: out}}}
		return r, []store.LogLine{
			{Time: start, Level: "info", Step: "post-to-upstream", Message: "POST http://127.0.0.1:40123/records - 201 in 1ms"},
			{Time: start, Level: "info", Step: "post-to-upstream", Message: "post-to-upstream succeeded"},
		}
	}
}

// BenchmarkRecordRoutedRun records routed runs' history (and the
// console's record of their call upstream) through the journal from 16
// goroutines, as the daemon does under 16 connections.
// "paced" offers 1,200 runs/s (what the routed bench reaches in process):
// its figure is the process's CPU time per run (user+sys, the writer's
// commits and fsyncs included), which is what history takes from the
// requests when the server has one core. "flat" records as fast as it
// can (throughput, and allocations per run). Both end when every run is
// durable. linger=0 commits as soon as the writer is free (the journal
// before it lingered), linger=default is the store's default.
func BenchmarkRecordRoutedRun(b *testing.B) {
	lingers := []struct {
		name string
		d    time.Duration
	}{{"linger=0", -1}, {"linger=default", 0}}
	for _, name := range []string{"bolt", "mongo"} {
		for _, mode := range []string{"paced", "flat"} {
			for _, l := range lingers {
				b.Run(name+"/"+mode+"/"+l.name, func(b *testing.B) {
					s := benchStoresWith(store.Config{HistoryLinger: l.d})[name](b)
					ctx := context.Background()
					base := redact.New()
					start := time.Now()
					var failed atomic.Value
					onErr := func(err error) { failed.Store(err) }
					const writers = 16
					const rate = 1200 // runs/s, all writers together
					var next atomic.Int64
					cpu0 := cpuTime()
					b.ResetTimer()
					var wg sync.WaitGroup
					for w := 0; w < writers; w++ {
						wg.Add(1)
						go func() {
							defer wg.Done()
							red := base.Clone()
							t := time.Now()
							for {
								i := int(next.Add(1))
								if i > b.N {
									return
								}
								id := store.NewID()
								if err := store.RecordCleanRunFunc(ctx, s, routedRun(red, id, i, start), onErr); err != nil {
									failed.Store(err)
									return
								}
								// the console's record of the run's call upstream
								if err := s.PutOrchestrations(ctx, id, routedOrchestration(start)); err != nil {
									failed.Store(err)
									return
								}
								if mode == "paced" {
									t = t.Add(writers * time.Second / rate)
									time.Sleep(time.Until(t))
								}
							}
						}()
					}
					wg.Wait()
					if _, err := s.ListRuns(ctx, store.RunFilter{Limit: 1}); err != nil { // waits for the journal
						b.Fatal(err)
					}
					b.StopTimer()
					if err, _ := failed.Load().(error); err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/run")
					reportOpsPerSec(b)
				})
			}
		}
	}
}
