package store_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jobmediator/jobmediator/store"
	"github.com/jobmediator/jobmediator/store/storetest"
)

// openBolt maps a namespace to a directory under one temp root per top-level
// test, so reopening the same namespace finds the same file.
func openBolt(root string) storetest.OpenFunc {
	return func(t *testing.T, ns string, cfg store.Config) store.Store {
		t.Helper()
		cfg.DataDir = filepath.Join(root, ns)
		s, err := store.Open(context.Background(), cfg)
		if err != nil {
			t.Fatalf("open bolt: %v", err)
		}
		return s
	}
}

func TestBoltContract(t *testing.T) {
	storetest.Run(t, openBolt(t.TempDir()))
}

func TestBoltDirectoryLockedByAnotherStore(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(context.Background(), store.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = store.Open(context.Background(), store.Config{DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second open of the same data dir: %v", err)
	}
}
