package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/store"
)

// benchStores opens each implementation fresh for a benchmark: the embedded
// file in a temp dir and MongoDB via the package's FerretDB.
func benchStores(b *testing.B) map[string]func(b *testing.B) store.Store {
	return map[string]func(b *testing.B) store.Store{
		"bolt": func(b *testing.B) store.Store {
			s, err := store.Open(context.Background(), store.Config{DataDir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		},
		"mongo": func(b *testing.B) store.Store {
			srv := sharedFerret(b)
			s, err := store.Open(context.Background(), store.Config{MongoURL: srv.URI(), Database: "bench" + randSuffix()})
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
