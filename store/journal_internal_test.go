package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/internal/testwait"
)

func lingerRun(i int) *Run {
	return &Run{ID: fmt.Sprintf("r-%04d", i), Workflow: "wf", Status: RunSuccess, Started: time.Now()}
}

// committed reads the store under the journal, which does not wait for
// the queue: it sees only what the writer has committed.
func committed(j *journal, id string) bool {
	_, err := j.Store.GetRun(context.Background(), id)
	return err == nil
}

// TestJournalLingers: queued runs wait for company (here an hour, longer
// than the test) until JournalBatch have queued, which commits them all
// at once; a reader cuts the linger short.
func TestJournalLingers(t *testing.T) {
	s, err := Open(context.Background(), Config{DataDir: t.TempDir(), HistoryLinger: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	j := s.(*journal)
	for i := 0; i < JournalBatch-1; i++ {
		if err := RecordRun(context.Background(), s, lingerRun(i), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if committed(j, "r-0000") {
		t.Fatal("a run was committed alone, without lingering for more")
	}
	if err := RecordRun(context.Background(), s, lingerRun(JournalBatch-1), nil, nil); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "a full batch to be committed without a reader", 30*time.Second, func() bool {
		return committed(j, fmt.Sprintf("r-%04d", JournalBatch-1))
	})
	if !committed(j, "r-0000") {
		t.Fatal("the full batch was committed without its first run")
	}
	// one run lingers again, and a read commits it now
	if err := RecordRun(context.Background(), s, lingerRun(JournalBatch), nil, nil); err != nil {
		t.Fatal(err)
	}
	if committed(j, fmt.Sprintf("r-%04d", JournalBatch)) {
		t.Fatal("a lone run was committed at once, without lingering")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.GetRun(ctx, fmt.Sprintf("r-%04d", JournalBatch)); err != nil {
		t.Fatalf("a read did not cut the linger short: %v", err)
	}
}

// TestJournalLingerEnds: with no reader and a short linger, a lone run is
// committed once the linger is over.
func TestJournalLingerEnds(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(context.Background(), Config{DataDir: dir, HistoryLinger: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := RecordRun(context.Background(), s, lingerRun(1), nil, nil); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "the lone run to be committed after the linger", 30*time.Second, func() bool {
		return committed(s.(*journal), "r-0001")
	})
	// and Close commits what still lingers
	if err := RecordRun(context.Background(), s, lingerRun(2), nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := RecordRun(context.Background(), s, lingerRun(3), nil, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("RecordRun after Close: %v, want ErrClosed", err)
	}
	s, err = Open(context.Background(), Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.GetRun(context.Background(), "r-0002"); err != nil {
		t.Fatalf("the run lingering at Close: %v", err)
	}
}
