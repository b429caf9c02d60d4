package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/internal/ferret"
	"github.com/jobmediator/jobmediator/store"
	"github.com/jobmediator/jobmediator/store/storetest"
)

// One FerretDB serves the whole package; each test namespace is its own
// database.
var (
	ferretOnce sync.Once
	ferretSrv  *ferret.Server
	ferretErr  error
	ferretDir  string
)

func TestMain(m *testing.M) {
	if os.Getenv(crashHelperEnv) != "" {
		crashHelper() // the child of TestJournalCrash: never returns
	}
	code := m.Run()
	if ferretSrv != nil {
		ferretSrv.Stop()
	}
	if ferretDir != "" {
		os.RemoveAll(ferretDir)
	}
	os.Exit(code)
}

func sharedFerret(t testing.TB) *ferret.Server {
	t.Helper()
	ferretOnce.Do(func() {
		ferretDir, ferretErr = os.MkdirTemp("", "jm-ferret-")
		if ferretErr == nil {
			ferretSrv, ferretErr = ferret.New(ferretDir)
		}
	})
	if ferretErr != nil {
		t.Fatalf("embedded FerretDB: %v", ferretErr)
	}
	return ferretSrv
}

func randSuffix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// dbName turns a test namespace into a valid, unique database name.
func dbName(prefix, ns string) string {
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, ns)
	if len(clean) > 40 {
		clean = clean[len(clean)-40:]
	}
	return prefix + "_" + clean
}

func openMongo(uri, prefix string) storetest.OpenFunc {
	return func(t *testing.T, ns string, cfg store.Config) store.Store {
		t.Helper()
		cfg.MongoURL = uri
		cfg.Database = dbName(prefix, ns)
		cfg.ConnectTimeout = 10 * time.Second
		s, err := store.Open(context.Background(), cfg)
		if err != nil {
			t.Fatalf("open mongo: %v", err)
		}
		return s
	}
}

func TestMongoContract(t *testing.T) {
	srv := sharedFerret(t)
	var opts []storetest.Option
	if raceEnabled {
		// FerretDB (and its pure-Go SQLite) runs in this process, so the race
		// detector instruments it too; its claim query is a full collection
		// scan, and 200 racing claims take minutes. The plain run keeps 200.
		opts = append(opts, storetest.RaceMessages(60))
	}
	storetest.Run(t, openMongo(srv.URI(), "c"+randSuffix()), opts...)
}

// TestMongoServerDownAndBack stops the FerretDB under an open store: Ping
// must fail naming the URL without its password, and once the server is back
// on the same port the same store works again without being reopened.
func TestMongoServerDownAndBack(t *testing.T) {
	srv := ferret.Start(t) // its own server: stopping it must not disturb other tests
	ctx := context.Background()
	s, err := store.Open(ctx, store.Config{MongoURL: srv.URI(), Database: "fault", ConnectTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	run := &store.Run{ID: "before", Workflow: "wf", Started: time.Now()}
	if err := s.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}

	srv.Stop()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = s.Ping(pctx)
	cancel()
	if err == nil {
		t.Fatal("Ping succeeded with the server down")
	}
	if !strings.Contains(err.Error(), srv.URI()) || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("Ping error does not name the server: %v", err)
	}
	if _, err := s.GetRun(ctx, "before"); err == nil {
		t.Fatal("GetRun succeeded with the server down")
	}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err = s.Ping(pctx)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store did not recover after restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	got, err := s.GetRun(ctx, "before")
	if err != nil || got.Workflow != "wf" {
		t.Fatalf("data after restart: %+v, %v", got, err)
	}
	if err := s.CreateRun(ctx, &store.Run{ID: "after", Workflow: "wf", Started: time.Now()}); err != nil {
		t.Fatalf("write after restart: %v", err)
	}
}

// TestMongoErrorsHidePassword opens a live server with a password in the
// URL. FerretDB (no users configured) rejects the SCRAM handshake; that
// error, and any later one, must name the URL with the password masked.
func TestMongoErrorsHidePassword(t *testing.T) {
	srv := sharedFerret(t)
	u := strings.Replace(srv.URI(), "mongodb://", "mongodb://jm:Pw-sekret-42@", 1)
	s, err := store.Open(context.Background(), store.Config{MongoURL: u, Database: "pw" + randSuffix(), ConnectTimeout: 2 * time.Second})
	if err != nil {
		if strings.Contains(err.Error(), "Pw-sekret-42") {
			t.Fatalf("password in error: %v", err)
		}
		if !strings.Contains(err.Error(), "jm:***@") {
			t.Fatalf("error does not name the redacted URL: %v", err)
		}
		t.Logf("open rejected as expected: %v", err)
		return
	}
	defer s.Close()
	_, err = s.GetRun(context.Background(), "missing")
	if !errors.Is(err, store.ErrNotFound) || strings.Contains(err.Error(), "Pw-sekret-42") {
		t.Fatalf("GetRun: %v", err)
	}
}
