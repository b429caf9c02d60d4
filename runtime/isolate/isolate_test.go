package isolate

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jobmediator/jobmediator/adaptors/all"
	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/runtime"
	walker "github.com/jobmediator/jobmediator/workflow"
)

// The test binary doubles as the worker: the pool starts it again with
// this variable set, and TestMain serves runs on fds 3 and 4.
const workerEnv = "JM_ISOLATE_TEST_WORKER"

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) == "1" {
		var o WorkerOptions
		_ = json.Unmarshal([]byte(os.Getenv(OptionsEnv)), &o)
		walk := func(e *runtime.Engine) Runner { return walker.NewLocal(e) }
		var side io.Writer
		if o.SideBudget > 0 {
			side, _ = WorkerPipe(5, "side")
		}
		in, _ := WorkerPipe(3, "requests")
		out, _ := WorkerPipe(4, "replies")
		if err := Serve(in, out, side, o, walk); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func newPool(t *testing.T, o Options) *Pool {
	t.Helper()
	o.Command = []string{os.Args[0]}
	o.Env = append(o.Env, workerEnv+"=1")
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func workflow(key, body string, limit int64) *config.Workflow {
	return &config.Workflow{Key: key, Jobs: []*config.Job{{Key: key, Name: key, Adaptor: "common", Body: body}},
		Options: config.WorkflowOptions{MemoryLimit: limit, Timeout: 60 * time.Second}}
}

func TestRunMatchesInProcess(t *testing.T) {
	p := newPool(t, Options{Warm: 1, Size: 2})
	wf := &config.Workflow{Key: "two", Jobs: []*config.Job{
		{Key: "a", Name: "a", Adaptor: "common", Body: `fn(s => { console.log('hello', s.data.n); return { ...s, data: { n: s.data.n + 1 } }; })`},
		{Key: "b", Name: "b", Adaptor: "common", Body: `fn(s => ({ ...s, data: { n: s.data.n * 10 } }))`},
	}, Edges: []*config.Edge{{Key: "ab", SourceJob: "a", TargetJob: "b", Condition: config.ConditionOnSuccess, Enabled: true}}}
	req := runtime.RunRequest{Workflow: wf, Compat: config.CompatLightning, Input: json.RawMessage(`{"data":{"n":4}}`)}
	want := walker.NewLocal(runtime.New(runtime.Options{})).Run(context.Background(), req)
	for i := 0; i < 3; i++ { // the second and third runs reuse the warm worker
		var streamed []string
		req.Log = func(l runtime.LogLine) { streamed = append(streamed, l.Message) }
		got := p.Run(context.Background(), req)
		if got.Status != want.Status || string(got.State) != string(want.State) || got.Error != nil {
			t.Fatalf("run %d: %s %s %+v, in-process %s %s", i, got.Status, got.State, got.Error, want.Status, want.State)
		}
		if len(got.Steps) != 2 || string(got.Steps[0].Output) != string(want.Steps[0].Output) || got.Steps[1].ID != "b" {
			t.Fatalf("steps %+v", got.Steps)
		}
		if len(got.Logs) != 1 || got.Logs[0].Message != "hello 4" || len(streamed) != 1 {
			t.Fatalf("logs %+v streamed %v", got.Logs, streamed)
		}
	}
	if n := p.Workers(); n != 1 {
		t.Errorf("%d workers alive, want the one warm worker reused", n)
	}
}

// A crashed run's Reached (the state its failing operation was handed,
// which `jobmediator run` writes when there is no final state) comes back
// from the worker as the in-process walk makes it, on the run and its step.
func TestReachedTravels(t *testing.T) {
	p := newPool(t, Options{Warm: 1, Size: 1})
	wf := &config.Workflow{Key: "reach", Jobs: []*config.Job{
		{Key: "a", Name: "a", Adaptor: "common", Body: `fn(s => ({ ...s, data: { n: s.data.n + 1 } }))`},
		{Key: "b", Name: "b", Adaptor: "common", Body: `fn(s => ({ ...s, data: { n: s.data.n * 10 } }));
fn(s => { notDefined(s); return s; });`},
	}, Edges: []*config.Edge{{Key: "ab", SourceJob: "a", TargetJob: "b", Condition: config.ConditionOnSuccess, Enabled: true}}}
	for _, compat := range []config.Compat{config.CompatLightning, config.CompatLegacy} {
		req := runtime.RunRequest{Workflow: wf, Compat: compat, Input: json.RawMessage(`{"data":{"n":4}}`)}
		want := walker.NewLocal(runtime.New(runtime.Options{})).Run(context.Background(), req)
		if want.Reached == nil || !strings.Contains(string(want.Reached), `"n":50`) {
			t.Fatalf("%s: in-process Reached %s: the test needs a run that reaches a state", compat, want.Reached)
		}
		got := p.Run(context.Background(), req)
		if got.Status != want.Status || got.Error == nil || got.Error.Name != want.Error.Name {
			t.Fatalf("%s: %s %+v, in-process %s %+v", compat, got.Status, got.Error, want.Status, want.Error)
		}
		if string(got.Reached) != string(want.Reached) {
			t.Errorf("%s: Reached %s, in-process %s", compat, got.Reached, want.Reached)
		}
		if len(got.Steps) != 2 || got.Steps[0].Reached != nil || string(got.Steps[1].Reached) != string(want.Reached) {
			t.Errorf("%s: step Reached %q %q", compat, got.Steps[0].Reached, got.Steps[len(got.Steps)-1].Reached)
		}
	}
	// a successful run has none
	ok := p.Run(context.Background(), runtime.RunRequest{Workflow: workflow("fine", `fn(s => s)`, 0), Compat: config.CompatLightning, Input: json.RawMessage(`{}`)})
	if ok.Status != runtime.StatusSuccess || ok.Reached != nil {
		t.Errorf("success: %s Reached %s", ok.Status, ok.Reached)
	}
}

func TestExchangesCredentialsAndRedaction(t *testing.T) {
	const secret = "s3cr#t-pass"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"echo":%q}`, string(b))
	}))
	defer srv.Close()
	p := newPool(t, Options{Warm: 1})
	wf := &config.Workflow{Key: "post", Jobs: []*config.Job{{Key: "post", Name: "post", Adaptor: "@openfn/language-http@7.3.2", Credential: "up",
		Body: `post('/x', { body: { pw: state.configuration.password } }); fn(s => { console.log('sent ' + s.configuration.password); return s; })`}}}
	red := redact.New()
	rec := recorder.NewRecorder(red)
	res := p.Run(context.Background(), runtime.RunRequest{Workflow: wf, Compat: config.CompatLightning, Input: json.RawMessage(`{}`),
		Credential: func(k string) (map[string]any, bool) {
			return map[string]any{"baseUrl": srv.URL, "username": "u", "password": secret}, k == "up"
		},
		HTTP: recorder.NewClient(nil, rec), Redactor: red})
	if res.Status != runtime.StatusSuccess {
		t.Fatalf("%s %+v", res.Status, res.Error)
	}
	ex := rec.Exchanges()
	if len(ex) != 1 || ex[0].Response == nil || ex[0].Response.Status != 200 || !strings.HasSuffix(ex[0].Request.URL, "/x") {
		t.Fatalf("exchanges %+v", ex)
	}
	// Final state is the job's product (redacted where it is written down,
	// as in-process); exchanges and logs are redacted in the worker.
	all, _ := json.Marshal([]any{ex, res.Logs})
	if strings.Contains(string(all), secret) || !strings.Contains(string(all), "sent ***") {
		t.Errorf("secret leaked or log missing: %s", all)
	}
}

// bombs each allocate far more than the budget, in the ways a job can.
var bombs = map[string]string{
	"array buffer 1 TB": `fn(s => { new ArrayBuffer(1e12); return s; })`,
	"typed array":       `fn(s => { s.a = new Float64Array(2e9); return s; })`,
	"string repeat":     `fn(s => { s.x = 'x'.repeat(2 ** 29); return s; })`,
	"array fill":        `fn(s => { s.a = Array(2e8).fill(1.5); return s; })`,
	"json parse":        `fn(s => { const t = '[' + '"abcdefgh",'.repeat(2e7) + '1]'; s.v = JSON.parse(t); return s; })`,
	"string flood":      `fn(s => { const keep = []; for (let i = 0; ; i++) keep.push('x'.repeat(8 << 20) + i); })`,
	"object flood":      `fn(s => { const keep = []; for (let i = 0; ; i++) keep.push({ i, name: 'n' + i, tags: [i, i + 1] }); })`,
	"promise chain":     `fn(s => { const keep = []; const step = i => { keep.push({ i, pad: 'p' + i }); return Promise.resolve(i + 1).then(step); }; return step(0); })`,
}

func TestBombsFailAloneWithMemoryLimitError(t *testing.T) {
	p := newPool(t, Options{Warm: 2, Size: 4})
	const limit = 96 << 20
	normal := workflow("normal", `fn(s => { console.log('fine'); return { ...s, data: { ok: true } }; })`, 0)
	for name, body := range bombs {
		t.Run(name, func(t *testing.T) {
			var wg sync.WaitGroup
			stop := make(chan struct{})
			var normals, bad int
			var mu sync.Mutex
			wg.Add(1)
			go func() { // normal runs keep going while the bomb goes off
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					r := p.Run(context.Background(), runtime.RunRequest{Workflow: normal, Input: json.RawMessage(`{}`)})
					mu.Lock()
					normals++
					if r.Status != runtime.StatusSuccess || string(r.State) != `{"data":{"ok":true}}` {
						bad++
						t.Errorf("normal run during the bomb: %s %+v", r.Status, r.Error)
					}
					mu.Unlock()
				}
			}()
			start := time.Now()
			res := p.Run(context.Background(), runtime.RunRequest{Workflow: workflow("bomb", `fn(s => { console.log('before'); return s; });`+body, limit), Input: json.RawMessage(`{}`)})
			close(stop)
			wg.Wait()
			if res.Status != runtime.StatusCrashed || res.Error == nil || res.Error.Name != "MemoryLimitError" ||
				res.Error.Message != "run used more than 96 MB; raise `memory_limit` for this workflow" {
				t.Fatalf("bomb: %s %+v", res.Status, res.Error)
			}
			if len(res.Logs) == 0 || res.Logs[0].Message != "before" {
				t.Errorf("logs so far lost: %+v", res.Logs)
			}
			t.Logf("%s: MemoryLimitError after %v; %d normal runs meanwhile", name, time.Since(start).Round(time.Millisecond), normals)
			if normals == 0 || bad > 0 {
				t.Errorf("%d normal runs, %d bad", normals, bad)
			}
		})
	}
	// the pool still serves
	if r := p.Run(context.Background(), runtime.RunRequest{Workflow: normal, Input: json.RawMessage(`{}`)}); r.Status != runtime.StatusSuccess {
		t.Fatalf("after the bombs: %s %+v", r.Status, r.Error)
	}
}

func TestDeadlineCancelAndDeath(t *testing.T) {
	p := newPool(t, Options{Warm: 1, Size: 2})
	spin := workflow("spin", `fn(s => { console.log('spinning'); while (true) {} })`, 0)
	spin.Options.Timeout = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), spin.Options.Timeout)
	res := p.Run(ctx, runtime.RunRequest{Workflow: spin, Input: json.RawMessage(`{}`)})
	cancel()
	if res.Error == nil || res.Error.Name != "TimeoutError" {
		t.Fatalf("deadline: %s %+v", res.Status, res.Error)
	}
	if len(res.Logs) != 1 || res.Logs[0].Message != "spinning" {
		t.Errorf("deadline: logs so far %+v", res.Logs)
	}

	wait := workflow("wait", `fn(s => new Promise(resolve => setTimeout(() => resolve(s), 60000)))`, 0)
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	res = p.Run(ctx, runtime.RunRequest{Workflow: wait, Input: json.RawMessage(`{}`)})
	if res.Error == nil || res.Error.Name != "CancelledError" {
		t.Fatalf("cancel: %s %+v", res.Status, res.Error)
	}

	// A worker killed from outside mid-run: the run says so, the next run
	// gets a fresh worker.
	go func() {
		time.Sleep(300 * time.Millisecond)
		p.mu.Lock()
		defer p.mu.Unlock()
		for w := range p.all {
			_ = w.cmd.Process.Signal(os.Kill)
		}
	}()
	res = p.Run(context.Background(), runtime.RunRequest{Workflow: wait, Input: json.RawMessage(`{}`)})
	if res.Error == nil || res.Error.Name != "WorkerCrash" || !strings.Contains(res.Error.Message, "killed") {
		t.Fatalf("killed worker: %s %+v", res.Status, res.Error)
	}
	ok := p.Run(context.Background(), runtime.RunRequest{Workflow: workflow("ok", `fn(s => s)`, 0), Input: json.RawMessage(`{"data":1}`)})
	if ok.Status != runtime.StatusSuccess || string(ok.State) != `{"data":1}` {
		t.Fatalf("after a death: %s %s %+v", ok.Status, ok.State, ok.Error)
	}
}

// A worker's outbound calls follow the same redirect policy as the daemon's
// and `jobmediator run`'s (recorder.NoRedirects): a 3xx is the adaptor's
// answer, recorded as one orchestration, so JM_ISOLATION never changes what
// a job sees.
func TestWorkerDoesNotFollowRedirects(t *testing.T) {
	var followed sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/target", http.StatusFound)
			return
		}
		followed.Store(r.URL.Path, true)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok":true}`)
	}))
	defer srv.Close()
	wf := &config.Workflow{Key: "redirect", Jobs: []*config.Job{{Key: "get", Name: "get", Adaptor: "@openfn/language-http@7.3.2", Credential: "up",
		Body: `get('/moved'); fn(s => { console.log('status ' + s.response.statusCode); return s; })`}}}
	run := func(runner interface {
		Run(context.Context, runtime.RunRequest) *runtime.Result
	}) (*runtime.Result, []recorder.Exchange) {
		red := redact.New()
		rec := recorder.NewRecorder(red)
		res := runner.Run(context.Background(), runtime.RunRequest{Workflow: wf, Compat: config.CompatLightning, Input: json.RawMessage(`{}`),
			Credential: func(k string) (map[string]any, bool) { return map[string]any{"baseUrl": srv.URL}, k == "up" },
			HTTP:       recorder.NewClient(nil, rec), Redactor: red})
		return res, rec.Exchanges()
	}
	want, wantEx := run(walker.NewLocal(runtime.New(runtime.Options{})))
	got, gotEx := run(newPool(t, Options{Warm: 1, Size: 1}))
	if len(wantEx) != 1 || wantEx[0].Response == nil || wantEx[0].Response.Status != http.StatusFound {
		t.Fatalf("in-process: exchanges %+v (want one 302)", wantEx)
	}
	if len(gotEx) != 1 || gotEx[0].Response == nil || gotEx[0].Response.Status != http.StatusFound {
		t.Fatalf("worker: exchanges %+v (want one 302, as in-process)", gotEx)
	}
	if got.Status != want.Status || string(got.State) != string(want.State) {
		t.Fatalf("worker %s %s, in-process %s %s", got.Status, got.State, want.Status, want.State)
	}
	if _, ok := followed.Load("/target"); ok {
		t.Fatal("a client followed the redirect to /target")
	}
}

// A worker is sent a run's credentials and secrets only when they differ
// from the last run's: each run still sees its own, and a run's redactor
// does not keep what an earlier run taught it.
func TestRunContextFollowsEachRun(t *testing.T) {
	p := newPool(t, Options{Warm: 1, Size: 1})
	wf := &config.Workflow{Key: "cred", Jobs: []*config.Job{{Key: "a", Name: "a", Adaptor: "common", Credential: "up",
		Body: `fn(s => { console.log('pw ' + s.configuration.password + ' other ' + s.data.other); return { data: { pw: s.configuration.password } }; })`}}}
	run := func(pw, other string) *runtime.Result {
		red := redact.New()
		red.AddSecretsFrom(map[string]any{"password": pw})
		return p.Run(context.Background(), runtime.RunRequest{Workflow: wf, Compat: config.CompatLightning, Redactor: red,
			Input:      json.RawMessage(`{"data":{"other":"` + other + `"}}`),
			Credential: func(k string) (map[string]any, bool) { return map[string]any{"password": pw}, k == "up" }})
	}
	for i, c := range []struct{ pw, other string }{
		{"alpha-secret-1", "beta-secret-22"}, // the next run's secret is not one of this run's
		{"beta-secret-22", "alpha-secret-1"}, // nor the last run's one of this run's
		{"beta-secret-22", "alpha-secret-1"}, // unchanged: not sent again
		{"alpha-secret-1", "x"},
	} {
		res := run(c.pw, c.other)
		if res.Status != runtime.StatusSuccess || !strings.Contains(string(res.State), c.pw) {
			t.Fatalf("run %d: %s %+v state %s, want password %s", i, res.Status, res.Error, res.State, c.pw)
		}
		if len(res.Logs) != 1 || res.Logs[0].Message != "pw *** other "+c.other {
			t.Errorf("run %d: logs %+v", i, res.Logs)
		}
	}
	if n := p.Workers(); n != 1 {
		t.Errorf("%d workers, want the one", n)
	}
}

// Log lines travel on the side pipe, which the mediator reads only when
// the worker nudges it, on ticks, before a result and after a death:
// megabytes of lines (several times the pipe) all arrive, in order, both
// when the run ends normally and when its worker dies at once.
func TestManyLogLinesArriveInOrder(t *testing.T) {
	p := newPool(t, Options{Warm: 1, Size: 1})
	const lines = 3000 // 3 MB
	logLoop := `fn(s => { const pad = 'x'.repeat(1000); for (let i = 0; i < ` + fmt.Sprint(lines) + `; i++) console.log('line ' + i + ' ' + pad); return s; });`
	for _, c := range []struct {
		name, tail string
		status     runtime.Status
	}{
		{"ends", ``, runtime.StatusSuccess},
		{"dies", `fn(s => { new ArrayBuffer(1e12); return s; });`, runtime.StatusCrashed},
	} {
		t.Run(c.name, func(t *testing.T) {
			streamed := 0
			res := p.Run(context.Background(), runtime.RunRequest{Workflow: workflow("logs", logLoop+c.tail, 64<<20), Input: json.RawMessage(`{}`),
				Log: func(runtime.LogLine) { streamed++ }})
			if res.Status != c.status {
				t.Fatalf("%s %+v", res.Status, res.Error)
			}
			if len(res.Logs) != lines || streamed != lines {
				t.Fatalf("%d lines kept, %d streamed, want %d", len(res.Logs), streamed, lines)
			}
			for i, l := range res.Logs {
				if !strings.HasPrefix(l.Message, fmt.Sprintf("line %d x", i)) {
					t.Fatalf("line %d is %.20q", i, l.Message)
				}
			}
		})
	}
}

// Close asks the workers to stop before it kills them: an idle worker
// exits by itself, cleanly (a worker's CPU profile is written then).
func TestCloseLetsIdleWorkersExit(t *testing.T) {
	p := newPool(t, Options{Warm: 2, Size: 2})
	p.mu.Lock()
	var ws []*proc
	for w := range p.all {
		ws = append(ws, w)
	}
	p.mu.Unlock()
	if len(ws) != 2 {
		t.Fatalf("%d workers", len(ws))
	}
	_ = p.Close()
	for _, w := range ws {
		<-w.exited
		if !w.cmd.ProcessState.Success() {
			t.Errorf("worker %d: %s, want a clean exit", w.cmd.Process.Pid, w.cmd.ProcessState)
		}
	}
}
