// Package e2e holds end-to-end tests: they build the real jobmediator
// binary, start it as a process on loopback next to simulators and
// upstreams, and talk to it over HTTP as OpenHIM core and clients would.
package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/internal/testwait"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "jobmediator-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "jobmediator")
	build := exec.Command("go", "build", "-o", binary, "../cmd/jobmediator")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building jobmediator:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort asks the kernel for an unused loopback port, never one it
// handed out before in this test binary: the kernel can give the same
// free port twice in a row, and tests that restart a mediator rely on
// the new process being at a new address (a channel still routing to the
// old one is what some of them check).
func freePort(t testing.TB) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		if !portsGiven[port] {
			portsGiven[port] = true
			return port
		}
	}
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// proc is a running jobmediator.
type proc struct {
	cmd  *exec.Cmd
	port int
	// client talks to the mediator: plain HTTP, or HTTPS trusting its
	// test CA (startTLS).
	client *http.Client
	scheme string
	mu     sync.Mutex
	logs   strings.Builder
	done   chan error
}

func (p *proc) URL() string {
	scheme := p.scheme
	if scheme == "" {
		scheme = "http"
	}
	return fmt.Sprintf("%s://127.0.0.1:%d", scheme, p.port)
}

// Client is what talks to the mediator (HTTPS-aware with startTLS).
func (p *proc) Client() *http.Client {
	if p.client == nil {
		return http.DefaultClient
	}
	return p.client
}

// Logs returns everything the process wrote so far.
func (p *proc) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// start runs `jobmediator serve` with env (plus SERVER_PORT and a data dir)
// and waits until /healthz answers.
func start(t testing.TB, env map[string]string, args ...string) *proc {
	t.Helper()
	return launch(t, exec.Command(binary, append([]string{"serve"}, args...)...), env)
}

// startCapped is start with the mediator (and the worker processes it
// starts) under an address-space cap of kb KiB (ulimit -v), so a test that
// could exhaust memory cannot take the machine down.
func startCapped(t *testing.T, kb int, env map[string]string, args ...string) *proc {
	t.Helper()
	script := fmt.Sprintf(`ulimit -v %d && exec "$0" serve "$@"`, kb)
	return launch(t, exec.Command("/bin/sh", append([]string{"-c", script, binary}, args...)...), env)
}

// startTLS is start for a mediator serving HTTPS: client (trusting its
// CA) checks health and is p.Client().
func startTLS(t *testing.T, env map[string]string, client *http.Client, args ...string) *proc {
	t.Helper()
	return launchWith(t, exec.Command(binary, append([]string{"serve"}, args...)...), env, &proc{client: client, scheme: "https"})
}

func launch(t testing.TB, cmd *exec.Cmd, env map[string]string) *proc {
	t.Helper()
	return launchWith(t, cmd, env, &proc{})
}

func launchWith(t testing.TB, cmd *exec.Cmd, env map[string]string, p *proc) *proc {
	t.Helper()
	// freePort releases the port before the mediator binds it, and on a busy
	// machine another process (often an outgoing connection of a parallel
	// test package, which draws from the same range) can take it in
	// between. That is the harness's race, not the mediator's: start again
	// on a fresh port, a few times, before calling it a failure.
	for attempt := 1; ; attempt++ {
		err := p.launchOnce(t, cmd, env)
		if err == nil {
			return p
		}
		if attempt < 4 && strings.Contains(p.Logs(), "address already in use") {
			t.Logf("port %d was taken before the mediator bound it; starting again on another", p.port)
			next := exec.Command(cmd.Path, cmd.Args[1:]...)
			next.Dir = cmd.Dir
			cmd = next
			p.mu.Lock()
			p.logs.Reset()
			p.mu.Unlock()
			continue
		}
		t.Fatal(err)
	}
}

// launchOnce starts cmd on a fresh port and waits until /healthz answers;
// it returns an error when the process exits early or never gets healthy.
func (p *proc) launchOnce(t testing.TB, cmd *exec.Cmd, env map[string]string) error {
	t.Helper()
	p.port, p.done = freePort(t), make(chan error, 1)
	p.cmd = cmd
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), fmt.Sprintf("SERVER_PORT=%d", p.port), "JM_DATA_DIR=" + t.TempDir(), "LOG_LEVEL=debug"}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.logs.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
	}()
	go func() { p.done <- p.cmd.Wait(); pw.Close() }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.done:
			<-scanned // every line it wrote is in p.logs
			return fmt.Errorf("jobmediator exited early: %v\n%s", err, p.Logs())
		default:
		}
		resp, err := p.Client().Get(p.URL() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				t.Cleanup(func() {
					p.stop(t)
					if t.Failed() {
						t.Logf("jobmediator logs:\n%s", p.Logs())
					}
				})
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = p.stop(t)
	return fmt.Errorf("jobmediator did not become healthy\n%s", p.Logs())
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t testing.TB) error {
	if p.cmd.ProcessState != nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(40 * time.Second):
		_ = p.cmd.Process.Kill()
		return fmt.Errorf("jobmediator did not stop within 40s of SIGTERM")
	}
}

// waitFor polls cond until it holds or the deadline passes (testwait.For,
// the one waiting helper the tests share).
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	testwait.For(t, what, d, cond)
}

// readyStatus is the status of GET /readyz, 0 when nothing answers.
func readyStatus(p *proc) int {
	r, err := p.Client().Get(p.URL() + "/readyz")
	if err != nil {
		return 0
	}
	r.Body.Close()
	return r.StatusCode
}

// waitReady waits until the mediator reports ready (registered and
// heartbeating when it has a core; its store reachable).
func waitReady(t *testing.T, p *proc) {
	t.Helper()
	waitFor(t, "the mediator to be ready", 20*time.Second, func() bool { return readyStatus(p) == http.StatusOK })
}
