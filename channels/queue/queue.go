// Package queue is durable asynchronous work: async requests accepted with
// 202 and retries of transient failures, stored before anyone is told
// "accepted" and run by workers through the same workflow.Executor as every
// other run. Several replicas may share one store: a message is claimed
// with a lease, a crashed replica's lease expires, attempts back off, and a
// message that keeps failing moves to the dead letters. The queue knows no
// HTTP; completing an OpenHIM transaction is one PUT through a Completer.
package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/backoff"
	"github.com/jobmediator/jobmediator/internal/service"
	"github.com/jobmediator/jobmediator/mediator"
	"github.com/jobmediator/jobmediator/store"
	"github.com/jobmediator/jobmediator/workflow"
)

// Item is a message payload: everything needed to run the workflow again
// later, on any replica. It holds no credentials (resolved by key at run
// time) and the caller's secrets never entered the input state.
type Item struct {
	Trigger string             `json:"trigger"`
	Input   json.RawMessage    `json:"input"`
	Tx      mediator.TxContext `json:"tx"`
	// Complete asks for PUT /transactions/:id with the final result: async
	// transactions and retried transactions are finished this way.
	Complete bool `json:"complete"`
}

// Options configure the queue and its workers.
type Options struct {
	// Store makes the work durable; nil turns the queue off (Durable is
	// false, Start runs no workers and retries are not queued).
	Store store.Store
	// Completer finishes routed transactions when their queued work ends.
	Completer workflow.Completer
	Owner     string        // this replica's name; default a random id
	Workers   int           // concurrent claims; default 4
	Lease     time.Duration // claim lease, extended while running; default 60s
	Poll      time.Duration // idle poll interval; default 250ms
	// Dead is told when a message moves to the dead letters (notifications);
	// nil is fine.
	Dead func(workflow, reason string)
}

// Queue stores work and runs it with workers.
type Queue struct {
	x    *workflow.Executor
	o    Options
	loop service.Loop
}

// New applies defaults; the workers start with Start.
func New(x *workflow.Executor, o Options) *Queue {
	if o.Owner == "" {
		o.Owner = "jm-" + x.NewID()
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Lease <= 0 {
		o.Lease = 60 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = 250 * time.Millisecond
	}
	return &Queue{x: x, o: o}
}

// Durable reports whether work is stored (a store is configured).
func (q *Queue) Durable() bool { return q.o.Store != nil }

// Enqueue stores a run to be done by a worker; a message with the same
// idempotency key already queued is store.ErrDuplicate.
func (q *Queue) Enqueue(ctx context.Context, kind store.MessageKind, id string, wf *config.Workflow, it Item, due time.Time, key string) error {
	_, err := q.enqueue(ctx, kind, id, wf, it, due, key)
	return err
}

// Duplicate is async work already accepted under the same idempotency key
// (an OpenHIM transaction id).
type Duplicate struct {
	ID   string // the message id, which is the run id its 202 named
	Item Item
}

// EnqueueOnce is Enqueue for work that may be sent twice: when the key is
// already queued it returns what was accepted then, so the caller can tell
// a redelivery (same body) from a different request reusing the key.
func (q *Queue) EnqueueOnce(ctx context.Context, kind store.MessageKind, id string, wf *config.Workflow, it Item, due time.Time, key string) (*Duplicate, error) {
	m, err := q.enqueue(ctx, kind, id, wf, it, due, key)
	if !errors.Is(err, store.ErrDuplicate) {
		return nil, err
	}
	prev, gerr := q.o.Store.GetMessage(ctx, m.ID)
	if gerr != nil {
		return nil, err
	}
	d := &Duplicate{ID: prev.ID}
	if uerr := json.Unmarshal(prev.Payload, &d.Item); uerr != nil {
		return nil, err
	}
	return d, nil
}

func (q *Queue) enqueue(ctx context.Context, kind store.MessageKind, id string, wf *config.Workflow, it Item, due time.Time, key string) (*store.Message, error) {
	payload, err := json.Marshal(it)
	if err != nil {
		return nil, err
	}
	max := wf.Options.Retry.MaxAttempts
	if max <= 0 {
		max = 1 // async work with retries disabled still runs once
	}
	lane := wf.Options.Lane
	if lane == "" {
		lane = "routed"
	}
	m := &store.Message{
		ID: id, Kind: kind, Workflow: wf.Key, Lane: lane, Payload: payload,
		IdempotencyKey: key, MaxAttempts: max, Due: due,
	}
	return m, q.o.Store.Enqueue(ctx, m)
}

// RetryLater queues a transient failure of a synchronous run for our own
// retry (with backoff), unless the workflow disables retries.
func (q *Queue) RetryLater(ctx context.Context, wf *config.Workflow, tx mediator.TxContext, input json.RawMessage, log *logrus.Entry) {
	p := wf.Options.Retry
	if q.o.Store == nil || p.MaxAttempts <= 0 {
		return
	}
	key := "retry:" + workflow.IdempotencyKey(tx, "")
	if !tx.Routed() {
		key = "" // direct callers get their answer; nothing to finish later
	}
	due := q.x.Now().Add(backoff.Delay(1, p.InitialBackoff, p.MaxBackoff, rand.Float64))
	err := q.Enqueue(ctx, store.KindRetry, q.x.NewID(), wf, Item{Trigger: workflow.Webhook(wf).Kind, Input: input, Tx: tx, Complete: tx.Routed()}, due, key)
	switch {
	case errors.Is(err, store.ErrDuplicate):
		log.Info("retry already queued for this transaction")
	case err != nil:
		log.WithError(err).Error("could not queue the retry")
	default:
		log.WithField("due", due.UTC().Format(time.RFC3339)).Info("transient failure queued for retry")
	}
}

// Start runs queued messages (async work and retries) with Workers workers
// until Stop is called or ctx ends. Without a store it starts nothing.
func (q *Queue) Start(ctx context.Context) error {
	if q.o.Store == nil {
		return nil
	}
	q.loop.Go(ctx, func(ctx context.Context) {
		var wg sync.WaitGroup
		for i := 0; i < q.o.Workers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				q.work(ctx)
			}()
		}
		wg.Wait()
	})
	return nil
}

// Stop tells the workers to stop claiming and waits until the runs they
// hold have finished, or ctx ends.
func (q *Queue) Stop(ctx context.Context) error { return q.loop.Stop(ctx) }

// work claims and runs messages until ctx ends.
func (q *Queue) work(ctx context.Context) {
	for ctx.Err() == nil {
		m, err := q.o.Store.Claim(ctx, q.o.Owner, q.o.Lease, q.x.Now())
		if err != nil {
			if !errors.Is(err, store.ErrNoMessage) && ctx.Err() == nil {
				q.x.Logger().WithError(err).Warn("queue: claim failed")
			}
			select {
			case <-ctx.Done():
			case <-time.After(q.o.Poll):
			}
			continue
		}
		q.Process(ctx, m)
	}
}

// Process runs one message claimed as Options.Owner to an outcome: done,
// retry later, or dead. Workers call it for every claim.
func (q *Queue) Process(ctx context.Context, m *store.Message) {
	log := q.x.Logger().WithFields(logrus.Fields{"message": m.ID, "workflow": m.Workflow, "attempt": m.Attempts, "kind": m.Kind})
	var it Item
	if err := json.Unmarshal(m.Payload, &it); err != nil {
		q.dead(ctx, m, "payload is not valid: "+err.Error(), log)
		return
	}
	log = log.WithField("transaction", it.Tx.TransactionID)
	wf := q.x.Project().Workflow(m.Workflow)
	if wf == nil {
		q.dead(ctx, m, "workflow "+m.Workflow+" is not in the project any more", log)
		return
	}
	if q.supersededByRerun(ctx, m, it) {
		if err := q.o.Store.Complete(ctx, m.ID, q.o.Owner); err != nil {
			log.WithError(err).Warn("queue: could not mark the message done")
		}
		log.Info("queue: retry skipped: an OpenHIM rerun of this transaction already succeeded")
		return
	}
	// Keep the lease while the run lasts, so no other replica takes it.
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	go func() {
		t := time.NewTicker(q.o.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
				if err := q.o.Store.ExtendLease(runCtx, m.ID, q.o.Owner, q.o.Lease, q.x.Now()); err != nil {
					log.WithError(err).Warn("queue: lease lost while running")
				}
			}
		}
	}()
	t := workflow.Webhook(wf)
	t.Kind = it.Trigger
	in := workflow.Input{State: it.Input, Tx: it.Tx, Log: log}
	if m.Kind == store.KindAsync && m.Attempts <= 1 {
		// The 202 named this message's id as the run id: the first
		// attempt is recorded under it, so GET /api/runs/{id} finds it.
		// Retries are runs of their own (listed by ?transaction=).
		in.RunID = m.ID
	}
	out, err := q.x.Run(runCtx, t, in)
	stop()
	if err != nil {
		q.dead(ctx, m, err.Error(), log)
		return
	}
	res := out.Result
	transient := out.Transient()
	if transient && m.Attempts < maxAttempts(m) {
		p := wf.Options.Retry
		next := q.x.Now().Add(backoff.Delay(m.Attempts, p.InitialBackoff, p.MaxBackoff, rand.Float64))
		if _, err := q.o.Store.Fail(ctx, m.ID, q.o.Owner, res.Error.Message, next); err != nil {
			log.WithError(err).Warn("queue: could not schedule the retry")
		} else {
			log.WithField("due", next.UTC().Format(time.RFC3339)).Info("queue: transient failure, retrying later")
		}
		return
	}
	if transient {
		q.dead(ctx, m, fmt.Sprintf("gave up after %d attempts: %s", m.Attempts, res.Error.Message), log)
	} else if err := q.o.Store.Complete(ctx, m.ID, q.o.Owner); err != nil {
		log.WithError(err).Warn("queue: could not mark the message done")
		return
	}
	q.finish(ctx, it, out.Envelope, log)
}

// supersededByRerun reports whether an operator already reran the failed
// transaction from the OpenHIM console and that rerun succeeded: our own
// retry would then deliver the same data a second time.
func (q *Queue) supersededByRerun(ctx context.Context, m *store.Message, it Item) bool {
	if m.Kind != store.KindRetry || it.Tx.TransactionID == "" {
		return false
	}
	runs, err := q.o.Store.ListRuns(ctx, store.RunFilter{ParentID: it.Tx.TransactionID, Status: store.RunSuccess, Limit: 1})
	return err == nil && len(runs) > 0
}

func maxAttempts(m *store.Message) int {
	if m.MaxAttempts > 0 {
		return m.MaxAttempts
	}
	return store.DefaultMaxAttempts
}

func (q *Queue) dead(ctx context.Context, m *store.Message, reason string, log *logrus.Entry) {
	if err := q.o.Store.DeadLetter(ctx, m.ID, q.o.Owner, reason); err != nil {
		log.WithError(err).Warn("queue: could not dead-letter")
		return
	}
	log.WithField("reason", reason).Error("queue: message moved to dead letters")
	if q.o.Dead != nil {
		q.o.Dead(m.Workflow, reason)
	}
}

// finish reports the final result of queued work to OpenHIM.
func (q *Queue) finish(ctx context.Context, it Item, env *mediator.Response, log *logrus.Entry) {
	if !it.Complete || !it.Tx.Routed() || q.o.Completer == nil || env == nil {
		return
	}
	if err := q.o.Completer.UpdateTransaction(ctx, it.Tx.TransactionID, mediator.Completion(env)); err != nil {
		log.WithError(err).Error("could not complete the OpenHIM transaction")
	}
}
