package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/jobmediator/jobmediator/internal/jsonvalue"
)

// The embedded store's run history records are written by hand instead of
// by json.Marshal: every routed run writes one, and reflection plus
// Marshal's compacting of each state (already compact: the sanitizer's
// redaction writes it so) were a fifth of the journal writer's CPU. They
// are still JSON, read back with json.Unmarshal, so a record written by an
// older version reads the same way. encodeRunTest checks that every field
// of Run and StepRecord survives the trip, so a new field cannot be
// silently dropped here.

// appendRun appends r's stored form; r has been through sanitizer.run, so
// its states are nil or compact valid JSON. A step whose output is the
// run's own (the last step's, usually) says so with "outputIsRun" instead
// of holding a second copy: it was a third of a routed run's bytes.
func appendRun(b []byte, r *Run) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, r.ID)
	b = append(b, `,"workflow":`...)
	b = appendString(b, r.Workflow)
	b = appendOptString(b, `,"trigger":`, r.Trigger)
	b = append(b, `,"status":`...)
	b = appendString(b, string(r.Status))
	b = appendOptString(b, `,"transactionId":`, r.TransactionID)
	b = appendOptString(b, `,"parentId":`, r.ParentID)
	b = appendOptString(b, `,"taskId":`, r.TaskID)
	b = appendOptString(b, `,"messageId":`, r.MessageID)
	b = appendOptString(b, `,"version":`, r.Version)
	b = appendOptRaw(b, `,"input":`, r.Input)
	b = appendOptRaw(b, `,"output":`, r.Output)
	if len(r.Steps) > 0 {
		b = append(b, `,"steps":[`...)
		for i := range r.Steps {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendStep(b, &r.Steps[i], r.Output)
		}
		b = append(b, ']')
	}
	b = appendOptString(b, `,"error":`, r.Error)
	b = append(b, `,"started":`...)
	b = appendTime(b, r.Started)
	if !r.Finished.IsZero() {
		b = append(b, `,"finished":`...)
		b = appendTime(b, r.Finished)
	}
	b = appendOptInt(b, `,"attempt":`, r.Attempt)
	b = appendOptInt(b, `,"orchestrations":`, r.Orchestrations)
	return append(b, '}')
}

func appendStep(b []byte, s *StepRecord, runOutput json.RawMessage) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, s.ID)
	b = appendOptString(b, `,"job":`, s.Job)
	b = appendOptString(b, `,"name":`, s.Name)
	b = append(b, `,"status":`...)
	b = appendString(b, string(s.Status))
	b = append(b, `,"started":`...)
	b = appendTime(b, s.Started)
	if !s.Finished.IsZero() {
		b = append(b, `,"finished":`...)
		b = appendTime(b, s.Finished)
	}
	b = appendOptString(b, `,"error":`, s.Error)
	if len(s.Output) > 0 && bytes.Equal(s.Output, runOutput) {
		b = append(b, `,"outputIsRun":true`...)
	} else {
		b = appendOptRaw(b, `,"output":`, s.Output)
	}
	return append(b, '}')
}

// storedRun is how a stored run decodes: Run with steps that may point at
// the run's output.
type storedRun struct {
	Run
	Steps []storedStep `json:"steps,omitempty"`
}

type storedStep struct {
	StepRecord
	OutputIsRun bool `json:"outputIsRun,omitempty"`
}

func decodeRun(data []byte, r *Run) error {
	var sr storedRun
	if err := json.Unmarshal(data, &sr); err != nil {
		return err
	}
	*r = sr.Run
	r.Steps = nil
	if len(sr.Steps) > 0 {
		r.Steps = make([]StepRecord, len(sr.Steps))
		for i, s := range sr.Steps {
			r.Steps[i] = s.StepRecord
			if s.OutputIsRun {
				r.Steps[i].Output = r.Output
			}
		}
	}
	return nil
}

// getRun reads run k from the runs bucket into r.
func getRun(b *bolt.Bucket, k []byte, r *Run) (bool, error) {
	data := b.Get(k)
	if data == nil {
		return false, nil
	}
	if err := decodeRun(data, r); err != nil {
		return true, fmt.Errorf("store: decode run %q: %w", k, err)
	}
	return true, nil
}

// appendSummary is the time index's value (runSummary).
func appendSummary(b []byte, r *Run) []byte {
	b = append(b, `{"w":`...)
	b = appendString(b, r.Workflow)
	b = append(b, `,"s":`...)
	b = appendString(b, string(r.Status))
	b = appendOptString(b, `,"t":`, r.TransactionID)
	b = appendOptString(b, `,"p":`, r.ParentID)
	return append(b, '}')
}

// appendLogLine is one LogLine as json.Marshal writes it.
func appendLogLine(b []byte, l *LogLine) []byte {
	b = append(b, `{"time":`...)
	b = appendTime(b, l.Time)
	b = append(b, `,"level":`...)
	b = appendString(b, l.Level)
	b = appendOptString(b, `,"step":`, l.Step)
	b = append(b, `,"message":`...)
	b = appendString(b, l.Message)
	return append(b, '}')
}

func appendOptString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return appendString(append(b, key...), s)
}

func appendOptRaw(b []byte, key string, v json.RawMessage) []byte {
	if len(v) == 0 {
		return b
	}
	return append(append(b, key...), v...)
}

func appendOptInt(b []byte, key string, n int) []byte {
	if n == 0 {
		return b
	}
	return strconv.AppendInt(append(b, key...), int64(n), 10)
}

// appendTime writes t as time.Time's MarshalJSON does; stored times are
// UTC milliseconds, far inside the years MarshalJSON accepts.
func appendTime(b []byte, t time.Time) []byte { return jsonvalue.AppendTime(b, t) }

// appendString writes s as a JSON string, as json.Marshal does without
// HTML escaping: the record is never embedded in a page.
func appendString(b []byte, s string) []byte { return jsonvalue.AppendString(b, s, false) }

// appendOrchestrations writes a run's orchestration records (sanitised)
// as json.Marshal would, header maps in map order (they are read back into
// maps): the console stores one list per routed run.
func appendOrchestrations(b []byte, os []Orchestration) []byte {
	if os == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range os {
		if i > 0 {
			b = append(b, ',')
		}
		o := &os[i]
		b = append(b, `{"name":`...)
		b = appendString(b, o.Name)
		b = appendOptString(b, `,"step":`, o.Step)
		b = append(b, `,"method":`...)
		b = appendString(b, o.Method)
		b = append(b, `,"url":`...)
		b = appendString(b, o.URL)
		b = appendHeaders(b, `,"requestHeaders":`, o.RequestHeaders)
		b = appendOptString(b, `,"requestBody":`, o.RequestBody)
		b = append(b, `,"requestTime":`...)
		b = appendTime(b, o.RequestTime)
		b = appendOptInt(b, `,"status":`, o.Status)
		b = appendHeaders(b, `,"responseHeaders":`, o.ResponseHeaders)
		b = appendOptString(b, `,"responseBody":`, o.ResponseBody)
		if !o.ResponseTime.IsZero() {
			b = append(b, `,"responseTime":`...)
			b = appendTime(b, o.ResponseTime)
		}
		b = appendOptString(b, `,"error":`, o.Error)
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendHeaders(b []byte, key string, h map[string]string) []byte {
	if len(h) == 0 {
		return b
	}
	b = append(b, key...)
	b = append(b, '{')
	first := true
	for k, v := range h {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, v)
	}
	return append(b, '}')
}

func orchestrationsSizeHint(os []Orchestration) int {
	n := 8
	for _, o := range os {
		n += 256 + len(o.URL) + len(o.RequestBody) + len(o.ResponseBody) + len(o.Error)
		for k, v := range o.RequestHeaders {
			n += len(k) + len(v) + 6
		}
		for k, v := range o.ResponseHeaders {
			n += len(k) + len(v) + 6
		}
	}
	return n
}
