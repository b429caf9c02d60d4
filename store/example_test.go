package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/jobmediator/jobmediator/internal/backoff"
	"github.com/jobmediator/jobmediator/store"
)

// A retry worker: claim due work with a lease, run it, then complete it or
// schedule the next attempt with Backoff; after MaxAttempts the message
// lands in the dead letters.
func Example_retryWorker() {
	dir, _ := os.MkdirTemp("", "jm-example-")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	s, err := store.Open(ctx, store.Config{DataDir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	// The routed request failed transiently: queue it, keyed by the OpenHIM
	// transaction id so a second delivery of the same transaction is ignored.
	msg := &store.Message{Kind: store.KindRetry, Workflow: "fhir-to-dhis2", Lane: "http", MaxAttempts: 2,
		IdempotencyKey: "tx-5f1a", Payload: json.RawMessage(`{"body":{"resourceType":"Patient"}}`)}
	if err := s.Enqueue(ctx, msg); err != nil {
		fmt.Println(err)
	}
	err = s.Enqueue(ctx, &store.Message{Kind: store.KindRetry, Workflow: "fhir-to-dhis2", IdempotencyKey: "tx-5f1a"})
	fmt.Println("second delivery is a duplicate:", errors.Is(err, store.ErrDuplicate))

	now := time.Now()
	for {
		m, err := s.Claim(ctx, "replica-1", time.Minute, now, "http")
		if errors.Is(err, store.ErrNoMessage) {
			break
		}
		// … run the workflow; here DHIS2 keeps answering 503 …
		next := now.Add(backoff.Delay(m.Attempts, time.Second, 5*time.Minute, rand.Float64))
		after, err := s.Fail(ctx, m.ID, "replica-1", "HTTP 503 from DHIS2", next)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("attempt %d: %s\n", after.Attempts, after.Status)
		now = next
	}
	dead, _ := s.ListDead(ctx, 10)
	fmt.Println("dead letters:", len(dead), dead[0].LastError)
	// Output:
	// second delivery is a duplicate: true
	// attempt 1: pending
	// attempt 2: dead
	// dead letters: 1 HTTP 503 from DHIS2
}
