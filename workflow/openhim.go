package workflow

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/jobmediator/jobmediator/internal/jsonvalue"
	"github.com/jobmediator/jobmediator/mediator"
)

// Errors of runs started by a person or a schedule; test with errors.Is.
var (
	// ErrBusy: a run of the workflow is already in progress (here or on
	// another replica) and the overlap policy says skip.
	ErrBusy = errors.New("channels: a run of this workflow is already in progress")
	// ErrUnknownWorkflow: no workflow with that key or name.
	ErrUnknownWorkflow = errors.New("channels: no such workflow")
	// ErrBadInput: an explicit cursor, state or replayed window is unusable.
	ErrBadInput = errors.New("channels: bad input")
)

// Completer finishes an asynchronous transaction in OpenHIM
// (PUT /transactions/:id); *mediator.Client satisfies it.
type Completer interface {
	UpdateTransaction(ctx context.Context, id string, update mediator.TransactionUpdate) error
}

// OpenHIMState is state.openhim: the transaction context plus the
// idempotency key jobs should send upstream.
// The keys are TxContext's JSON names, set directly: every routed request
// builds one, and a JSON round trip through the struct cost more than the
// rest of its input state.
func OpenHIMState(tx mediator.TxContext, runID string) map[string]any {
	m := make(map[string]any, 9)
	for _, f := range [...]struct{ key, v string }{
		{"transactionId", tx.TransactionID}, {"parentId", tx.ParentID}, {"taskId", tx.TaskID},
		{"clientId", tx.ClientID}, {"channelId", tx.ChannelID}, {"lastRunAt", tx.LastRunAt},
	} {
		if f.v != "" {
			m[f.key] = f.v
		}
	}
	if tx.LastRunAtTime != nil {
		m["lastRunAtTime"] = tx.LastRunAtTime.Format(time.RFC3339Nano) // as encoding/json writes a time.Time
	}
	m["idempotencyKey"] = IdempotencyKey(tx, runID)
	m["rerun"] = tx.Rerun()
	return m
}

// AppendOpenHIMState appends OpenHIMState(tx, runID) as encoding/json
// writes it without HTML escaping (keys sorted), for input states written
// by hand: a routed request's state.openhim without the map.
// TestAppendOpenHIMState holds it to encoding/json's bytes.
func AppendOpenHIMState(b []byte, tx mediator.TxContext, runID string) []byte {
	sep := byte('{')
	put := func(key, v string) {
		b = append(append(b, sep, '"'), key...)
		b = jsonvalue.AppendString(append(b, '"', ':'), v, false)
		sep = ','
	}
	str := func(key, v string) { // OpenHIMState leaves empty ones out
		if v != "" {
			put(key, v)
		}
	}
	// sorted: channelId clientId idempotencyKey lastRunAt lastRunAtTime
	// parentId rerun taskId transactionId
	str("channelId", tx.ChannelID)
	str("clientId", tx.ClientID)
	put("idempotencyKey", IdempotencyKey(tx, runID))
	str("lastRunAt", tx.LastRunAt)
	if tx.LastRunAtTime != nil {
		b = append(b, sep)
		b = jsonvalue.AppendTime(append(b, `"lastRunAtTime":`...), *tx.LastRunAtTime)
		sep = ','
	}
	str("parentId", tx.ParentID)
	b = strconv.AppendBool(append(b, sep, '"', 'r', 'e', 'r', 'u', 'n', '"', ':'), tx.Rerun())
	str("taskId", tx.TaskID)
	str("transactionId", tx.TransactionID)
	return append(b, '}')
}

// IdempotencyKey is the key jobs should send upstream so that redeliveries
// (our retries, async redelivery after a crash, OpenHIM reruns of the
// original) do not create duplicates: the original transaction's id when
// OpenHIM reruns it, the transaction id when routed, else the run id.
func IdempotencyKey(tx mediator.TxContext, runID string) string {
	switch {
	case tx.ParentID != "":
		return tx.ParentID
	case tx.TransactionID != "":
		return tx.TransactionID
	}
	return runID
}
