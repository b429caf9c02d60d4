package store

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jobmediator/jobmediator/internal/jsonvalue"
	"github.com/jobmediator/jobmediator/internal/redact"
)

// Limits applied to what callers hand the store.
const (
	DefaultMaxStateBytes = 256 << 10
	// MaxStateBytesLimit keeps a whole run (input, output and step outputs)
	// comfortably below MongoDB's 16 MiB document limit.
	MaxStateBytesLimit = 2 << 20
	// MaxPayloadBytes bounds a queued message's payload. Payloads are
	// replayed, so they are refused rather than truncated.
	MaxPayloadBytes    = 8 << 20
	maxLogMessageBytes = 16 << 10
	maxErrorBytes      = 8 << 10
	maxLogBatch        = 10000
	truncatedHeadBytes = 512
	defaultListLimit   = 50
	maxListLimit       = 1000
)

// TruncationMarker replaces a state larger than the cap. It is valid JSON
// (`{"$truncated":{…}}`) so a stored run always decodes; Head is the start
// of the (redacted) original for a human looking at the console, SHA256 lets
// a rerun check it was handed the same input.
type TruncationMarker struct {
	Truncated struct {
		Bytes  int    `json:"bytes"`
		SHA256 string `json:"sha256"`
		Head   string `json:"head"`
	} `json:"$truncated"`
}

// IsTruncated reports whether a stored state is a TruncationMarker and
// returns it.
func IsTruncated(state json.RawMessage) (*TruncationMarker, bool) {
	if len(state) == 0 || !strings.HasPrefix(string(state), `{"$truncated":`) {
		return nil, false
	}
	var m TruncationMarker
	if err := json.Unmarshal(state, &m); err != nil || m.Truncated.SHA256 == "" {
		return nil, false
	}
	return &m, true
}

// capState returns state unchanged when it fits, else its marker.
func capState(state json.RawMessage, max int) json.RawMessage {
	if len(state) <= max {
		return state
	}
	var m TruncationMarker
	sum := sha256.Sum256(state)
	m.Truncated.Bytes = len(state)
	m.Truncated.SHA256 = hex.EncodeToString(sum[:])
	m.Truncated.Head = truncateUTF8(string(state), min(truncatedHeadBytes, max/2))
	out, _ := json.Marshal(m) // cannot fail: strings and ints only
	return out
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func capText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return truncateUTF8(s, n) + "…[truncated]"
}

// idCounter makes IDs created in the same millisecond by this process
// distinct and ordered.
var idCounter atomic.Uint32

// NewID returns a 24-hex-digit ID that sorts by creation time (48-bit
// milliseconds, 16-bit per-process counter, 32 random bits), like a Mongo
// ObjectID but without driver types.
func NewID() string {
	var b [12]byte
	ms := uint64(time.Now().UnixMilli())
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms) //nolint:gosec // G115: the 48-bit millisecond time of a ULID-like id, byte by byte
	binary.BigEndian.PutUint16(b[6:8], uint16(idCounter.Add(1)))                                                       //nolint:gosec // G115: a wrapping 16-bit counter is the point
	if _, err := rand.Read(b[8:]); err != nil {
		panic("store: crypto/rand failed: " + err.Error()) // never on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// ms normalises a time the way both backends store it.
func ms(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Millisecond)
}

// sanitizer applies redaction and size caps; shared by both backends so
// they store byte-identical records.
type sanitizer struct {
	red      *redact.Redactor
	maxState int
	// preRedacted: the record was redacted by its writer with a redactor
	// covering red (RecordCleanRunFunc), so only the checks and caps apply
	preRedacted bool
}

// redacted is the sanitizer for a record its writer has already redacted
// with a redactor covering the store's.
func (z sanitizer) redacted() sanitizer {
	z.preRedacted = true
	return z
}

// text redacts s unless the record was redacted already.
func (z sanitizer) text(s string) string {
	if z.preRedacted {
		return s
	}
	return z.red.String(s)
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// state cleans one state of run runID: its input or output (step ""), or
// step's output. The field's name is only put together for an error.
func (z sanitizer) state(runID, step, which string, st json.RawMessage) (json.RawMessage, error) {
	if len(st) == 0 {
		return nil, nil
	}
	if !jsonvalue.Valid(st) {
		if step != "" {
			return nil, invalid("run %s step %s %s is not valid JSON", runID, step, which)
		}
		return nil, invalid("run %s %s is not valid JSON", runID, which)
	}
	if z.preRedacted {
		return capState(st, z.maxState), nil
	}
	return capState(json.RawMessage(z.red.JSON(st)), z.maxState), nil
}

// run validates r and rewrites it in place into its stored form.
func (z sanitizer) run(r *Run) error {
	if r == nil {
		return invalid("run is nil")
	}
	if strings.TrimSpace(r.Workflow) == "" {
		return invalid("run %q: workflow is required", r.ID)
	}
	if r.Status == "" {
		r.Status = RunPending
	}
	if !r.Status.valid() {
		return invalid("run %q: unknown status %q (want pending, running, success, failed or crashed)", r.ID, r.Status)
	}
	if r.Started.IsZero() {
		return invalid("run %q: started time is required", r.ID)
	}
	var err error
	if r.Input, err = z.state(r.ID, "", "input", r.Input); err != nil {
		return err
	}
	output := r.Output
	if r.Output, err = z.state(r.ID, "", "output", r.Output); err != nil {
		return err
	}
	r.Error = capText(z.text(r.Error), maxErrorBytes)
	r.Started, r.Finished = ms(r.Started), ms(r.Finished)
	for i := range r.Steps {
		s := &r.Steps[i]
		if s.Status == "" {
			s.Status = RunPending
		}
		if !s.Status.valid() {
			return invalid("run %q step %q: unknown status %q", r.ID, s.ID, s.Status)
		}
		// The last step's output is usually the run's: clean it once.
		if len(s.Output) > 0 && bytes.Equal(s.Output, output) {
			s.Output = r.Output
		} else if s.Output, err = z.state(r.ID, s.ID, "output", s.Output); err != nil {
			return err
		}
		s.Error = capText(z.text(s.Error), maxErrorBytes)
		s.Started, s.Finished = ms(s.Started), ms(s.Finished)
	}
	return nil
}

func (z sanitizer) logs(runID string, lines []LogLine) ([]LogLine, error) {
	if runID == "" {
		return nil, invalid("log lines need a run id")
	}
	if len(lines) > maxLogBatch {
		return nil, invalid("%d log lines in one append (max %d)", len(lines), maxLogBatch)
	}
	out := make([]LogLine, len(lines))
	for i, l := range lines {
		l.Time = ms(l.Time)
		l.Message = capText(z.text(l.Message), maxLogMessageBytes)
		out[i] = l
	}
	return out, nil
}

func (z sanitizer) message(m *Message, now time.Time) error {
	if m == nil {
		return invalid("message is nil")
	}
	switch m.Kind {
	case KindRetry, KindAsync, KindScheduled:
	default:
		return invalid("message %q: unknown kind %q (want retry, async or scheduled)", m.ID, m.Kind)
	}
	if strings.TrimSpace(m.Workflow) == "" {
		return invalid("message %q: workflow is required", m.ID)
	}
	if len(m.Payload) > MaxPayloadBytes {
		return invalid("message %q: payload is %d bytes, over the %d-byte limit", m.ID, len(m.Payload), MaxPayloadBytes)
	}
	if len(m.Payload) > 0 && !jsonvalue.Valid(m.Payload) {
		return invalid("message %q: payload is not valid JSON", m.ID)
	}
	if m.MaxAttempts <= 0 {
		m.MaxAttempts = DefaultMaxAttempts
	}
	if m.ID == "" {
		m.ID = NewID()
	}
	now = ms(now)
	m.Status = MsgPending
	m.Attempts = 0
	m.Owner = ""
	m.LeaseUntil = time.Time{}
	m.LastError = capText(z.red.String(m.LastError), maxErrorBytes)
	if m.Due.IsZero() {
		m.Due = now
	}
	m.Due = ms(m.Due)
	m.Created, m.Updated = now, now
	return nil
}

func (z sanitizer) errText(s string) string { return capText(z.red.String(s), maxErrorBytes) }

func listLimit(n int) int {
	if n <= 0 {
		return defaultListLimit
	}
	return min(n, maxListLimit)
}

func checkClaimArgs(owner string, lease time.Duration) error {
	if owner == "" {
		return invalid("claim needs an owner")
	}
	if lease <= 0 {
		return invalid("claim needs a positive lease, got %s", lease)
	}
	return nil
}

// DoneMessageRetention is how long a completed message (and so its
// idempotency key) is kept when no age-based retention is configured: the
// window in which a re-delivered transaction is recognised as a duplicate.
const DoneMessageRetention = 7 * 24 * time.Hour

func doneMessageCutoff(olderThan, now time.Time) time.Time {
	if olderThan.IsZero() {
		return ms(now.Add(-DoneMessageRetention))
	}
	return olderThan
}
