package mediator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"testing"
	"time"
)

// TestAppendResponseMatchesEncodingJSON: AppendResponse writes what
// json.Marshal (escapeHTML) and an Encoder without HTML escaping write,
// for hand-picked envelopes and a few thousand generated ones; where
// encoding/json refuses a timestamp, AppendResponse says so.
func TestAppendResponseMatchesEncodingJSON(t *testing.T) {
	check := func(r *Response) {
		t.Helper()
		for _, html := range []bool{true, false} {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(html)
			wantErr := enc.Encode(r)
			got, ok := AppendResponse([]byte("prefix"), r, html)
			if ok != (wantErr == nil) {
				t.Fatalf("html=%v: ok=%v, encoding/json's error %v (%+v)", html, ok, wantErr, r)
			}
			if !ok {
				if string(got) != "prefix" {
					t.Fatalf("appended %q while refusing", got)
				}
				continue
			}
			if want := "prefix" + string(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))); string(got) != want {
				t.Fatalf("html=%v:\n got %s\nwant %s", html, got, want)
			}
		}
	}
	good := goodResponse()
	check(&good)
	check(&Response{})
	check(&Response{Response: ClientResponse{Headers: map[string]string{}}, Properties: map[string]string{}, Orchestrations: []Orchestration{}})
	check(&Response{Orchestrations: []Orchestration{{Request: &OrchRequest{}, Response: &OrchResponse{}, Error: &Error{}}}})
	check(&Response{Response: ClientResponse{Timestamp: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}})
	check(&Response{Response: ClientResponse{Timestamp: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}})
	check(&Response{Response: ClientResponse{Timestamp: time.Date(2024, 1, 1, 0, 0, 0, 0, time.FixedZone("far", 25*3600))}})
	check(&Response{Orchestrations: []Orchestration{{Request: &OrchRequest{Timestamp: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}}})
	check(&Response{Orchestrations: []Orchestration{{Response: &OrchResponse{Timestamp: time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC)}}}})

	rng := rand.New(rand.NewSource(1))
	texts := []string{"", "a", "<b>&amp;</b>", "line\nbreak\t\"q\" \\", "\u2028\u2029", "é 😀", "\xff\xfe", "\x00\x1f", "x.y", "Content-Type"}
	text := func() string { return texts[rng.Intn(len(texts))] + texts[rng.Intn(len(texts))] }
	strMap := func() map[string]string {
		switch rng.Intn(3) {
		case 0:
			return nil
		case 1:
			return map[string]string{}
		}
		m := map[string]string{}
		for i := rng.Intn(6); i >= 0; i-- {
			m[text()+fmt.Sprint(rng.Intn(3))] = text()
		}
		return m
	}
	zones := []*time.Location{time.UTC, time.FixedZone("p", 5*3600+30*60), time.FixedZone("m", -8*3600)}
	when := func() time.Time {
		if rng.Intn(5) == 0 {
			return time.Time{}
		}
		return time.Date(1990+rng.Intn(60), time.Month(1+rng.Intn(12)), 1+rng.Intn(28), rng.Intn(24), rng.Intn(60), rng.Intn(60), rng.Intn(3)*rng.Intn(1e9), zones[rng.Intn(len(zones))])
	}
	maybeErr := func() *Error {
		if rng.Intn(2) == 0 {
			return nil
		}
		return &Error{Message: text(), Stack: text()}
	}
	for n := 0; n < 3000; n++ {
		r := &Response{URN: text(), Status: text(), Properties: strMap(), Error: maybeErr(),
			Response: ClientResponse{Status: rng.Intn(600) - 10, Headers: strMap(), Body: text(), Timestamp: when()}}
		for i := rng.Intn(4) - 1; i >= 0; i-- {
			o := Orchestration{Name: text(), Group: text(), Error: maybeErr()}
			if rng.Intn(3) > 0 {
				o.Request = &OrchRequest{Host: text(), Port: text(), Path: text(), Headers: strMap(), Querystring: text(), Body: text(), Method: text(), Timestamp: when()}
			}
			if rng.Intn(3) > 0 {
				o.Response = &OrchResponse{Status: rng.Intn(600), Headers: strMap(), Body: text(), Timestamp: when()}
			}
			r.Orchestrations = append(r.Orchestrations, o)
		}
		if rng.Intn(4) == 0 {
			r.Orchestrations = []Orchestration{}
		}
		check(r)
	}
}

func BenchmarkAppendResponse(b *testing.B) {
	r := goodResponse()
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(&r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := AppendResponse(make([]byte, 0, 1024), &r, true); !ok {
				b.Fatal("refused")
			}
		}
	})
}
