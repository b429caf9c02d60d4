package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMakeRunReachesTheBinary is the README's first command, run as a user
// runs it: `make run` must leave no shell between make and the mediator, so
// killing make (SIGTERM, which make forwards to its child) or Ctrl-C (SIGINT
// to the terminal's process group) stops the mediator and frees its port;
// CLEAN=1 starts from an empty store.
func TestMakeRunReachesTheBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "jobmediator")
	for _, tt := range []struct {
		name  string
		clean bool
		stop  func(make *exec.Cmd) error
	}{
		{"kill make", true, func(m *exec.Cmd) error { return m.Process.Signal(syscall.SIGTERM) }},
		{"ctrl-c", false, func(m *exec.Cmd) error { return syscall.Kill(-m.Process.Pid, syscall.SIGINT) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			port := freePort(t)
			data := t.TempDir()
			args := []string{"-s", "run", "BIN=" + bin}
			if tt.clean {
				// Garbage where the store goes: serve refuses it unless
				// CLEAN=1 removes it first.
				if err := os.WriteFile(filepath.Join(data, "jobmediator.db"), []byte("a store from an earlier run"), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append(args, "CLEAN=1")
			}
			m := exec.Command("make", args...)
			m.Dir = ".."
			m.Env = append(os.Environ(), fmt.Sprintf("SERVER_PORT=%d", port), "JM_DATA_DIR="+data, "OPENHIM_URL=", "LOG_LEVEL=info")
			// Its own process group, like a terminal's foreground job.
			m.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			var out strings.Builder
			m.Stdout, m.Stderr = &out, &out
			if err := m.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- m.Wait() }()
			t.Cleanup(func() {
				_ = syscall.Kill(-m.Process.Pid, syscall.SIGKILL)
				if t.Failed() {
					t.Logf("make run output:\n%s", out.String())
				}
			})
			url := fmt.Sprintf("http://127.0.0.1:%d/healthz", port)
			healthy := func() bool {
				r, err := http.Get(url)
				if err != nil {
					return false
				}
				r.Body.Close()
				return r.StatusCode == http.StatusOK
			}
			// The first run builds the binary; later ones reuse it.
			waitFor(t, "make run to serve /healthz", 3*time.Minute, func() bool {
				select {
				case err := <-done:
					t.Fatalf("make run exited: %v", err)
				default:
				}
				return healthy()
			})
			if tt.clean && !strings.Contains(out.String(), "CLEAN=1: removed the store") {
				t.Fatalf("no CLEAN message")
			}
			if err := tt.stop(m); err != nil {
				t.Fatal(err)
			}
			select {
			case <-done:
			case <-time.After(45 * time.Second):
				t.Fatal("make did not exit after its mediator was asked to stop")
			}
			// Nothing holds the port any more (no orphaned mediator).
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
			if err == nil {
				c.Close()
				t.Fatal("the port is still served after make exited: the mediator was orphaned")
			}
		})
	}
}
