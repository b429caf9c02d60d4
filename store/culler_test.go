package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/jobmediator/jobmediator/store"
)

// cullRecorder is a Store whose Cull records its arguments; the rest of the
// interface is never called here.
type cullRecorder struct {
	store.Store
	olderThan time.Time
	keepMax   int
	n         int
	err       error
}

func (c *cullRecorder) Cull(_ context.Context, olderThan time.Time, keepMax int) (int, error) {
	c.olderThan, c.keepMax = olderThan, keepMax
	return c.n, c.err
}

func TestCullOnce(t *testing.T) {
	now := time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name      string
		r         store.Retention
		n         int
		err       error
		olderThan time.Time
		keepMax   int
		log       string
	}{
		{"days", store.Retention{Days: 30}, 4, nil, now.AddDate(0, 0, -30), 0, "culled old runs"},
		{"max runs only", store.Retention{MaxRuns: 1000}, 0, nil, time.Time{}, 1000, ""},
		{"both", store.Retention{Days: 7, MaxRuns: 10}, 1, nil, now.AddDate(0, 0, -7), 10, "culled old runs"},
		{"failure is logged", store.Retention{Days: 1}, 0, errors.New("disk on fire"), now.AddDate(0, 0, -1), 0, "retention cull failed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			logger, hook := test.NewNullLogger()
			rec := &cullRecorder{n: c.n, err: c.err}
			n, err := store.CullOnce(context.Background(), rec, c.r, now, logger)
			if n != c.n || !errors.Is(err, c.err) {
				t.Fatalf("CullOnce = %d, %v", n, err)
			}
			if !rec.olderThan.Equal(c.olderThan) || rec.keepMax != c.keepMax {
				t.Fatalf("Cull(%v, %d), want (%v, %d)", rec.olderThan, rec.keepMax, c.olderThan, c.keepMax)
			}
			last := hook.LastEntry()
			switch {
			case c.log == "" && last != nil:
				t.Fatalf("unexpected log %q", last.Message)
			case c.log != "" && (last == nil || !strings.Contains(last.Message, c.log)):
				t.Fatalf("log = %v, want %q", last, c.log)
			}
			if c.err != nil && last.Level != logrus.WarnLevel {
				t.Fatalf("failure logged at %s", last.Level)
			}
		})
	}
}

func TestStartCullerRunsUntilCancelled(t *testing.T) {
	// Even with no retention it runs (done messages and bookkeeping expire),
	// culling no runs by age or count.
	rec := &cullRecorder{keepMax: -1, olderThan: time.Now()}
	ctx, cancel := context.WithCancel(context.Background())
	done := store.StartCuller(ctx, rec, store.Retention{}, time.Hour, nil)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("culler did not stop on cancel")
	}
	if rec.keepMax != 0 || !rec.olderThan.IsZero() {
		t.Fatalf("Cull(%v, %d), want the initial Cull(zero, 0)", rec.olderThan, rec.keepMax)
	}
}
