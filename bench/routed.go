package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// routedBody is what the load generator posts: a small FHIR-ish record, the
// typical size of a routed OpenHIM transaction.
var routedBody = []byte(`{"resourceType":"Patient","id":"p-1","name":[{"family":"Doe","given":["Jane"]}],"gender":"female","birthDate":"1990-01-01"}`)

// upstreamReply is the records API's answer to every POST /records.
var upstreamReply = []byte(`{"id":"rec-1","status":"created"}`)

// UpstreamHandler is the records API examples/hello-upstream posts to, as
// the routed bench serves it; the routed-path Go benchmarks use it too, so
// every measurement of that transaction talks to the same upstream.
func UpstreamHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(upstreamReply)
	})
}

// startUpstream serves the records API the example project posts to, in
// this (load generator) process, so it shares the load generator's CPU.
func startUpstream() (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: UpstreamHandler()}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// BareHandler is the baseline: the least a Go program must do for the same
// transaction (read the body, POST it with Basic auth to the upstream
// /records, answer with the upstream's JSON).
func BareHandler(upstream string) http.Handler {
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, upstream+"/records", bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		req.SetBasicAuth("demo", "demo-secret")
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out)
	})
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// server is a process under test, pinned to the server CPU.
type server struct {
	name string
	url  string
	cmd  *exec.Cmd
	log  *os.File
}

func (s *server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-done
		}
	}
	if s.log != nil {
		s.log.Close()
	}
}

// pinned prefixes a command with taskset when pinning is on.
func (cfg *Config) pinned(cpu string, name string, args ...string) *exec.Cmd {
	if cfg.Pin {
		return exec.Command("taskset", append([]string{"-c", cpu, name}, args...)...)
	}
	return exec.Command(name, args...)
}

func (cfg *Config) startServer(name, readyURL, url string, cmd *exec.Cmd) (*server, error) {
	lf, err := os.Create(filepath.Join(cfg.WorkDir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	s := &server{name: name, url: url, cmd: cmd, log: lf}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(readyURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return s, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.stop()
	return nil, fmt.Errorf("%s did not become ready (log: %s)", name, lf.Name())
}

func (cfg *Config) startMediator(name, upstream string, env ...string) (*server, error) {
	return cfg.startProject(name, cfg.Project, upstream, env...)
}

// startProject starts the binary under test serving project.
func (cfg *Config) startProject(name, project, upstream string, env ...string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cfg.WorkDir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	creds := filepath.Join(dir, "credentials.yaml")
	if err := os.WriteFile(creds, []byte(fmt.Sprintf("upstream:\n  baseUrl: %s\n  username: demo\n  password: demo-secret\n", upstream)), 0o600); err != nil {
		return nil, err
	}
	cmd := cfg.pinned("0", cfg.Binary, "serve", "--project", project, "--credentials", creds)
	cmd.Env = append(os.Environ(), "JM_DATA_DIR="+filepath.Join(dir, "data"), fmt.Sprintf("SERVER_PORT=%d", port), "OPENHIM_URL=")
	cmd.Env = append(cmd.Env, cfg.MediatorEnv...)
	cmd.Env = append(cmd.Env, env...)
	if cfg.ProfileDir != "" {
		cmd.Env = append(cmd.Env, "JM_PPROF=true", "JM_API_TOKEN="+profileToken)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	return cfg.startServer(name, base+"/readyz", base+"/hello", cmd)
}

func (cfg *Config) startBare(upstream string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := cfg.pinned("0", self, "bare", "-listen", addr, "-upstream", upstream)
	return cfg.startServer("bare", "http://"+addr+"/ready", "http://"+addr+"/hello", cmd)
}

// ServeBare runs the baseline server until ctx ends (`jmbench bare`).
func ServeBare(ctx context.Context, addr, upstream string) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {})
	mux.Handle("POST /hello", BareHandler(upstream))
	srv := &http.Server{Addr: addr, Handler: mux}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// RoutedScenario is one load shape.
type RoutedScenario struct {
	Name  string
	Conns int // closed loop
	Rate  int // open loop, req/s
}

var routedScenarios = []RoutedScenario{
	{Name: "closed 16", Conns: 16},
	{Name: "closed 64", Conns: 64},
	{Name: "open 500/s", Rate: 500},
	{Name: "open 1000/s", Rate: 1000},
}

// RoutedRow is one scenario for both servers.
type RoutedRow struct {
	Scenario    string `json:"scenario"`
	MediatorRPS Figure `json:"mediatorRps"` // jobs in worker processes (the default)
	// InProcess*: the same binary with JM_ISOLATION=none
	InProcessRPS   Figure `json:"inProcessRps"`
	InProcessRatio Figure `json:"inProcessRatio"`
	InProcessP50   Figure `json:"inProcessP50"`
	InProcessP99   Figure `json:"inProcessP99"`
	BareRPS        Figure `json:"bareRps"`
	Ratio          Figure `json:"ratio"`
	MediatorP50    Figure `json:"mediatorP50"`
	MediatorP99    Figure `json:"mediatorP99"`
	BareP50        Figure `json:"bareP50"`
	BareP99        Figure `json:"bareP99"`
	// CPU per request (µs): user+system time of the server's process tree
	// over the run, divided by the requests it served; CPURatio is bare's
	// over the mediator's, the req/s ratio a fully loaded core would show.
	MediatorCPU       Figure `json:"mediatorCpuUs"`
	InProcessCPU      Figure `json:"inProcessCpuUs"`
	BareCPU           Figure `json:"bareCpuUs"`
	CPURatio          Figure `json:"cpuRatio"`
	InProcessCPURatio Figure `json:"inProcessCpuRatio"`
	// Scripted*: bench/scripted-upstream, a job run in the VM (in a worker
	// process): what a request costs when its job is not declarative
	ScriptedRPS      Figure `json:"scriptedRps"`
	ScriptedRatio    Figure `json:"scriptedRatio"`
	ScriptedP50      Figure `json:"scriptedP50"`
	ScriptedP99      Figure `json:"scriptedP99"`
	ScriptedCPU      Figure `json:"scriptedCpuUs"`
	ScriptedCPURatio Figure `json:"scriptedCpuRatio"`
	Errors           int    `json:"errors"`
	FirstError       string `json:"firstError,omitempty"`
}

func (cfg *Config) runLoad(s *server, sc RoutedScenario) LoadResult {
	t := target{URL: s.url, Body: routedBody}
	if sc.Conns > 0 {
		return closedLoop(t, sc.Conns, cfg.Duration)
	}
	return openLoop(t, sc.Rate, cfg.Duration, 512)
}

// Routed measures the example project through the real binary against the
// bare handler, repeat by repeat interleaved so both see the same machine.
func (cfg *Config) Routed() ([]RoutedRow, error) {
	upstream, stopUp, err := startUpstream()
	if err != nil {
		return nil, err
	}
	defer stopUp()
	// the product as deployed (jobs in worker processes) and with
	// JM_ISOLATION=none (jobs in the daemon): the difference is the cost of
	// isolation
	med, err := cfg.startMediator("mediator", upstream)
	if err != nil {
		return nil, err
	}
	defer med.stop()
	inproc, err := cfg.startMediator("mediator-inprocess", upstream, "JM_ISOLATION=none")
	if err != nil {
		return nil, err
	}
	defer inproc.stop()
	bare, err := cfg.startBare(upstream)
	if err != nil {
		return nil, err
	}
	defer bare.stop()
	servers := []*server{med, inproc, bare}
	var scripted *server
	if cfg.Scripted != "" {
		if scripted, err = cfg.startProject("mediator-scripted", cfg.Scripted, upstream); err != nil {
			return nil, err
		}
		defer scripted.stop()
		servers = []*server{med, inproc, scripted, bare}
	}
	// warm all (VM pools, workers, connection pools)
	for _, s := range servers {
		r := closedLoop(target{URL: s.url, Body: routedBody}, 16, time.Second)
		if r.Requests == 0 {
			return nil, fmt.Errorf("%s answers no request during warm-up: %s (log in %s)", s.name, r.FirstErr, cfg.WorkDir)
		}
	}
	var rows []RoutedRow
	for _, sc := range routedScenarios {
		rps := map[*server][]float64{}
		p50s := map[*server][]float64{}
		p99s := map[*server][]float64{}
		cpus := map[*server][]float64{}
		row := RoutedRow{Scenario: sc.Name}
		for i := 0; i < cfg.Repeats; i++ {
			for _, s := range servers {
				var profiled chan struct{}
				// both mediators: the difference between the two
				// profiles is the cost of isolation
				if s != bare && i == 0 && sc.Conns == 16 && cfg.ProfileDir != "" {
					profiled = cfg.profile(s, s.name+"-closed16")
				}
				cpu0, cpuOK := cpuTime(s.cmd.Process.Pid)
				r := cfg.runLoad(s, sc)
				cpu1, _ := cpuTime(s.cmd.Process.Pid)
				if profiled != nil {
					<-profiled
				}
				perReq := 0.0
				if cpuOK && r.Requests > 0 {
					perReq = float64((cpu1 - cpu0).Microseconds()) / float64(r.Requests)
					cpus[s] = append(cpus[s], perReq)
				}
				row.Errors += r.Errors
				if row.FirstError == "" && r.FirstErr != "" {
					row.FirstError = s.name + ": " + r.FirstErr
				}
				p50, p99 := ms(percentile(r.Latencies, 50)), ms(percentile(r.Latencies, 99))
				rps[s], p50s[s], p99s[s] = append(rps[s], r.RPS()), append(p50s[s], p50), append(p99s[s], p99)
				cfg.progress("routed %-12s %-18s %8.0f req/s p50 %7.2f ms p99 %7.2f ms cpu %6.0f us/req errors %d", sc.Name, s.name, r.RPS(), p50, p99, perReq, r.Errors)
				time.Sleep(300 * time.Millisecond)
			}
		}
		row.MediatorRPS, row.InProcessRPS, row.BareRPS = figure("req/s", rps[med]), figure("req/s", rps[inproc]), figure("req/s", rps[bare])
		row.Ratio, row.InProcessRatio = ratio(row.MediatorRPS, row.BareRPS), ratio(row.InProcessRPS, row.BareRPS)
		row.MediatorP50, row.MediatorP99 = figure("ms", p50s[med]), figure("ms", p99s[med])
		row.InProcessP50, row.InProcessP99 = figure("ms", p50s[inproc]), figure("ms", p99s[inproc])
		row.BareP50, row.BareP99 = figure("ms", p50s[bare]), figure("ms", p99s[bare])
		row.MediatorCPU, row.InProcessCPU, row.BareCPU = figure("µs", cpus[med]), figure("µs", cpus[inproc]), figure("µs", cpus[bare])
		// bare's CPU per request over the mediator's: how many mediator
		// requests a core does per bare request
		row.CPURatio, row.InProcessCPURatio = ratio(row.BareCPU, row.MediatorCPU), ratio(row.BareCPU, row.InProcessCPU)
		if scripted != nil {
			row.ScriptedRPS, row.ScriptedP50, row.ScriptedP99 = figure("req/s", rps[scripted]), figure("ms", p50s[scripted]), figure("ms", p99s[scripted])
			row.ScriptedCPU = figure("µs", cpus[scripted])
			row.ScriptedRatio, row.ScriptedCPURatio = ratio(row.ScriptedRPS, row.BareRPS), ratio(row.BareCPU, row.ScriptedCPU)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

const profileToken = "jmbench-profile-token"

// profile fetches a CPU profile of the mediator covering a load run.
func (cfg *Config) profile(s *server, name string) chan struct{} {
	done := make(chan struct{})
	secs := max(1, int(cfg.Duration.Seconds())-1)
	go func() {
		defer close(done)
		base := strings.TrimSuffix(s.url, "/hello")
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, secs), nil)
		req.Header.Set("Authorization", "Bearer "+profileToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cfg.progress("profile %s: %v", name, err)
			return
		}
		defer resp.Body.Close()
		_ = os.MkdirAll(cfg.ProfileDir, 0o755)
		// where requests wait: the goroutines, taken while the load still runs
		if g, err := http.NewRequest(http.MethodGet, base+"/debug/pprof/goroutine?debug=1", nil); err == nil {
			g.Header.Set("Authorization", "Bearer "+profileToken)
			if gr, err := http.DefaultClient.Do(g); err == nil {
				b, _ := io.ReadAll(gr.Body)
				gr.Body.Close()
				_ = os.WriteFile(filepath.Join(cfg.ProfileDir, name+".goroutines.txt"), b, 0o644)
			}
		}
		path := filepath.Join(cfg.ProfileDir, name+".pprof")
		f, err := os.Create(path)
		if err != nil {
			cfg.progress("profile %s: %v", name, err)
			return
		}
		defer f.Close()
		_, _ = io.Copy(f, resp.Body)
		cfg.progress("profile %s: %s (%s)", name, path, resp.Status)
	}()
	return done
}
