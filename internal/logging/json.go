package logging

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/jobmediator/jobmediator/internal/jsonvalue"
	"github.com/jobmediator/jobmediator/internal/redact"
)

// jsonFormatter writes the lines logrus.JSONFormatter writes, byte for
// byte (keys sorted, HTML escaped, time as RFC 3339, clashing field names
// prefixed "fields."), without building a map and encoding it by
// reflection: every run logs its job's console lines and a "run finished"
// line through here, and logrus's formatter was ~10% of the daemon's CPU
// under routed load (make bench profile, jobs in workers). Values other
// than strings, errors, numbers and booleans go through encoding/json as
// before; anything it cannot encode falls back to logrus's formatter.
// With red, the message and fields are redacted as the redact hook does
// (the text formatter's), as they are written.
type jsonFormatter struct {
	fallback logrus.JSONFormatter
	red      *redact.Redactor
}

var reserved = [...]string{logrus.FieldKeyTime, logrus.FieldKeyMsg, logrus.FieldKeyLevel}

// kv is a field to write: a string value (str) is kept out of the
// interface, since putting one in one allocates, and every line has its
// message, level and redacted strings.
type kv struct {
	k     string
	v     any
	s     string
	isStr bool
}

func (f *jsonFormatter) Format(e *logrus.Entry) ([]byte, error) {
	var small [12]kv
	fields := small[:0]
	msg := e.Message
	if f.red != nil {
		msg = f.red.String(msg)
	}
	for k, v := range e.Data {
		field := kv{v: v}
		if f.red != nil {
			field.s, field.isStr = redactField(f.red, k, v)
		}
		for _, r := range reserved {
			if k == r {
				k = "fields." + k
				break
			}
		}
		field.k = k
		fields = append(fields, field)
	}
	fields = append(fields, kv{k: logrus.FieldKeyTime}, kv{k: logrus.FieldKeyMsg, s: msg, isStr: true}, kv{k: logrus.FieldKeyLevel, s: e.Level.String(), isStr: true})
	// insertion sort: a handful of keys, and sort.Slice would allocate
	for i := 1; i < len(fields); i++ {
		for j := i; j > 0 && fields[j].k < fields[j-1].k; j-- {
			fields[j], fields[j-1] = fields[j-1], fields[j]
		}
	}
	b := e.Buffer
	if b == nil {
		b = &bytes.Buffer{}
	}
	start := b.Len()
	b.WriteByte('{')
	for i, field := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		writeString(b, field.k)
		b.WriteByte(':')
		if field.isStr {
			writeString(b, field.s)
			continue
		}
		if field.k == logrus.FieldKeyTime && field.v == nil {
			var ts [40]byte
			b.WriteByte('"')
			b.Write(e.Time.AppendFormat(ts[:0], time.RFC3339))
			b.WriteByte('"')
			continue
		}
		if !writeValue(b, field.v) {
			b.Truncate(start)
			if f.red != nil {
				// the entry is logrus's copy for this line, as the hook's was
				_ = (&redactHook{red: f.red}).Fire(e)
			}
			return f.fallback.Format(e)
		}
	}
	b.WriteString("}\n")
	return b.Bytes(), nil
}

func writeValue(b *bytes.Buffer, v any) bool {
	switch t := v.(type) {
	case string:
		writeString(b, t)
	case error:
		writeString(b, t.Error())
	case bool:
		b.WriteString(strconv.FormatBool(t))
	case int:
		b.Write(strconv.AppendInt(b.AvailableBuffer(), int64(t), 10))
	case int64:
		b.Write(strconv.AppendInt(b.AvailableBuffer(), t, 10))
	case nil:
		b.WriteString("null")
	default:
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf) // escapes HTML, as logrus's encoder does
		if enc.Encode(t) != nil {
			return false
		}
		b.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	}
	return true
}

// writeString writes s as encoding/json does with HTML escaping, as
// logrus's encoder does.
func writeString(b *bytes.Buffer, s string) {
	b.Grow(len(s) + 8) // room for the quotes and a few escapes, so the append stays in b
	b.Write(jsonvalue.AppendString(b.AvailableBuffer(), s, true))
}
