// Package ferret runs an in-process FerretDB (v1, SQLite handler, a temp
// directory, a loopback port) so tests can exercise the MongoDB store with
// the real driver and wire protocol and no external server.
//
// Test-only: import it from _test.go files only, so the production binary
// never links FerretDB. It embeds FerretDB through its `ferretdb` package
// because running FerretDB's own command from the module cache panics on a
// missing version file.
package ferret

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// Server is one embedded FerretDB listening on 127.0.0.1.
type Server struct {
	mu     sync.Mutex
	dir    string
	addr   string // host:port, fixed after the first start so restarts reuse it
	cancel context.CancelFunc
	done   chan struct{}
}

// Start runs a FerretDB for the test (or the whole package, when tb is a
// *testing.M wrapper) and stops it in tb.Cleanup.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := New(tb.TempDir())
	if err != nil {
		tb.Fatalf("ferret: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// New starts a FerretDB storing its SQLite files in dir (which must exist).
// The caller must call Stop.
func New(dir string) (*Server, error) {
	s := &Server{dir: dir, addr: "127.0.0.1:0"}
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) start() error {
	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: s.addr},
		Handler:  "sqlite",
		// synchronous(OFF): test data need not survive an OS crash, and
		// fsync per write dominates test time on a shared disk.
		SQLiteURL: "file:" + s.dir + string(os.PathSeparator) + "?_pragma=synchronous(OFF)",
		Logger:    logger(),
	})
	if err != nil {
		return fmt.Errorf("start FerretDB on %s: %w", s.addr, err)
	}
	// MongoDBURI reports the bound address; keep it so Restart reuses the port.
	uri := f.MongoDBURI()
	host := uri[len("mongodb://"):]
	if i := len(host) - 1; i >= 0 && host[i] == '/' {
		host = host[:i]
	}
	if _, _, err := net.SplitHostPort(host); err != nil {
		return fmt.Errorf("FerretDB reported an unexpected URI %q", uri)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Run returns when ctx is cancelled by Close; a failure to serve
		// shows as the tests' connection errors.
		_ = f.Run(ctx)
	}()
	s.addr, s.cancel, s.done = host, cancel, done
	return nil
}

// URI is the mongodb:// URL of the server (stable across Restart).
func (s *Server) URI() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "mongodb://" + s.addr + "/"
}

// Addr is host:port.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Stop shuts the server down and waits (bounded) for it to finish.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *Server) stopLocked() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
	}
	s.cancel, s.done = nil, nil
}

// Restart starts the server again on the same port and data directory
// (after Stop, or stopping it first), to test reconnection.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
	var err error
	// The old listener's port can take a moment to be reusable.
	for i := 0; i < 50; i++ {
		if err = s.start(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// logger discards FerretDB's own logs unless FERRET_LOG is set (debugging).
func logger() *slog.Logger {
	if os.Getenv("FERRET_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
