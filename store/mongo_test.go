package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
	storetest.Run(t, openMongo(srv.URI(), "c"+randSuffix()))
}
