package isolate

import (
	"encoding/binary"
	"encoding/json"
	"net/http"
	"time"

	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/runtime"
)

// The headers of the frames every run sends (run, log, exchange, result)
// are encoded by hand, not as JSON: varints and length-prefixed strings in
// a fixed field order. encoding/json's reflection, time parsing and map
// building on both sides were about a tenth of what isolation cost a
// routed request. Rare headers (hello, workflow, the run context) and
// runtime.Error (only on failure, with free-form details) stay JSON.
// Both ends are the same binary, so there is no versioning; a header that
// does not decode is a broken worker (errFrame).

type enc struct{ b []byte }

func (e *enc) uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) int(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) str(s string) {
	e.uint(uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *enc) strs(ss ...string) {
	for _, s := range ss {
		e.str(s)
	}
}

func (e *enc) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

// time keeps what a JSON round trip keeps: the instant and the offset
// (zero: UTC), not the monotonic reading or the zone's name.
func (e *enc) time(t time.Time) {
	if t.IsZero() {
		e.bool(false)
		return
	}
	e.bool(true)
	_, off := t.Zone()
	e.int(t.UnixNano())
	e.int(int64(off))
}

// header writes nil and empty apart, as JSON does (null, {}).
func (e *enc) header(h http.Header) {
	if h == nil {
		e.uint(0)
		return
	}
	e.uint(uint64(len(h)) + 1)
	for k, vs := range h {
		e.str(k)
		e.uint(uint64(len(vs)))
		for _, v := range vs {
			e.str(v)
		}
	}
}

// rtError is JSON inside the binary header (empty: nil).
func (e *enc) rtError(re *runtime.Error) error {
	if re == nil {
		e.str("")
		return nil
	}
	b, err := json.Marshal(re)
	if err != nil {
		return err
	}
	e.str(string(b))
	return nil
}

type dec struct {
	b   []byte
	bad bool
}

func (d *dec) uint() uint64 { return varint(d, binary.Uvarint) }
func (d *dec) int() int64   { return varint(d, binary.Varint) }

func varint[T int64 | uint64](d *dec, read func([]byte) (T, int)) T {
	v, n := read(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count is a length that the rest of the header must be able to hold
// (each element takes at least a byte), so a bad one cannot make the
// decoder allocate.
func (d *dec) count() int {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.bad = true
		return 0
	}
	return int(n) //nolint:gosec // G115: bounded by len(d.b) above
}

func (d *dec) str() string {
	n := d.count()
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *dec) bool() bool {
	if len(d.b) == 0 || d.b[0] > 1 {
		d.bad = true
		return false
	}
	v := d.b[0] == 1
	d.b = d.b[1:]
	return v
}

func (d *dec) time() time.Time {
	if !d.bool() {
		return time.Time{}
	}
	ns, off := d.int(), d.int()
	t := time.Unix(0, ns)
	switch _, local := t.Zone(); {
	case off == 0:
		return t.UTC()
	case int64(local) == off:
		return t
	default:
		return t.In(time.FixedZone("", int(off)))
	}
}

func (d *dec) header() http.Header {
	n := d.uint()
	if n == 0 {
		return nil
	}
	if n-1 > uint64(len(d.b)) {
		d.bad = true
		return nil
	}
	h := make(http.Header, n-1)
	for i := uint64(1); i < n && !d.bad; i++ {
		k := d.str()
		vs := make([]string, d.count())
		for j := range vs {
			vs[j] = d.str()
		}
		h[k] = vs
	}
	return h
}

func (d *dec) rtError() *runtime.Error {
	s := d.str()
	if s == "" || d.bad {
		return nil
	}
	var re runtime.Error
	if json.Unmarshal([]byte(s), &re) != nil {
		d.bad = true
		return nil
	}
	return &re
}

// done fails with errFrame when the header was malformed or longer than
// what was read.
func (d *dec) done() error {
	if d.bad || len(d.b) != 0 {
		return errFrame
	}
	return nil
}

func encodeRun(m runMsg) []byte {
	var e enc
	e.uint(m.Workflow)
	e.strs(string(m.Compat), m.Trigger, m.Start, m.RunID)
	e.time(m.Deadline)
	e.int(m.Limit)
	return e.b
}

func decodeRun(b []byte) (runMsg, error) {
	d := dec{b: b}
	m := runMsg{Workflow: d.uint(), Compat: config.Compat(d.str()), Trigger: d.str(), Start: d.str(), RunID: d.str(), Deadline: d.time(), Limit: d.int()}
	return m, d.done()
}

func encodeLog(l runtime.LogLine) []byte {
	e := enc{b: make([]byte, 0, 32+len(l.Message))}
	e.time(l.Time)
	e.strs(l.Level, l.Step, l.Message)
	return e.b
}

func decodeLog(b []byte) (runtime.LogLine, error) {
	d := dec{b: b}
	l := runtime.LogLine{Time: d.time(), Level: d.str(), Step: d.str(), Message: d.str()}
	return l, d.done()
}

func encodeExchange(x recorder.Exchange) []byte {
	e := enc{b: make([]byte, 0, 256+len(x.Request.Body))}
	e.strs(x.Name, x.Step, x.Request.Method, x.Request.URL)
	e.header(x.Request.Header)
	e.str(x.Request.Body)
	e.time(x.Request.Time)
	e.bool(x.Response != nil)
	if r := x.Response; r != nil {
		e.int(int64(r.Status))
		e.header(r.Header)
		e.str(r.Body)
		e.time(r.Time)
	}
	e.str(x.Error)
	return e.b
}

func decodeExchange(b []byte) (recorder.Exchange, error) {
	d := dec{b: b}
	x := recorder.Exchange{Name: d.str(), Step: d.str()}
	x.Request = recorder.ExchangeRequest{Method: d.str(), URL: d.str(), Header: d.header(), Body: d.str(), Time: d.time()}
	if d.bool() {
		x.Response = &recorder.ExchangeResponse{Status: int(d.int()), Header: d.header(), Body: d.str(), Time: d.time()}
	}
	x.Error = d.str()
	return x, d.done()
}

func encodeDone(m doneMsg) ([]byte, error) {
	var e enc
	e.str(string(m.Status))
	e.uint(uint64(len(m.Steps)))
	for _, s := range m.Steps {
		e.strs(s.ID, s.Job, s.Name, string(s.Status))
		e.time(s.Started)
		e.time(s.Finished)
		if err := e.rtError(s.Error); err != nil {
			return nil, err
		}
	}
	if err := e.rtError(m.Error); err != nil {
		return nil, err
	}
	if len(m.Props) == 0 { // as JSON's omitempty: none comes back nil
		e.uint(0)
	} else {
		e.uint(uint64(len(m.Props)) + 1)
		for k, v := range m.Props {
			e.str(k)
			e.str(v)
		}
	}
	e.int(int64(m.Reached))
	e.bool(m.Recycle)
	e.int(m.Mem)
	return e.b, nil
}

func decodeDone(b []byte) (doneMsg, error) {
	d := dec{b: b}
	m := doneMsg{Status: runtime.Status(d.str())}
	if n := d.count(); n > 0 {
		m.Steps = make([]runtime.StepResult, n)
		for i := range m.Steps {
			m.Steps[i] = runtime.StepResult{ID: d.str(), Job: d.str(), Name: d.str(), Status: runtime.Status(d.str()),
				Started: d.time(), Finished: d.time(), Error: d.rtError()}
		}
	}
	m.Error = d.rtError()
	if n := d.uint(); n > 0 {
		if n-1 > uint64(len(d.b)) {
			return m, errFrame
		}
		m.Props = make(map[string]string, n-1)
		for i := uint64(1); i < n && !d.bad; i++ {
			k := d.str()
			m.Props[k] = d.str()
		}
	}
	m.Reached = int(d.int())
	m.Recycle = d.bool()
	m.Mem = d.int()
	return m, d.done()
}
