package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/jobmediator/jobmediator/internal/redact"
)

func TestJSONLinesAreRedacted(t *testing.T) {
	red := redact.New()
	red.AddValues("s3cr3t-pass")
	var buf bytes.Buffer
	l, err := New(&buf, "debug", red)
	if err != nil {
		t.Fatal(err)
	}
	l.WithField("password", "plain").WithField("detail", "login with s3cr3t-pass failed").
		WithError(errors.New("auth s3cr3t-pass")).Info("calling with s3cr3t-pass")
	line := buf.String()
	if strings.Contains(line, "s3cr3t-pass") || strings.Contains(line, "plain") {
		t.Fatalf("secret leaked: %s", line)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("not a JSON line (non-terminal output must be JSON): %v: %s", err, line)
	}
	if m["password"] != redact.Mask || m["msg"] != "calling with ***" {
		t.Fatalf("unexpected fields: %v", m)
	}
}

func TestLevels(t *testing.T) {
	for _, tc := range []struct {
		level   string
		wantErr bool
		debugOn bool
	}{
		{"", false, false}, {"info", false, false}, {"DEBUG", false, true}, {"warn", false, false}, {"loud", true, false},
	} {
		var buf bytes.Buffer
		l, err := New(&buf, tc.level, nil)
		if (err != nil) != tc.wantErr {
			t.Fatalf("level %q: err=%v", tc.level, err)
		}
		if err != nil {
			continue
		}
		l.Debug("d")
		if got := buf.Len() > 0; got != tc.debugOn {
			t.Errorf("level %q: debug printed=%v", tc.level, got)
		}
	}
}

// TestJSONFormatterRedactsAsTheHook: the JSON formatter's own redaction
// writes the bytes the redact hook followed by the plain formatter wrote.
func TestJSONFormatterRedactsAsTheHook(t *testing.T) {
	red := redact.New()
	red.AddValues("s3cr3t-pass")
	at := time.Date(2026, 12, 7, 0, 10, 0, 0, time.UTC)
	for _, data := range []logrus.Fields{
		nil,
		{"password": "plain", "detail": "login with s3cr3t-pass failed", "error": errors.New("auth s3cr3t-pass"), "n": 3},
		{"token": 42, "msg": "s3cr3t-pass", "time": "t", "Authorization": "Basic x"},
		{"list": []string{"s3cr3t-pass"}, "secret": "s3cr3t-pass", "ch": make(chan int)}, // encoding/json fails: logrus's formatter
	} {
		mk := func() *logrus.Entry {
			d := logrus.Fields{}
			for k, v := range data {
				d[k] = v
			}
			return &logrus.Entry{Logger: logrus.New(), Data: d, Time: at, Level: logrus.InfoLevel, Message: "calling with s3cr3t-pass"}
		}
		old := mk()
		if err := (&redactHook{red: red}).Fire(old); err != nil {
			t.Fatal(err)
		}
		want, wantErr := (&jsonFormatter{}).Format(old)
		got, err := (&jsonFormatter{red: red}).Format(mk())
		if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
			t.Errorf("fields %v:\n got %s (%v)\nwant %s (%v)", data, got, err, want, wantErr)
		}
	}
}
