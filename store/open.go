package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/jobmediator/jobmediator/internal/redact"
)

// Defaults for Config.
const (
	DefaultDatabase       = "jobmediator"
	DefaultDataDir        = "data"
	DefaultConnectTimeout = 10 * time.Second
)

// Config chooses and tunes the implementation.
type Config struct {
	// MongoURL selects MongoDB (mongodb:// or mongodb+srv://); empty selects
	// the embedded store. See FromEnv for the environment names.
	MongoURL string
	// Database is the Mongo database; default the URL's path, else "jobmediator".
	Database string
	// DataDir holds the embedded store's file; default "data".
	DataDir string
	// MaxStateBytes caps each stored state (run input/output, step output);
	// default 256 KiB, at most MaxStateBytesLimit.
	MaxStateBytes int
	// Retention is validated by Open; the caller hands it to StartCuller.
	Retention Retention
	// Redactor scrubs stored states, errors and log lines on top of the
	// caller's own redaction; default redact.New() (sensitive key names).
	Redactor *redact.Redactor
	// ConnectTimeout bounds connecting to MongoDB and server selection for
	// every operation; default 10s.
	ConnectTimeout time.Duration
	// Now is the clock for bookkeeping timestamps (tests); default time.Now.
	Now func() time.Time
	// HistoryLinger is how long queued run history may wait for more runs
	// to share its commit (journal.go); default JournalLinger, negative
	// commits as soon as the writer is free. It bounds what a crash can
	// lose of synchronous runs' history.
	HistoryLinger time.Duration
}

// FromEnv fills empty fields from the environment: MONGO_URL, falling back
// to MONGODB_CONNECTION_STRING (the OpenHIM ecosystem's two spellings),
// MONGO_DATABASE, and JM_DATA_DIR.
func (c Config) FromEnv(getenv func(string) string) Config {
	if c.MongoURL == "" {
		c.MongoURL = strings.TrimSpace(getenv("MONGO_URL"))
	}
	if c.MongoURL == "" {
		c.MongoURL = strings.TrimSpace(getenv("MONGODB_CONNECTION_STRING"))
	}
	if c.Database == "" {
		c.Database = strings.TrimSpace(getenv("MONGO_DATABASE"))
	}
	if c.DataDir == "" {
		c.DataDir = strings.TrimSpace(getenv("JM_DATA_DIR"))
	}
	return c
}

// Describe names the chosen backend without secrets (for the boot log).
func (c Config) Describe() string {
	if c.MongoURL != "" {
		db := c.Database
		if db == "" {
			db = databaseFromURL(c.MongoURL)
		}
		if db == "" {
			db = DefaultDatabase
		}
		return fmt.Sprintf("mongo %s database %s", redact.New().URL(c.MongoURL), db)
	}
	dir := c.DataDir
	if dir == "" {
		dir = DefaultDataDir
	}
	return "embedded " + dir
}

// Open validates cfg and opens MongoDB when cfg.MongoURL is set (creating
// indexes), the embedded store otherwise.
func Open(ctx context.Context, cfg Config) (Store, error) {
	if cfg.MaxStateBytes == 0 {
		cfg.MaxStateBytes = DefaultMaxStateBytes
	}
	if cfg.MaxStateBytes < 1024 || cfg.MaxStateBytes > MaxStateBytesLimit {
		return nil, invalid("max state bytes %d out of range [1024, %d]", cfg.MaxStateBytes, MaxStateBytesLimit)
	}
	if cfg.Retention.Days < 0 || cfg.Retention.MaxRuns < 0 {
		return nil, invalid("retention days (%d) and max runs (%d) must not be negative", cfg.Retention.Days, cfg.Retention.MaxRuns)
	}
	if cfg.ConnectTimeout < 0 {
		return nil, invalid("connect timeout %s is negative", cfg.ConnectTimeout)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.Redactor == nil {
		cfg.Redactor = redact.New()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HistoryLinger == 0 {
		cfg.HistoryLinger = JournalLinger
	}
	san := sanitizer{red: cfg.Redactor, maxState: cfg.MaxStateBytes}
	if cfg.MongoURL != "" {
		db := cfg.Database
		if db == "" {
			db = databaseFromURL(cfg.MongoURL)
		}
		if db == "" {
			db = DefaultDatabase
		}
		if strings.ContainsAny(db, `/\. "$`) {
			return nil, invalid("mongo database name %q contains a character MongoDB forbids", db)
		}
		m, err := openMongo(ctx, cfg.MongoURL, db, cfg.ConnectTimeout, san, cfg.Now)
		if err != nil {
			return nil, err
		}
		return newJournal(m, cfg.HistoryLinger), nil
	}
	dir := cfg.DataDir
	if dir == "" {
		dir = DefaultDataDir
	}
	b, err := openBolt(dir, san, cfg.Now)
	if err != nil {
		return nil, err
	}
	// run history goes through the group-commit journal (journal.go)
	return newJournal(b, cfg.HistoryLinger), nil
}

// StartCuller applies retention in the background: once at start, then
// every interval (default 1h) until ctx is done. The returned channel closes
// when it has stopped. With zero retention no runs are culled, but done
// messages past DoneMessageRetention and internal bookkeeping still are, so
// it should always run. logger may be nil.
func StartCuller(ctx context.Context, s Store, r Retention, interval time.Duration, logger logrus.FieldLogger) <-chan struct{} {
	done := make(chan struct{})
	if interval <= 0 {
		interval = time.Hour
	}
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			_, _ = CullOnce(ctx, s, r, time.Now(), logger) // it logs its own failures
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return done
}

// CullOnce applies r at now and logs the outcome; the culler's one step.
func CullOnce(ctx context.Context, s Store, r Retention, now time.Time, logger logrus.FieldLogger) (int, error) {
	var olderThan time.Time
	if r.Days > 0 {
		olderThan = now.AddDate(0, 0, -r.Days)
	}
	n, err := s.Cull(ctx, olderThan, r.MaxRuns)
	if logger != nil {
		if err != nil && ctx.Err() == nil {
			logger.WithError(err).Warn("store: retention cull failed")
		} else if n > 0 {
			logger.WithField("runs", n).Info("store: retention culled old runs")
		}
	}
	return n, err
}
