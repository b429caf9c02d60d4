package mediator

import (
	"slices"
	"strconv"
	"time"

	"github.com/jobmediator/jobmediator/internal/jsonvalue"
)

// AppendResponse appends r as encoding/json writes it (json.Marshal with
// escapeHTML, an Encoder with SetEscapeHTML(false) without: fields in
// order, empty ones left out as their tags say, map keys sorted, times as
// time.Time's MarshalJSON writes them), without reflection: every routed
// request is answered with one, orchestrations and all. ok is false, with
// nothing appended, when a timestamp is one encoding/json refuses (a year
// outside 0-9999, an offset of a day or more): the caller's encoding/json
// then says why. TestAppendResponseMatchesEncodingJSON compares the bytes.
func AppendResponse(b []byte, r *Response, escapeHTML bool) (out []byte, ok bool) {
	if !encodableTime(r.Response.Timestamp) {
		return b, false
	}
	for i := range r.Orchestrations {
		o := &r.Orchestrations[i]
		if o.Request != nil && !encodableTime(o.Request.Timestamp) || o.Response != nil && !encodableTime(o.Response.Timestamp) {
			return b, false
		}
	}
	e := encoder{b: b, html: escapeHTML}
	e.raw(`{"x-mediator-urn":`)
	e.str(r.URN)
	e.optStr(`,"status":`, r.Status)
	e.raw(`,"response":{"status":`)
	e.int(r.Response.Status)
	e.raw(`,"headers":`)
	e.strMap(r.Response.Headers)
	e.raw(`,"body":`)
	e.str(r.Response.Body)
	e.raw(`,"timestamp":`)
	e.time(r.Response.Timestamp)
	e.raw(`}`)
	if len(r.Orchestrations) > 0 {
		e.raw(`,"orchestrations":[`)
		for i := range r.Orchestrations {
			if i > 0 {
				e.raw(",")
			}
			e.orchestration(&r.Orchestrations[i])
		}
		e.raw(`]`)
	}
	if len(r.Properties) > 0 {
		e.raw(`,"properties":`)
		e.strMap(r.Properties)
	}
	if r.Error != nil {
		e.raw(`,"error":`)
		e.error(r.Error)
	}
	e.raw(`}`)
	return e.b, true
}

// encodableTime: time.Time's MarshalJSON writes t (it refuses years
// outside 0-9999 and offsets of 24 hours or more).
func encodableTime(t time.Time) bool {
	_, off := t.Zone()
	return t.Year() >= 0 && t.Year() <= 9999 && off > -24*3600 && off < 24*3600
}

type encoder struct {
	b    []byte
	html bool
}

func (e *encoder) raw(s string) { e.b = append(e.b, s...) }

func (e *encoder) str(s string) { e.b = jsonvalue.AppendString(e.b, s, e.html) }

func (e *encoder) optStr(key, s string) {
	if s != "" {
		e.raw(key)
		e.str(s)
	}
}

func (e *encoder) int(n int) { e.b = strconv.AppendInt(e.b, int64(n), 10) }

func (e *encoder) time(t time.Time) { e.b = jsonvalue.AppendTime(e.b, t) }

// strMap writes m with its keys sorted (nil is null, as for a field
// without omitempty).
func (e *encoder) strMap(m map[string]string) {
	if m == nil {
		e.raw("null")
		return
	}
	var small [16]string
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	e.raw("{")
	for i, k := range keys {
		if i > 0 {
			e.raw(",")
		}
		e.str(k)
		e.raw(":")
		e.str(m[k])
	}
	e.raw("}")
}

func (e *encoder) optStrMap(key string, m map[string]string) {
	if len(m) > 0 {
		e.raw(key)
		e.strMap(m)
	}
}

func (e *encoder) error(x *Error) {
	e.raw(`{"message":`)
	e.str(x.Message)
	e.optStr(`,"stack":`, x.Stack)
	e.raw(`}`)
}

func (e *encoder) orchestration(o *Orchestration) {
	e.raw(`{"name":`)
	e.str(o.Name)
	e.optStr(`,"group":`, o.Group)
	if q := o.Request; q != nil {
		// every member of the request may be left out but the timestamp,
		// which comes last: the separators are written before each one
		e.raw(`,"request":{`)
		sep := ""
		member := func(key string) {
			e.b = append(append(append(append(e.b, sep...), '"'), key...), '"', ':')
			sep = ","
		}
		opt := func(key, s string) {
			if s != "" {
				member(key)
				e.str(s)
			}
		}
		opt("host", q.Host)
		opt("port", q.Port)
		opt("path", q.Path)
		if len(q.Headers) > 0 {
			member("headers")
			e.strMap(q.Headers)
		}
		opt("querystring", q.Querystring)
		opt("body", q.Body)
		opt("method", q.Method)
		member("timestamp")
		e.time(q.Timestamp)
		e.raw(`}`)
	}
	if s := o.Response; s != nil {
		e.raw(`,"response":{"status":`)
		e.int(s.Status)
		e.optStrMap(`,"headers":`, s.Headers)
		e.optStr(`,"body":`, s.Body)
		e.raw(`,"timestamp":`)
		e.time(s.Timestamp)
		e.raw(`}`)
	}
	if o.Error != nil {
		e.raw(`,"error":`)
		e.error(o.Error)
	}
	e.raw(`}`)
}
