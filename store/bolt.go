package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/jobmediator/jobmediator/internal/jsonvalue"
)

// boltStore is the embedded implementation: one bbolt file, every method one
// read or write transaction. bbolt serialises writers, which is what makes
// Claim and the compare-and-sets atomic; the file lock keeps a second
// process out of the same data directory.
type boltStore struct {
	db  *bolt.DB
	san sanitizer
	now func() time.Time
}

// BoltFile is the database file name inside the data directory.
const BoltFile = "jobmediator.db"

var (
	bRuns     = []byte("runs")
	bRunsTime = []byte("runs_by_time") // timeKey(started,id) → runSummary
	bRunsTx   = []byte("runs_by_tx")   // tx \x00 timeKey → nil
	bLogs     = []byte("logs")         // runID \x00 seq → LogLine
	bCursors  = []byte("cursors")
	bMsgs     = []byte("messages")
	bMsgIdem  = []byte("messages_by_key")  // idempotency key → id
	bMsgReady = []byte("messages_by_due")  // timeKey(due,id) → nil, pending+claimed
	bMsgDead  = []byte("messages_by_dead") // timeKey(updated,id) → nil, dead
	bLeases   = []byte("leases")
)

func openBolt(dir string, san sanitizer, now func() time.Time) (*boltStore, error) {
	if dir == "" {
		return nil, invalid("data directory is empty")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create data directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, BoltFile)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, NoFreelistSync: true, InitialMmapSize: initialMmapSize})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("store: %s is locked by another process (another jobmediator using the same data directory?)", path)
		}
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bRuns, bRunsTime, bRunsTx, bLogs, bCursors, bMsgs, bMsgIdem, bMsgReady, bMsgDead, bLeases} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close() // read-only so far; the initialise error is the news
		return nil, fmt.Errorf("store: initialise %s: %w", path, err)
	}
	db.MaxBatchDelay = batchDelay
	return &boltStore{db: db, san: san, now: now}, nil
}

// initialMmapSize is the database mapping bbolt starts with. Its own start
// is 32 KiB, doubled whenever the file outgrows it, and every remap made
// while the history writer holds a batch copies each key and value the
// batch touched (node dereference) and waits for open reads: the first
// hours of history paid eleven of them. On Linux 64 MiB of address space
// costs nothing until pages are read (the file itself grows as before);
// it covers some 40,000 routed runs.
const initialMmapSize = 64 << 20

// timeKey orders by time then id; the sign bit is flipped so times before
// 1970 still sort first.
func timeKey(t time.Time, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(t.UnixMilli())^(1<<63))
	return append(k, id...)
}

func keyTime(k []byte) time.Time {
	return time.UnixMilli(int64(binary.BigEndian.Uint64(k[:8]) ^ (1 << 63))).UTC() //nolint:gosec // G115: undoes the sign-bit flip that makes keys sort by time
}

// runSummary is kept in the time index so filtering need not decode states.
type runSummary struct {
	W  string    `json:"w"`
	S  RunStatus `json:"s"`
	Tx string    `json:"t,omitempty"`
	P  string    `json:"p,omitempty"`
}

func txKey(txID string, started time.Time, id string) []byte {
	return append(append([]byte(txID), 0), timeKey(started, id)...)
}

func (s *boltStore) update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.db.Update(fn)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// batch is update through bbolt's group commit: concurrent calls within
// batchDelay share one transaction and one fsync. fn may run more than
// once (bbolt reruns a batch without the call that failed), so it must
// only depend on its arguments and the transaction. Used where a caller
// waits for durability on the request path (Enqueue: an async request's
// 202), so concurrent requests stop queueing behind one fsync each.
func (s *boltStore) batch(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.db.Batch(fn)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// batchDelay is how long bbolt waits for more calls before committing a
// batch: a lone async request waits at most this much longer for its 202.
const batchDelay = 2 * time.Millisecond

func (s *boltStore) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.db.View(fn)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: encode: %w", err)
	}
	return b.Put(k, data)
}

func getJSON(b *bolt.Bucket, k []byte, v any) (bool, error) {
	data := b.Get(k)
	if data == nil {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return true, fmt.Errorf("store: decode record %q: %w", k, err)
	}
	return true, nil
}

// ---- runs ----

func (s *boltStore) CreateRun(ctx context.Context, r *Run) error {
	if r != nil && r.ID == "" {
		r.ID = NewID()
	}
	if err := s.san.run(r); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		runs := tx.Bucket(bRuns)
		if runs.Get([]byte(r.ID)) != nil {
			return fmt.Errorf("%w: run %s already exists", ErrDuplicate, r.ID)
		}
		fillAppended(tx)
		_, err := s.putRun(tx, make([]byte, 0, runSizeHint(r)), r)
		return err
	})
}

// recordRuns writes a journal batch in one transaction (one fsync): each
// run with its log lines; a run whose ID exists already gets its own error.
// The records are encoded into one buffer for the batch (bbolt holds on
// to every value until the commit).
func (s *boltStore) recordRuns(ctx context.Context, recs []*runRecord) error {
	ready, logs, logErrs := prepareBatch(s.san, recs)
	size := 0
	for i, rec := range ready {
		size += runSizeHint(rec.run) + logsSizeHint(logs[i])
	}
	for _, rec := range recs {
		if rec.orchRun != "" {
			rec.orch = s.san.orchestrations(rec.orch)
			size += orchestrationsSizeHint(rec.orch)
		}
	}
	buf := make([]byte, 0, size)
	err := s.update(ctx, func(tx *bolt.Tx) error {
		runs, lb := tx.Bucket(bRuns), tx.Bucket(bLogs)
		fillAppended(tx)
		for i, rec := range ready {
			rec.err = logErrs[i]
			if runs.Get([]byte(rec.run.ID)) != nil {
				rec.err = fmt.Errorf("%w: run %s already exists", ErrDuplicate, rec.run.ID)
				continue
			}
			var err error
			if buf, err = s.putRun(tx, buf, rec.run); err != nil {
				return err
			}
			if buf, err = putLogs(lb, buf, rec.run.ID, logs[i]); err != nil {
				return err
			}
		}
		for _, rec := range recs {
			if rec.orchRun == "" {
				continue
			}
			b, err := bucket(tx, bOrch)
			if err != nil {
				return err
			}
			b.FillPercent = 0.9 // keyed by run id, which starts with the time
			start := len(buf)
			buf = appendOrchestrations(buf, rec.orch)
			if err := b.Put([]byte(rec.orchRun), buf[start:len(buf):len(buf)]); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// fillAppended packs the pages of the buckets whose keys grow with time
// (run ids and the time index start with the time; log keys with the run
// id): bbolt splits a full page in half by default, which for keys that
// only ever append leaves every page half empty, and every commit writing
// twice the pages. Keys that land in the middle (a run that finished after
// a later one) still fit: only pages past 90% split.
func fillAppended(tx *bolt.Tx) {
	for _, name := range [][]byte{bRuns, bRunsTime, bLogs} {
		tx.Bucket(name).FillPercent = 0.9
	}
}

// runSizeHint is about the size of r's stored form.
func runSizeHint(r *Run) int {
	n := 512 + len(r.Input) + len(r.Output) + len(r.Error)
	for _, st := range r.Steps {
		n += 192 + len(st.Error)
		if !bytes.Equal(st.Output, r.Output) {
			n += len(st.Output)
		}
	}
	return n
}

func logsSizeHint(lines []LogLine) int {
	n := 0
	for _, l := range lines {
		n += 96 + len(l.Level) + len(l.Step) + len(l.Message)
	}
	return n
}

// putRun writes r and its index entries, encoding them at the end of buf
// (which it returns grown): the values stay valid until the commit.
func (s *boltStore) putRun(tx *bolt.Tx, buf []byte, r *Run) ([]byte, error) {
	start := len(buf)
	buf = appendRun(buf, r)
	if err := tx.Bucket(bRuns).Put([]byte(r.ID), buf[start:len(buf):len(buf)]); err != nil {
		return buf, err
	}
	start = len(buf)
	buf = appendSummary(buf, r)
	if err := tx.Bucket(bRunsTime).Put(timeKey(r.Started, r.ID), buf[start:len(buf):len(buf)]); err != nil {
		return buf, err
	}
	if r.TransactionID != "" {
		return buf, tx.Bucket(bRunsTx).Put(txKey(r.TransactionID, r.Started, r.ID), nil)
	}
	return buf, nil
}

// logValueBytes bounds one stored value of log lines.
const logValueBytes = 64 << 10

// putLogs stores a run's cleaned lines as JSON arrays of up to
// logValueBytes each, under one key per array (run id, sequence) instead
// of one key per line: a routed run's lines cost one B+tree entry. Logs
// reads both (a database written before holds single lines).
func putLogs(b *bolt.Bucket, buf []byte, runID string, lines []LogLine) ([]byte, error) {
	for len(lines) > 0 {
		seq, err := b.NextSequence()
		if err != nil {
			return buf, err
		}
		start := len(buf)
		buf = append(buf, '[')
		n := 0
		for n < len(lines) && (n == 0 || len(buf)-start+len(lines[n].Message) < logValueBytes) {
			if n > 0 {
				buf = append(buf, ',')
			}
			buf = appendLogLine(buf, &lines[n])
			n++
		}
		buf = append(buf, ']')
		if err := b.Put(logKey(runID, seq), buf[start:len(buf):len(buf)]); err != nil {
			return buf, err
		}
		lines = lines[n:]
	}
	return buf, nil
}

func (s *boltStore) deleteRunIndexes(tx *bolt.Tx, old *Run) error {
	if err := tx.Bucket(bRunsTime).Delete(timeKey(old.Started, old.ID)); err != nil {
		return err
	}
	if old.TransactionID != "" {
		return tx.Bucket(bRunsTx).Delete(txKey(old.TransactionID, old.Started, old.ID))
	}
	return nil
}

func (s *boltStore) UpdateRun(ctx context.Context, r *Run) error {
	if r != nil && r.ID == "" {
		return invalid("update needs a run id")
	}
	if err := s.san.run(r); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		var old Run
		found, err := getRun(tx.Bucket(bRuns), []byte(r.ID), &old)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("%w: run %s", ErrNotFound, r.ID)
		}
		if err := s.deleteRunIndexes(tx, &old); err != nil {
			return err
		}
		_, err = s.putRun(tx, make([]byte, 0, runSizeHint(r)), r)
		return err
	})
}

func (s *boltStore) GetRun(ctx context.Context, id string) (*Run, error) {
	var r Run
	err := s.view(ctx, func(tx *bolt.Tx) error {
		found, err := getRun(tx.Bucket(bRuns), []byte(id), &r)
		if err == nil && !found {
			err = fmt.Errorf("%w: run %s", ErrNotFound, id)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

func (s *boltStore) ListRuns(ctx context.Context, f RunFilter) ([]*Run, error) {
	limit := listLimit(f.Limit)
	var out []*Run
	err := s.view(ctx, func(tx *bolt.Tx) error {
		runs := tx.Bucket(bRuns)
		c := tx.Bucket(bRunsTime).Cursor()
		var k, v []byte
		switch {
		case f.Before != "":
			var b Run
			found, err := getRun(runs, []byte(f.Before), &b)
			if err != nil {
				return err
			}
			if !found {
				return fmt.Errorf("%w: page cursor: run %s", ErrNotFound, f.Before)
			}
			c.Seek(timeKey(b.Started, b.ID))
			k, v = c.Prev()
		case !f.Until.IsZero():
			if k, _ = c.Seek(timeKey(ms(f.Until), "")); k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		default:
			k, v = c.Last()
		}
		for ; k != nil && len(out) < limit; k, v = c.Prev() {
			started := keyTime(k)
			if !f.Since.IsZero() && started.Before(ms(f.Since)) {
				break
			}
			if !f.Until.IsZero() && !started.Before(ms(f.Until)) {
				continue
			}
			var sum runSummary
			if err := json.Unmarshal(v, &sum); err != nil {
				return fmt.Errorf("store: decode run index: %w", err)
			}
			if (f.Workflow != "" && sum.W != f.Workflow) || (f.Status != "" && sum.S != f.Status) ||
				(f.TransactionID != "" && sum.Tx != f.TransactionID) || (f.ParentID != "" && sum.P != f.ParentID) {
				continue
			}
			var r Run
			if _, err := getRun(runs, k[8:], &r); err != nil {
				return err
			}
			out = append(out, &r)
		}
		return nil
	})
	return out, err
}

func (s *boltStore) FindRunByTransaction(ctx context.Context, txID string) (*Run, error) {
	if txID == "" {
		return nil, invalid("transaction id is empty")
	}
	var r *Run
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bRunsTx).Cursor()
		prefix := append([]byte(txID), 0)
		// The newest run for txID is the last key with the prefix.
		k, _ := c.Seek(append([]byte(txID), 1))
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		if k == nil || !bytes.HasPrefix(k, prefix) {
			return fmt.Errorf("%w: run for transaction %s", ErrNotFound, txID)
		}
		r = new(Run)
		_, err := getRun(tx.Bucket(bRuns), k[len(prefix)+8:], r)
		return err
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func logKey(runID string, seq uint64) []byte {
	k := append([]byte(runID), 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

func (s *boltStore) AppendLogs(ctx context.Context, runID string, lines []LogLine) error {
	clean, err := s.san.logs(runID, lines)
	if err != nil || len(clean) == 0 {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		fillAppended(tx)
		_, err := putLogs(tx.Bucket(bLogs), make([]byte, 0, logsSizeHint(clean)), runID, clean)
		return err
	})
}

func (s *boltStore) Logs(ctx context.Context, runID string) ([]LogLine, error) {
	out := []LogLine{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bLogs).Cursor()
		prefix := append([]byte(runID), 0)
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(v) > 0 && v[0] == '[' { // a run's lines (putLogs)
				var ls []LogLine
				if err := json.Unmarshal(v, &ls); err != nil {
					return fmt.Errorf("store: decode log lines: %w", err)
				}
				out = append(out, ls...)
				continue
			}
			var l LogLine // one line, as versions before putLogs stored them
			if err := json.Unmarshal(v, &l); err != nil {
				return fmt.Errorf("store: decode log line: %w", err)
			}
			out = append(out, l)
		}
		return nil
	})
	return out, err
}

// ---- cursors ----

func (s *boltStore) GetCursor(ctx context.Context, key string) (*Cursor, error) {
	var c Cursor
	err := s.view(ctx, func(tx *bolt.Tx) error {
		found, err := getJSON(tx.Bucket(bCursors), []byte(key), &c)
		if err == nil && !found {
			err = fmt.Errorf("%w: cursor %s", ErrNotFound, key)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &c, nil
}

func (s *boltStore) PutCursor(ctx context.Context, c *Cursor) error {
	if err := checkCursor(c); err != nil {
		return err
	}
	now := ms(s.now())
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bCursors)
		var cur Cursor
		found, err := getJSON(b, []byte(c.Key), &cur)
		if err != nil {
			return err
		}
		if (!found && c.Version != 0) || (found && cur.Version != c.Version) {
			return fmt.Errorf("%w: cursor %s is at version %d, caller had %d", ErrConflict, c.Key, cur.Version, c.Version)
		}
		next := Cursor{Key: c.Key, Value: c.Value, Version: c.Version + 1, Updated: now}
		if err := putJSON(b, []byte(c.Key), next); err != nil {
			return err
		}
		c.Version, c.Updated = next.Version, now
		return nil
	})
}

func checkCursor(c *Cursor) error {
	if c == nil || c.Key == "" {
		return invalid("cursor needs a key")
	}
	if c.Version < 0 {
		return invalid("cursor %s: negative version %d", c.Key, c.Version)
	}
	if len(c.Value) == 0 || !jsonvalue.Valid(c.Value) {
		return invalid("cursor %s: value is not valid JSON", c.Key)
	}
	return nil
}

// ---- messages ----

func (s *boltStore) Enqueue(ctx context.Context, m *Message) error {
	if err := s.san.message(m, s.now()); err != nil {
		return err
	}
	return s.batch(ctx, func(tx *bolt.Tx) error {
		msgs, idem := tx.Bucket(bMsgs), tx.Bucket(bMsgIdem)
		if msgs.Get([]byte(m.ID)) != nil {
			return fmt.Errorf("%w: message %s already exists", ErrDuplicate, m.ID)
		}
		if m.IdempotencyKey != "" {
			if existing := idem.Get([]byte(m.IdempotencyKey)); existing != nil {
				m.ID = string(existing)
				return fmt.Errorf("%w: idempotency key already queued as message %s", ErrDuplicate, m.ID)
			}
			if err := idem.Put([]byte(m.IdempotencyKey), []byte(m.ID)); err != nil {
				return err
			}
		}
		if err := putJSON(msgs, []byte(m.ID), m); err != nil {
			return err
		}
		return tx.Bucket(bMsgReady).Put(timeKey(m.Due, m.ID), nil)
	})
}

func (s *boltStore) GetMessage(ctx context.Context, id string) (*Message, error) {
	var m Message
	err := s.view(ctx, func(tx *bolt.Tx) error {
		found, err := getJSON(tx.Bucket(bMsgs), []byte(id), &m)
		if err == nil && !found {
			err = fmt.Errorf("%w: message %s", ErrNotFound, id)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &m, nil
}

func (s *boltStore) Claim(ctx context.Context, owner string, lease time.Duration, now time.Time, lanes ...string) (*Message, error) {
	if err := checkClaimArgs(owner, lease); err != nil {
		return nil, err
	}
	now = ms(now)
	var got *Message
	err := s.update(ctx, func(tx *bolt.Tx) error {
		msgs := tx.Bucket(bMsgs)
		c := tx.Bucket(bMsgReady).Cursor()
		// The ready index holds pending and claimed messages by Due; a
		// claimed one qualifies again only once its lease has expired.
		for k, _ := c.First(); k != nil && !keyTime(k).After(now); k, _ = c.Next() {
			var m Message
			if _, err := getJSON(msgs, k[8:], &m); err != nil {
				return err
			}
			if m.Status == MsgClaimed && m.LeaseUntil.After(now) {
				continue
			}
			if len(lanes) > 0 && !slices.Contains(lanes, m.Lane) {
				continue
			}
			m.Status, m.Owner, m.LeaseUntil = MsgClaimed, owner, now.Add(lease)
			m.Attempts++
			m.Updated = now
			if err := putJSON(msgs, k[8:], &m); err != nil {
				return err
			}
			got = &m
			return nil
		}
		return ErrNoMessage
	})
	if err != nil {
		return nil, err
	}
	return got, nil
}

// mutateClaimed loads message id, checks owner holds it (owner "" skips
// the check where allowed), applies fn and keeps the indexes in step.
func (s *boltStore) mutate(ctx context.Context, id string, fn func(m *Message) error) (*Message, error) {
	var out *Message
	err := s.update(ctx, func(tx *bolt.Tx) error {
		msgs := tx.Bucket(bMsgs)
		var m Message
		found, err := getJSON(msgs, []byte(id), &m)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("%w: message %s", ErrNotFound, id)
		}
		oldStatus, oldDue, oldUpdated := m.Status, m.Due, m.Updated
		if err := fn(&m); err != nil {
			return err
		}
		ready, dead := tx.Bucket(bMsgReady), tx.Bucket(bMsgDead)
		isReady := func(st MessageStatus) bool { return st == MsgPending || st == MsgClaimed }
		if isReady(oldStatus) {
			if err := ready.Delete(timeKey(oldDue, id)); err != nil {
				return err
			}
		}
		if oldStatus == MsgDead {
			if err := dead.Delete(timeKey(oldUpdated, id)); err != nil {
				return err
			}
		}
		if isReady(m.Status) {
			if err := ready.Put(timeKey(m.Due, id), nil); err != nil {
				return err
			}
		}
		if m.Status == MsgDead {
			if err := dead.Put(timeKey(m.Updated, id), nil); err != nil {
				return err
			}
		}
		out = &m
		return putJSON(msgs, []byte(id), &m)
	})
	return out, err
}

// holds reports the lease check shared by both backends.
func holds(m *Message, owner string) error {
	if m.Status != MsgClaimed || m.Owner != owner {
		return fmt.Errorf("%w: message %s is %s by %q, not claimed by %q", ErrLeaseLost, m.ID, m.Status, m.Owner, owner)
	}
	return nil
}

func (s *boltStore) ExtendLease(ctx context.Context, id, owner string, lease time.Duration, now time.Time) error {
	if err := checkClaimArgs(owner, lease); err != nil {
		return err
	}
	_, err := s.mutate(ctx, id, func(m *Message) error {
		if err := holds(m, owner); err != nil {
			return err
		}
		m.LeaseUntil = ms(now).Add(lease)
		m.Updated = ms(s.now())
		return nil
	})
	return err
}

func (s *boltStore) Complete(ctx context.Context, id, owner string) error {
	_, err := s.mutate(ctx, id, func(m *Message) error {
		if err := holds(m, owner); err != nil {
			return err
		}
		m.Status, m.LeaseUntil, m.Updated = MsgDone, time.Time{}, ms(s.now())
		return nil
	})
	return err
}

func (s *boltStore) Fail(ctx context.Context, id, owner, errMsg string, next time.Time) (*Message, error) {
	return s.mutate(ctx, id, func(m *Message) error {
		if err := holds(m, owner); err != nil {
			return err
		}
		applyFail(m, s.san.errText(errMsg), next, ms(s.now()))
		return nil
	})
}

// applyFail is the retry-or-dead decision shared by both backends.
func applyFail(m *Message, errMsg string, next, now time.Time) {
	m.LastError, m.Owner, m.LeaseUntil, m.Updated = errMsg, "", time.Time{}, now
	if m.Attempts >= m.MaxAttempts {
		m.Status = MsgDead
		return
	}
	m.Status, m.Due = MsgPending, ms(next)
}

func (s *boltStore) DeadLetter(ctx context.Context, id, owner, reason string) error {
	_, err := s.mutate(ctx, id, func(m *Message) error {
		return applyDead(m, owner, s.san.errText(reason), ms(s.now()))
	})
	return err
}

func applyDead(m *Message, owner, reason string, now time.Time) error {
	if owner != "" {
		if err := holds(m, owner); err != nil {
			return err
		}
	} else if m.Status != MsgPending && m.Status != MsgClaimed {
		return fmt.Errorf("%w: message %s is %s", ErrConflict, m.ID, m.Status)
	}
	m.Status, m.Owner, m.LeaseUntil, m.Updated = MsgDead, "", time.Time{}, now
	if reason != "" {
		m.LastError = reason
	}
	return nil
}

func (s *boltStore) ListDead(ctx context.Context, limit int) ([]*Message, error) {
	limit = listLimit(limit)
	var out []*Message
	err := s.view(ctx, func(tx *bolt.Tx) error {
		msgs := tx.Bucket(bMsgs)
		c := tx.Bucket(bMsgDead).Cursor()
		for k, _ := c.Last(); k != nil && len(out) < limit; k, _ = c.Prev() {
			m := new(Message)
			if _, err := getJSON(msgs, k[8:], m); err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})
	return out, err
}

// CountQueue counts keys of the two status indexes (pending+claimed, dead).
func (s *boltStore) CountQueue(ctx context.Context) (QueueCounts, error) {
	var c QueueCounts
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c.Pending = countKeys(tx.Bucket(bMsgReady))
		c.Dead = countKeys(tx.Bucket(bMsgDead))
		return nil
	})
	return c, err
}

func countKeys(b *bolt.Bucket) int {
	n := 0
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	return n
}

func (s *boltStore) Requeue(ctx context.Context, id string) error {
	_, err := s.mutate(ctx, id, func(m *Message) error {
		return applyRequeue(m, ms(s.now()))
	})
	return err
}

func applyRequeue(m *Message, now time.Time) error {
	if m.Status != MsgDead {
		return fmt.Errorf("%w: message %s is %s, only dead letters can be requeued", ErrConflict, m.ID, m.Status)
	}
	m.Status, m.Attempts, m.Due, m.Updated = MsgPending, 0, now, now
	return nil
}

// ---- schedule leases ----

type leaseRec struct {
	Owner string    `json:"owner"`
	Until time.Time `json:"until"`
}

func (s *boltStore) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration, now time.Time) (bool, error) {
	if name == "" || owner == "" || ttl <= 0 {
		return false, invalid("lease needs a name, an owner and a positive ttl (got %q, %q, %s)", name, owner, ttl)
	}
	now = ms(now)
	ok := false
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bLeases)
		var cur leaseRec
		found, err := getJSON(b, []byte(name), &cur)
		if err != nil {
			return err
		}
		if found && cur.Owner != owner && cur.Until.After(now) {
			return nil
		}
		ok = true
		return putJSON(b, []byte(name), leaseRec{Owner: owner, Until: now.Add(ttl)})
	})
	return ok, err
}

func (s *boltStore) ReleaseLease(ctx context.Context, name, owner string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bLeases)
		var cur leaseRec
		found, err := getJSON(b, []byte(name), &cur)
		if err != nil || !found || cur.Owner != owner {
			return err
		}
		return b.Delete([]byte(name))
	})
}

// ---- retention ----

// cullBatch bounds one write transaction so a large cull does not hold the
// writer lock (and grow the file) for long.
const cullBatch = 1000

func (s *boltStore) Cull(ctx context.Context, olderThan time.Time, keepMax int) (int, error) {
	olderThan = ms(olderThan)
	total := 0
	if err := s.view(ctx, func(tx *bolt.Tx) error {
		total = tx.Bucket(bRunsTime).Stats().KeyN
		return nil
	}); err != nil {
		return 0, err
	}
	excess := 0
	if keepMax > 0 && total > keepMax {
		excess = total - keepMax
	}
	deleted := 0
	for {
		n := 0
		err := s.update(ctx, func(tx *bolt.Tx) error {
			c := tx.Bucket(bRunsTime).Cursor()
			runs := tx.Bucket(bRuns)
			for k, _ := c.First(); k != nil && n < cullBatch; k, _ = c.First() {
				byAge := !olderThan.IsZero() && keyTime(k).Before(olderThan)
				if !byAge && deleted+n >= excess {
					break
				}
				var r Run
				if _, err := getRun(runs, k[8:], &r); err != nil {
					return err
				}
				if err := s.deleteRunIndexes(tx, &r); err != nil {
					return err
				}
				if err := runs.Delete(k[8:]); err != nil {
					return err
				}
				if err := deletePrefix(tx.Bucket(bLogs), append([]byte(r.ID), 0)); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		deleted += n
		if err != nil {
			return deleted, err
		}
		if n < cullBatch {
			break
		}
	}
	doneCutoff := doneMessageCutoff(olderThan, s.now())
	err := s.update(ctx, func(tx *bolt.Tx) error {
		msgs, idem := tx.Bucket(bMsgs), tx.Bucket(bMsgIdem)
		var doomed []Message
		err := msgs.ForEach(func(k, v []byte) error {
			var m Message
			if err := json.Unmarshal(v, &m); err != nil {
				return fmt.Errorf("store: decode message %s: %w", k, err)
			}
			if m.Status == MsgDone && m.Updated.Before(doneCutoff) {
				doomed = append(doomed, m)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, m := range doomed {
			if err := msgs.Delete([]byte(m.ID)); err != nil {
				return err
			}
			if m.IdempotencyKey != "" {
				if err := idem.Delete([]byte(m.IdempotencyKey)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return deleted, err
}

func deletePrefix(b *bolt.Bucket, prefix []byte) error {
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

func (s *boltStore) Ping(ctx context.Context) error {
	return s.view(ctx, func(tx *bolt.Tx) error { return nil })
}

func (s *boltStore) Close() error { return s.db.Close() }
