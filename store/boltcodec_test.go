package store

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// fillAll sets every field of the struct v points to (recursively into
// slices of structs) to a non-zero value, so a field the hand-written
// encoder forgets shows up as a difference.
func fillAll(t *testing.T, v reflect.Value, n *int) {
	t.Helper()
	*n++
	switch v.Kind() {
	case reflect.Pointer:
		fillAll(t, v.Elem(), n)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 3, 1, 10, 0, *n, *n*int(time.Millisecond), time.UTC)))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			fillAll(t, v.Field(i), n)
		}
	case reflect.String:
		v.SetString("s\"\\\n\t\x01<é>\u2028" + string(rune('a'+*n%26)))
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for i := 0; i < 2; i++ {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fillAll(t, k, n)
			fillAll(t, e, n)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Slice:
		if v.Type() == reflect.TypeFor[json.RawMessage]() {
			v.SetBytes([]byte(`{"n":` + string(rune('0'+*n%10)) + `,"a":["x",null,true,1.5e3]}`))
			return
		}
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			fillAll(t, s.Index(i), n)
		}
		v.Set(s)
	default:
		t.Fatalf("fillAll: no value for a %s field: teach the test (and appendRun) about it", v.Type())
	}
}

// TestRunCodecKeepsEveryField: a run with every field set, written by
// appendRun, reads back equal to what json.Marshal and json.Unmarshal
// give; a step sharing the run's output reads it back; a record written
// by json.Marshal (older versions) decodes the same.
func TestRunCodecKeepsEveryField(t *testing.T) {
	var r Run
	n := 0
	fillAll(t, reflect.ValueOf(&r), &n)
	r.Steps[1].Output = r.Output
	enc := appendRun(nil, &r)
	if !json.Valid(enc) {
		t.Fatalf("appendRun wrote invalid JSON: %s", enc)
	}
	var got Run
	if err := decodeRun(enc, &got); err != nil {
		t.Fatal(err)
	}
	std, err := json.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	var want Run
	if err := json.Unmarshal(std, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip through appendRun:\n got %+v\nwant %+v", got, want)
	}
	var old Run
	if err := decodeRun(std, &old); err != nil || !reflect.DeepEqual(old, want) {
		t.Fatalf("a record written by json.Marshal: %+v, %v", old, err)
	}
	// the shared output is written once
	var raw map[string]any
	if err := json.Unmarshal(enc, &raw); err != nil {
		t.Fatal(err)
	}
	steps := raw["steps"].([]any)
	if _, has := steps[1].(map[string]any)["output"]; has || steps[1].(map[string]any)["outputIsRun"] != true {
		t.Fatalf("a step sharing the run's output: %v", steps[1])
	}
	// and a run with only the required fields
	min := Run{ID: "r", Workflow: "w", Status: RunPending, Started: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	if err := decodeRun(appendRun(nil, &min), &got); err != nil || !reflect.DeepEqual(got, min) {
		t.Fatalf("minimal run: %+v, %v", got, err)
	}
}

// TestOrchestrationCodecKeepsEveryField: orchestration records written by
// appendOrchestrations read back as json.Marshal's do, every field set.
func TestOrchestrationCodecKeepsEveryField(t *testing.T) {
	var os []Orchestration
	n := 0
	fillAll(t, reflect.ValueOf(&os).Elem(), &n)
	for _, in := range [][]Orchestration{os, {}, nil, {{Name: "bare", Method: "GET", URL: "http://x/"}}} {
		enc := appendOrchestrations(nil, in)
		var got, want []Orchestration
		if err := json.Unmarshal(enc, &got); err != nil {
			t.Fatalf("appendOrchestrations wrote %s: %v", enc, err)
		}
		std, _ := json.Marshal(in)
		_ = json.Unmarshal(std, &want)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
		}
	}
}

// TestAppendStringMatchesMarshal: the strings appendString writes decode
// to what json.Marshal's do (invalid UTF-8 becomes U+FFFD in both).
func TestAppendStringMatchesMarshal(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\s`, "\x00\x1f\x7f", "\n\r\t\b\f", "é日本\U0001F600", "bad\xffutf8\xc3", "\u2028\u2029", "</script>&"} {
		enc := appendString(nil, s)
		var got string
		if err := json.Unmarshal(enc, &got); err != nil {
			t.Fatalf("%q: %s is not a JSON string: %v", s, enc, err)
		}
		std, _ := json.Marshal(s)
		var want string
		_ = json.Unmarshal(std, &want)
		if got != want {
			t.Fatalf("%q: reads back %q, json.Marshal's %q", s, got, want)
		}
	}
}

// TestLogsOfBothLayouts: a database written before log lines were stored
// a run's at a time (one key per line) reads in order alongside new ones.
func TestLogsOfBothLayouts(t *testing.T) {
	s, err := Open(context.Background(), Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	bs := s.(*journal).Store.(*boltStore)
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	err = bs.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bLogs)
		for _, m := range []string{"old 1", "old 2"} {
			seq, _ := b.NextSequence()
			if err := putJSON(b, logKey("r1", seq), LogLine{Time: t0, Level: "info", Message: m}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := []LogLine{{Time: t0, Level: "info", Step: "a", Message: "new 1"}, {Time: t0, Level: "warn", Message: "new 2"}}
	if err := s.AppendLogs(context.Background(), "r1", lines); err != nil {
		t.Fatal(err)
	}
	got, err := s.Logs(context.Background(), "r1")
	if err != nil {
		t.Fatal(err)
	}
	want := []LogLine{{Time: t0, Level: "info", Message: "old 1"}, {Time: t0, Level: "info", Message: "old 2"}, lines[0], lines[1]}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("logs = %+v, want %+v", got, want)
	}
}
