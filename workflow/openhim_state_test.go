package workflow

import (
	"bytes"
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

// TestAppendOpenHIMState: the hand-written state.openhim is encoding/json's
// encoding of OpenHIMState without HTML escaping, byte for byte.
func TestAppendOpenHIMState(t *testing.T) {
	at := time.Date(2026, 12, 6, 10, 0, 0, 123456789, time.FixedZone("x", 3600))
	for _, tx := range []mediator.TxContext{
		{},
		{TransactionID: "5f0000000000000000000001", ClientID: "c<&>"},
		{TransactionID: "t", ParentID: "p", TaskID: "k", ChannelID: "ch\u2028", LastRunAt: "Sun Dec 06 2026 \"x\"", LastRunAtTime: &at},
		{ParentID: "p\xff", ClientID: "é"},
	} {
		for _, runID := range []string{"", "run-1"} {
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(OpenHIMState(tx, runID)); err != nil {
				t.Fatal(err)
			}
			if got := AppendOpenHIMState(nil, tx, runID); string(got)+"\n" != want.String() {
				t.Errorf("%+v %q:\n got %s\nwant %s", tx, runID, got, want.String())
			}
		}
	}
}
