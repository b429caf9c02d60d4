package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jobmediator/jobmediator/internal/ferret"
	"github.com/jobmediator/jobmediator/store"
)

// StoreRow is one store implementation's throughput.
type StoreRow struct {
	Store   string `json:"store"`
	Writes  Figure `json:"historyWritesPerSec"`       // through the journal (group commit)
	Direct  Figure `json:"historyDirectWritesPerSec"` // CreateRun + AppendLogs, a commit each
	Enqueue Figure `json:"enqueuesPerSec"`
	Claims  Figure `json:"claimsPerSec"`
}

// benchRun is a routed run as history stores it: ~0.5 KiB input and
// output, one step, two log lines.
func benchRun(i int) (*store.Run, []store.LogLine) {
	now := time.Now().UTC()
	state := json.RawMessage(`{"data":{"resourceType":"Patient","id":"p-1","name":[{"family":"Doe","given":["Jane"]}],"gender":"female","birthDate":"1990-01-01"},"request":{"method":"POST","path":"/hello","headers":{"content-type":"application/json"}}}`)
	r := &store.Run{ID: store.NewID(), Workflow: "hello-upstream", Trigger: "webhook", Status: store.RunSuccess,
		TransactionID: fmt.Sprintf("tx-%d", i), Input: state, Output: state, Started: now, Finished: now.Add(time.Millisecond),
		Steps: []store.StepRecord{{ID: "post-to-upstream", Job: "post-to-upstream", Status: store.RunSuccess, Started: now, Finished: now, Output: state}}}
	logs := []store.LogLine{
		{Time: now, Level: "info", Step: "post-to-upstream", Message: "POST http://127.0.0.1/records - 200"},
		{Time: now, Level: "info", Step: "post-to-upstream", Message: "step finished"},
	}
	return r, logs
}

// claimDepth is how many messages wait when claims are measured.
const claimDepth = 300

// parallel runs op from n goroutines for d and returns operations/s.
func parallel(n int, d time.Duration, op func(i int) error) (float64, error) {
	var count atomic.Int64
	var firstErr error
	var once sync.Once
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				i := int(count.Add(1))
				if err := op(i); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(count.Load()) / time.Since(start).Seconds(), firstErr
}

// Stores measures bbolt and MongoDB (the embedded FerretDB): history
// writes (a finished run and its log lines, as run history records them)
// and enqueues from 16 writers, claims (claim + complete) from 4 workers.
func (cfg *Config) Stores() ([]StoreRow, error) {
	ctx := context.Background()
	fdir := filepath.Join(cfg.WorkDir, "ferret")
	if err := os.MkdirAll(fdir, 0o700); err != nil {
		return nil, err
	}
	fsrv, err := ferret.New(fdir)
	if err != nil {
		return nil, fmt.Errorf("ferret: %w", err)
	}
	defer fsrv.Stop()
	open := map[string]func(rep int) (store.Store, error){
		"bbolt": func(rep int) (store.Store, error) {
			return store.Open(ctx, store.Config{DataDir: filepath.Join(cfg.WorkDir, fmt.Sprintf("bolt%d", rep))})
		},
		"mongo (FerretDB)": func(rep int) (store.Store, error) {
			return store.Open(ctx, store.Config{MongoURL: fsrv.URI(), Database: fmt.Sprintf("bench%d", rep)})
		},
	}
	var rows []StoreRow
	for _, name := range []string{"bbolt", "mongo (FerretDB)"} {
		var w, d, e, c []float64
		for rep := 0; rep < cfg.Repeats; rep++ {
			st, err := open[name](rep)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			// one transaction per call, as history was written before the journal
			ds, err := parallel(16, cfg.StoreDuration, func(i int) error {
				r, logs := benchRun(i)
				if err := st.CreateRun(ctx, r); err != nil {
					return err
				}
				return st.AppendLogs(ctx, r.ID, logs)
			})
			if err != nil {
				st.Close()
				return nil, fmt.Errorf("%s: history write: %w", name, err)
			}
			// the journal: queued, group-committed; timed until the last
			// one is durable (ListRuns waits for the queue)
			t0 := time.Now()
			var n atomic.Int64
			var recErr atomic.Value
			_, err = parallel(16, cfg.StoreDuration, func(i int) error {
				r, logs := benchRun(i)
				n.Add(1)
				return store.RecordRun(ctx, st, r, logs, func(err error) { recErr.Store(err) })
			})
			if err == nil {
				_, err = st.ListRuns(ctx, store.RunFilter{Limit: 1})
			}
			if e, _ := recErr.Load().(error); err == nil && e != nil {
				err = e
			}
			if err != nil {
				st.Close()
				return nil, fmt.Errorf("%s: history write (journal): %w", name, err)
			}
			ws := float64(n.Load()) / time.Since(t0).Seconds()
			es, err := parallel(16, cfg.StoreDuration, func(i int) error {
				return st.Enqueue(ctx, &store.Message{Kind: store.KindAsync, Workflow: "hello-upstream", Lane: "http",
					Payload: json.RawMessage(`{"body":{"id":"p-1"}}`), IdempotencyKey: fmt.Sprintf("tx-%d", i)})
			})
			if err != nil {
				st.Close()
				return nil, fmt.Errorf("%s: enqueue: %w", name, err)
			}
			st.Close()
			// claims on a fresh store holding claimDepth messages, so both
			// stores are measured at the same queue depth
			cst, err := open[name](rep + 1000)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			for i := 0; i < claimDepth; i++ {
				if err := cst.Enqueue(ctx, &store.Message{Kind: store.KindAsync, Workflow: "hello-upstream", Lane: "http",
					Payload: json.RawMessage(`{"body":{"id":"p-1"}}`), IdempotencyKey: fmt.Sprintf("c-%d", i)}); err != nil {
					cst.Close()
					return nil, fmt.Errorf("%s: enqueue: %w", name, err)
				}
			}
			var claimed atomic.Int64
			t1 := time.Now()
			_, err = parallel(4, 10*time.Minute, func(int) error {
				m, err := cst.Claim(ctx, "bench", time.Minute, time.Now().Add(time.Second))
				if err != nil {
					return err
				}
				claimed.Add(1)
				return cst.Complete(ctx, m.ID, "bench")
			})
			cs := float64(claimed.Load()) / time.Since(t1).Seconds()
			cst.Close()
			if err != nil && !errors.Is(err, store.ErrNoMessage) {
				return nil, fmt.Errorf("%s: claim: %w", name, err)
			}
			w, d, e, c = append(w, ws), append(d, ds), append(e, es), append(c, cs)
			cfg.progress("store %-16s history writes %7.0f/s (one commit each %7.0f/s) enqueues %7.0f/s claims %7.0f/s", name, ws, ds, es, cs)
		}
		rows = append(rows, StoreRow{Store: name, Writes: figure("/s", w), Direct: figure("/s", d), Enqueue: figure("/s", e), Claims: figure("/s", c)})
	}
	return rows, nil
}
