package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

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
