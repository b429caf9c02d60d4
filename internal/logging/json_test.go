package logging

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// TestJSONFormatterMatchesLogrus: every line is what logrus.JSONFormatter
// writes for the same entry, byte for byte.
func TestJSONFormatterMatchesLogrus(t *testing.T) {
	at := time.Date(2026, 12, 7, 0, 10, 0, 123, time.UTC)
	cases := []struct {
		name string
		msg  string
		data logrus.Fields
	}{
		{"plain", "run finished", logrus.Fields{"run": "6b15f64a", "status": "Successful", "calls": 1, "ms": int64(3), "ok": true}},
		{"escapes", "a \"quoted\" <b>&</b>\n\t\\ \x01 \u2028\u2029 é \xff end", logrus.Fields{"detail": "x<y>&z"}},
		{"error field", "failed", logrus.Fields{"error": errors.New("boom <here>")}},
		{"clashing names", "m", logrus.Fields{"time": "t", "msg": "m2", "level": "l", "fields": 1}},
		{"other values", "m", logrus.Fields{"channels": []string{"[POST] /a → b"}, "n": 1.5, "none": nil, "u": uint8(7), "at": at}},
		{"no fields", "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := &logrus.Entry{Logger: logrus.New(), Data: c.data, Time: at, Level: logrus.WarnLevel, Message: c.msg}
			if e.Data == nil {
				e.Data = logrus.Fields{}
			}
			want, err := (&logrus.JSONFormatter{}).Format(e)
			if err != nil {
				t.Fatal(err)
			}
			got, err := (&jsonFormatter{}).Format(e)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}

func BenchmarkJSONFormatter(b *testing.B) {
	e := &logrus.Entry{Logger: logrus.New(), Time: time.Now(), Level: logrus.InfoLevel, Message: "POST http://127.0.0.1:4010/records - 200 in 1ms",
		Data: logrus.Fields{"run": "6b15f64a752be22b5d94ee04", "step": "post-to-upstream", "transaction": "", "workflow": "hello-upstream"}}
	for _, f := range []struct {
		name string
		f    logrus.Formatter
	}{{"logrus", &logrus.JSONFormatter{}}, {"ours", &jsonFormatter{}}} {
		b.Run(f.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e.Buffer = nil
				_, _ = f.f.Format(e)
			}
		})
	}
}
