package store_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/store"
)

// crashHelperEnv makes the test binary the crashing daemon of
// TestJournalCrash: it holds the store config (data dir or Mongo URL and
// database) as "bolt <dir>" or "mongo <url> <db>".
const crashHelperEnv = "JM_STORE_CRASH_HELPER"

func crashConfig(spec string) store.Config {
	f := strings.Fields(spec)
	cfg := store.Config{}
	switch {
	case len(f) == 2 && f[0] == "bolt":
		cfg.DataDir = f[1]
	case len(f) == 3 && f[0] == "mongo":
		cfg.MongoURL, cfg.Database = f[1], f[2]
	default:
		panic("bad " + crashHelperEnv + ": " + spec)
	}
	return cfg
}

func crashRun(id string) *store.Run {
	return &store.Run{ID: id, Workflow: "crash", Status: store.RunSuccess, Started: time.Now(), Finished: time.Now()}
}

// crashHelper does what a daemon does around a crash, with a linger far
// longer than the test so nothing is committed by the timer, prints
// "ready" and waits to be killed.
func crashHelper() {
	fail := func(err error) {
		fmt.Println("error:", err)
		os.Exit(3)
	}
	ctx := context.Background()
	cfg := crashConfig(os.Getenv(crashHelperEnv))
	cfg.HistoryLinger = time.Hour
	s, err := store.Open(ctx, cfg)
	if err != nil {
		fail(err)
	}
	onErr := func(err error) { fail(err) }
	// a synchronous run, then a read: the read waits for the commit
	if err := store.RecordRun(ctx, s, crashRun("read-after"), nil, onErr); err != nil {
		fail(err)
	}
	if _, err := s.ListRuns(ctx, store.RunFilter{Limit: 1}); err != nil {
		fail(err)
	}
	// a queued message's run, then its Complete: Complete waits for the
	// history queued before it
	run := &store.Message{ID: "ran", Kind: store.KindAsync, Workflow: "crash"}
	if err := s.Enqueue(ctx, run); err != nil {
		fail(err)
	}
	m, err := s.Claim(ctx, "crasher", time.Minute, time.Now().Add(time.Second))
	if err != nil {
		fail(err)
	}
	if err := store.RecordRun(ctx, s, crashRun("before-complete"), nil, onErr); err != nil {
		fail(err)
	}
	if err := s.Complete(ctx, m.ID, "crasher"); err != nil {
		fail(err)
	}
	// an async request: acknowledged once Enqueue returns
	acked := &store.Message{ID: "acked", Kind: store.KindAsync, Workflow: "crash"}
	if err := s.Enqueue(ctx, acked); err != nil {
		fail(err)
	}
	// synchronous runs answered within the linger: what a crash loses
	for _, id := range []string{"lingering-1", "lingering-2"} {
		if err := store.RecordRun(ctx, s, crashRun(id), nil, onErr); err != nil {
			fail(err)
		}
	}
	fmt.Println("ready")
	select {}
}

// TestJournalCrash kills a process holding the store (SIGKILL, no Close)
// and reopens it: what the README promises survives (history a read or a
// queue transition waited for, acknowledged async requests, a completed
// message), and what it says a crash may lose (synchronous runs answered
// within the linger, not yet committed) is indeed all that is gone.
func TestJournalCrash(t *testing.T) {
	specs := map[string]func(t *testing.T) string{
		"bolt":  func(t *testing.T) string { return "bolt " + t.TempDir() },
		"mongo": func(t *testing.T) string { return "mongo " + sharedFerret(t).URI() + " crash" + randSuffix() },
	}
	for _, name := range []string{"bolt", "mongo"} {
		t.Run(name, func(t *testing.T) {
			spec := specs[name](t)
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), crashHelperEnv+"="+spec)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// a helper stuck waiting for a commit is killed too, and
			// fails the test by not having said ready
			stuck := time.AfterFunc(time.Minute, func() { _ = cmd.Process.Kill() })
			line, _ := bufio.NewReader(out).ReadString('\n')
			stuck.Stop()
			_ = cmd.Process.Kill()
			_ = cmd.Wait() // killed: its error is the signal
			if strings.TrimSpace(line) != "ready" {
				t.Fatalf("crash helper said %q, want ready", line)
			}
			ctx := context.Background()
			s, err := store.Open(ctx, crashConfig(spec))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for _, id := range []string{"read-after", "before-complete"} {
				if _, err := s.GetRun(ctx, id); err != nil {
					t.Errorf("run %s lost in the crash: %v", id, err)
				}
			}
			for _, id := range []string{"lingering-1", "lingering-2"} {
				if _, err := s.GetRun(ctx, id); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("run %s, still in the linger at the crash: %v, want ErrNotFound", id, err)
				}
			}
			if m, err := s.GetMessage(ctx, "acked"); err != nil || m.Status != store.MsgPending {
				t.Errorf("acknowledged async message after the crash: %+v, %v", m, err)
			}
			if m, err := s.GetMessage(ctx, "ran"); err != nil || m.Status != store.MsgDone {
				t.Errorf("completed message after the crash: %+v, %v", m, err)
			}
		})
	}
}
