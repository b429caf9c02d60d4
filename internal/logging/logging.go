// Package logging sets up logrus the way Job Mediator logs everywhere: JSON
// lines when not writing to a terminal (containers, files), readable text in a
// terminal, and every line passed through the secret redactor first.
package logging

import (
	"io"
	"os"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/jobmediator/jobmediator/internal/redact"
)

// New returns a logger writing to out at level ("debug", "info", "warn",
// "error"; unknown levels are an error). Lines are redacted with red.
func New(out io.Writer, level string, red *redact.Redactor) (*logrus.Logger, error) {
	l := logrus.New()
	l.SetOutput(out)
	lvl := logrus.InfoLevel
	if strings.TrimSpace(level) != "" {
		parsed, err := logrus.ParseLevel(strings.ToLower(strings.TrimSpace(level)))
		if err != nil {
			return nil, err
		}
		lvl = parsed
	}
	l.SetLevel(lvl)
	if !isTerminal(out) {
		// The JSON formatter redacts as it writes: a hook would make
		// logrus copy its hooks map for every line and the hook write every
		// string field back into the entry's map first.
		l.SetFormatter(&jsonFormatter{red: red})
		return l, nil
	}
	l.SetFormatter(&logrus.TextFormatter{FullTimestamp: true})
	if red != nil {
		l.AddHook(&redactHook{red: red})
	}
	return l, nil
}

// isTerminal is a dependency-free check: a character device is a terminal
// for our purposes (a pipe or file is not).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	if err != nil {
		return false
	}
	return st.Mode()&os.ModeCharDevice != 0
}

// redactHook scrubs the message and every string field before formatting.
type redactHook struct{ red *redact.Redactor }

func (h *redactHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h *redactHook) Fire(e *logrus.Entry) error {
	e.Message = h.red.String(e.Message)
	for k, v := range e.Data {
		if r, ok := redactField(h.red, k, v); ok {
			e.Data[k] = r
		}
	}
	return nil
}

// redactField is a field's value as written down: a string under a
// sensitive key masked, secrets scrubbed from other strings and from an
// error's text; ok is false for a value left as it is.
func redactField(red *redact.Redactor, k string, v any) (string, bool) {
	switch t := v.(type) {
	case string:
		if red.SensitiveKey(k) {
			return redact.Mask, true
		}
		return red.String(t), true
	case error:
		return red.String(t.Error()), true
	}
	return "", false
}
