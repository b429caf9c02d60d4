package workflow

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/mediator"
)

// TestOpenHIMStateIsTheContextAsJSON: state.openhim holds the transaction
// context under its JSON names (empty ones left out, the polling time as
// encoding/json writes it) plus idempotencyKey and rerun.
func TestOpenHIMStateIsTheContextAsJSON(t *testing.T) {
	at := time.Date(2026, 12, 6, 10, 0, 0, 123456789, time.FixedZone("x", 3600))
	for _, tx := range []mediator.TxContext{
		{},
		{TransactionID: "5f0000000000000000000001", ClientID: "c"},
		{TransactionID: "t", ParentID: "p", TaskID: "k", ChannelID: "ch", LastRunAt: "Sun Dec 06 2026", LastRunAtTime: &at},
	} {
		var want map[string]any
		b, _ := json.Marshal(tx)
		_ = json.Unmarshal(b, &want)
		want["idempotencyKey"] = IdempotencyKey(tx, "run-1")
		want["rerun"] = tx.Rerun()
		if got := OpenHIMState(tx, "run-1"); !reflect.DeepEqual(got, want) {
			t.Errorf("OpenHIMState(%+v) = %v, want %v", tx, got, want)
		}
	}
}
