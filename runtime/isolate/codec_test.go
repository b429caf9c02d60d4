package isolate

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/runtime"
)

// viaJSON is what a value looked like after the JSON headers this codec
// replaced: the codec must hand the mediator the same.
func viaJSON[T any](t *testing.T, v T) T {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

var (
	plus1   = time.FixedZone("CET", 3600)
	instant = time.Date(2026, 12, 6, 23, 30, 1, 123456789, time.UTC)
)

func TestCodecMatchesJSONRoundTrip(t *testing.T) {
	hdr := http.Header{"Content-Type": {"application/json"}, "X-Two": {"a", "b"}, "X-None": {}}
	exchanges := []recorder.Exchange{
		{Name: "POST /records", Step: "post", Request: recorder.ExchangeRequest{Method: "POST", URL: "http://up/records", Header: hdr, Body: `{"a":1}`, Time: instant},
			Response: &recorder.ExchangeResponse{Status: 201, Header: http.Header{}, Body: "ünïcode ✓", Time: instant.In(plus1)}},
		{Name: "GET /x", Request: recorder.ExchangeRequest{Method: "GET", URL: "http://up/x", Time: instant.Local()}, Error: "connection refused"},
		{},
	}
	for i, x := range exchanges {
		got, err := decodeExchange(encodeExchange(x))
		if want := viaJSON(t, x); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("exchange %d: %v\n got %+v\nwant %+v", i, err, got, want)
		}
	}
	for i, l := range []runtime.LogLine{{Time: instant, Level: "info", Step: "a", Message: "hello\x00 ✓"}, {}} {
		got, err := decodeLog(encodeLog(l))
		if want := viaJSON(t, l); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("log %d: %v %+v, want %+v", i, err, got, want)
		}
	}
	for i, m := range []runMsg{{Workflow: 7, Compat: config.CompatLegacy, Trigger: "cron", Start: "b", RunID: "r1", Deadline: instant.In(plus1), Limit: 512 << 20}, {}} {
		got, err := decodeRun(encodeRun(m))
		if want := viaJSON(t, m); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("run %d: %v %+v, want %+v", i, err, got, want)
		}
	}
	fail := &runtime.Error{Name: "AdaptorError", Severity: "fail", Message: "POST returned 500", Step: "b", Line: 3, Column: 9, StatusCode: 500,
		Details: map[string]any{"body": "oops", "n": 2, "list": []any{1, "x"}}}
	for i, d := range []doneMsg{
		{Status: runtime.StatusFailed, Error: fail, Reached: 2, Props: map[string]string{"k": "v"}, Mem: 31 << 20,
			Steps: []runtime.StepResult{{ID: "a", Job: "a", Name: "A", Status: runtime.StatusSuccess, Started: instant, Finished: instant.Add(time.Millisecond)},
				{ID: "b", Job: "b", Name: "B", Status: runtime.StatusFailed, Started: instant.In(plus1), Error: fail}}},
		{Status: runtime.StatusCrashed, Recycle: true, Props: map[string]string{}},
		{},
	} {
		b, err := encodeDone(d)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeDone(b)
		if want := viaJSON(t, d); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("done %d: %v\n got %+v\nwant %+v", i, err, got, want)
		}
	}
}

// A header cut short or garbled is an error, never a panic or a huge
// allocation.
func TestCodecRejectsBrokenHeaders(t *testing.T) {
	x := encodeExchange(recorder.Exchange{Name: "n", Request: recorder.ExchangeRequest{Method: "POST", Header: http.Header{"A": {"b"}}, Body: "body", Time: instant},
		Response: &recorder.ExchangeResponse{Status: 200, Body: "ok"}})
	d, _ := encodeDone(doneMsg{Status: runtime.StatusSuccess, Steps: []runtime.StepResult{{ID: "a", Started: instant}}, Props: map[string]string{"p": "q"},
		Error: &runtime.Error{Name: "E", Message: "m"}})
	decoders := map[string]func([]byte) error{
		"exchange": func(b []byte) error { _, err := decodeExchange(b); return err },
		"done":     func(b []byte) error { _, err := decodeDone(b); return err },
		"log":      func(b []byte) error { _, err := decodeLog(b); return err },
		"run":      func(b []byte) error { _, err := decodeRun(b); return err },
	}
	samples := map[string][]byte{"exchange": x, "done": d, "log": encodeLog(runtime.LogLine{Time: instant, Message: "m"}), "run": encodeRun(runMsg{Workflow: 1, RunID: "r"})}
	rng := rand.New(rand.NewPCG(1, 2))
	for name, b := range samples {
		decode := decoders[name]
		for n := range len(b) {
			if decode(b[:n]) == nil {
				t.Errorf("%s cut to %d of %d bytes decoded without error", name, n, len(b))
			}
		}
		if decode(append(append([]byte(nil), b...), 0)) == nil {
			t.Errorf("%s with a trailing byte decoded without error", name)
		}
		for range 2000 {
			g := append([]byte(nil), b...)
			for range 1 + rng.IntN(3) {
				g[rng.IntN(len(g))] = byte(rng.IntN(256))
			}
			_ = decode(g) // must not panic
		}
		huge := append([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, b...) // a count of 4 G
		_ = decode(huge)
	}
}
