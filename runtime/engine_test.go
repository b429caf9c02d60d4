package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dop251/goja"

	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/redact"
)

func TestProfilesFinalState(t *testing.T) {
	body := `fn(s => ({ ...s, response: { status: 200 }, done: true }));`
	cred := func(j *config.Job, r *RunRequest) {
		j.Credential = "c"
		r.Credential = func(string) (map[string]any, bool) { return map[string]any{"user": "u"}, true }
	}
	res, st := runBody(t, nil, config.CompatLegacy, body, `{"data":{"a":1}}`, cred)
	mustSucceed(t, res)
	jsonEq(t, st, `{"data":{"a":1},"configuration":{"user":"u"},"response":{"status":200},"done":true}`)
	res, st = runBody(t, nil, config.CompatLightning, body, `{"data":{"a":1}}`, cred)
	mustSucceed(t, res)
	jsonEq(t, st, `{"data":{"a":1},"done":true}`)
}

func TestInputAssembly(t *testing.T) {
	defaults := func(j *config.Job, r *RunRequest) {
		j.State = map[string]any{"data": map[string]any{"d": 1, "a": 0}, "extra": "x"}
		j.Configuration = map[string]any{"inline": 1, "over": "job"}
		j.Credential = "c"
		r.Credential = func(string) (map[string]any, bool) { return map[string]any{"over": "cred"}, true }
	}
	body := `fn(s => ({ ...s, seen: s.configuration }))`
	res, st := runBody(t, nil, config.CompatLightning, body, `{"data":{"a":1}}`, defaults)
	mustSucceed(t, res)
	jsonEq(t, st, `{"extra":"x","data":{"d":1,"a":1},"seen":{"inline":1,"over":"cred"}}`)
	// array data is kept as is; no input at all gives {data:{}}
	res, st = runBody(t, nil, config.CompatLightning, `fn(s => s)`, `{"data":[1,2]}`, defaults)
	mustSucceed(t, res)
	jsonEq(t, st["data"], `[1,2]`)
	res, st = runBody(t, nil, config.CompatLightning, `fn(s => s)`, ``)
	mustSucceed(t, res)
	jsonEq(t, st, `{"data":{}}`)
}

func TestLegacyGlobalsAndSequences(t *testing.T) {
	// state is the input state while arguments are evaluated; comma
	// sequences are operations; top-level console.log is skipped.
	body := `console.log('loading', state.data.flag);
fnIf(state.data.flag, fn(s => ({ ...s, ran: true }))), fn(s => ({ ...s, second: true }));
fn(s => { counter = (typeof counter === 'undefined' ? 0 : counter) + 1; return { ...s, counter }; });`
	res, st := runBody(t, nil, config.CompatLegacy, body, `{"data":{"flag":true}}`)
	mustSucceed(t, res)
	if st["ran"] != true || st["second"] != true || st["counter"] != float64(1) {
		t.Errorf("state %v", st)
	}
	var warned bool
	for _, l := range res.Logs {
		if l.Level == "warn" && strings.Contains(l.Message, "Operation 1 is undefined") {
			warned = true
		}
	}
	if !warned || res.Logs[0].Message != "loading true" {
		t.Errorf("logs %+v", res.Logs)
	}
	// lightning: the sequence is discarded, the console.log op is invalid
	res, _ = runBody(t, nil, config.CompatLightning, `fn(s => s), fn(s => s);`, `{}`)
	mustSucceed(t, res)
	res, _ = runBody(t, nil, config.CompatLightning, body, `{"data":{"flag":true}}`)
	if res.Status != StatusCrashed || res.Error.Name != "RuntimeCrash" || res.Error.Subtype != "InvalidOperationError" || res.Error.Message != "InvalidOperationError: Invalid operation at statement 0" {
		t.Errorf("lightning console.log op: %s %+v", res.Status, res.Error)
	}
}

func TestImplicitGlobal(t *testing.T) {
	body := "fn(s => { total = 3; return { ...s, total }; });"
	res, st := runBody(t, nil, config.CompatLegacy, body, `{}`)
	mustSucceed(t, res)
	if st["total"] != float64(3) {
		t.Errorf("legacy implicit global: %v", st)
	}
	res, st = runBody(t, nil, config.CompatLightning, body, `{}`)
	if res.Status != StatusCrashed || res.Error.Name != "RuntimeCrash" || !strings.Contains(res.Error.Message, "ReferenceError") || res.Error.Line != 1 {
		t.Errorf("lightning implicit global: %s %+v", res.Status, res.Error)
	}
	if st != nil {
		t.Errorf("crash produced state %v", st)
	}
}

func TestErrorClassification(t *testing.T) {
	cases := []struct {
		body, name, severity, msg string
		line                      int
	}{
		{"fn(s => { throw 'Province user not found' })", "JobError", "fail", "Province user not found", 0},
		{"fn(s => {\n  throw new Error('boom')\n})", "JobError", "fail", "boom", 2},
		{"fn(s => { throw { a: 1 } })", "JobError", "fail", `{"a":1}`, 0},
		{"fn(s => s.x.y.z)", "RuntimeError", "fail", "TypeError", 1},
		{"fn(s => {\n\n  return nosuch;\n})", "RuntimeCrash", "crash", "ReferenceError: nosuch is not defined", 3},
		{"fn(s => eval('1'))", "SecurityError", "kill", "Illegal eval", 0},
		{"fn(s => new Function('return 1')())", "SecurityError", "kill", "Illegal eval", 0},
		{"fn(s => (async () => {}).constructor('return 1')())", "SecurityError", "kill", "Illegal eval", 0},
		{"fn(s => Object.getPrototypeOf(function* () {}).constructor('return 1')())", "SecurityError", "kill", "Illegal eval", 0},
		{"each(null, fn(s => s))", "RuntimeError", "fail", "TypeError: dataSource argument for each operation is invalid", 0},
		{"fn(s => s);\neach(s => 5, fn(s => s))", "AdaptorError", "fail", "reduce", 2},
		{"assert(false, 'must hold')", "AdaptorError", "fail", "must hold", 0},
		{"fn(s => {\n  const f = n => f(n + 1);\n  return f(0);\n})", "RuntimeError", "fail", "RangeError: Maximum call stack size exceeded", 0},
	}
	for _, c := range cases {
		t.Run(c.body, func(t *testing.T) {
			res, st := runBody(t, nil, config.CompatLightning, c.body, `{"data":{}}`)
			e := res.Error
			if e == nil {
				t.Fatalf("no error, status %s", res.Status)
			}
			if e.Name != c.name || e.Severity != c.severity || !strings.Contains(e.Message, c.msg) || e.Step != "job-a" {
				t.Errorf("got %+v", e)
			}
			if c.line != 0 && e.Line != c.line {
				t.Errorf("line %d, want %d", e.Line, c.line)
			}
			if c.severity == "fail" {
				errs, _ := st["errors"].(map[string]any)
				ej, _ := errs["job-a"].(map[string]any)
				if ej["name"] != c.name || ej["severity"] != "fail" || ej["source"] != "runtime" {
					t.Errorf("errors[job-a] = %v", st["errors"])
				}
			}
		})
	}
}

func TestThrowInsideEachNamesJobAndLine(t *testing.T) {
	body := `fn(s => s);
each('$.data.items[*]', fn(s => {
  if (s.data === 2) throw new Error('bad item ' + s.data);
  return s;
}));`
	for _, compat := range []config.Compat{config.CompatLegacy, config.CompatLightning} {
		res, st := runBody(t, nil, compat, body, `{"data":{"items":[1,2,3]}}`)
		if res.Status != StatusFailed || res.Error.Step != "job-a" || res.Error.Line != 3 || res.Error.Message != "bad item 2" {
			t.Errorf("%s: %s %+v", compat, res.Status, res.Error)
		}
		if compat == config.CompatLegacy && st != nil {
			t.Errorf("legacy failed run has a final state: %v", st)
		}
		if compat == config.CompatLightning && st["errors"] == nil {
			t.Errorf("lightning failed step lacks errors: %v", st)
		}
	}
}

func TestPromisesAndTimers(t *testing.T) {
	body := `fn(async s => { await new Promise(r => setTimeout(r, 10)); return { ...s, waited: true }; });
fn(s => new Promise(r => setTimeout(() => r({ ...s, timer: true }), 5)));
fn(s => { throw new Error('x') }).catch((e, s) => ({ ...s, caught: e.message }));
fn(s => s).then(s => ({ ...s, then: 1 })).then(s => ({ ...s, then: s.then + 1 }));
fn(s => { const id = setTimeout(() => { throw new Error('cleared timer ran') }, 1); clearTimeout(id); return s; });`
	for _, compat := range []config.Compat{config.CompatLegacy, config.CompatLightning} {
		res, st := runBody(t, nil, compat, body, `{"data":{}}`)
		mustSucceed(t, res)
		if st["waited"] != true || st["timer"] != true || st["caught"] != "x" || st["then"] != float64(2) {
			t.Errorf("%s: %v", compat, st)
		}
	}
	res, _ := runBody(t, nil, config.CompatLightning, `fn(() => new Promise(() => {}))`, `{}`)
	if res.Status != StatusCrashed || !strings.Contains(res.Error.Message, "never settled") {
		t.Errorf("unsettled promise: %+v", res.Error)
	}
}

func TestDeadlines(t *testing.T) {
	e := New(Options{StepTimeout: 100 * time.Millisecond})
	// The job's own code past the deadline is a broken job: no transport
	// code, so nobody retries it.
	for _, body := range []string{
		`fn(s => { while (true) {} })`,
		`fn(() => new Promise(r => setTimeout(r, 60000)))`,
		// in a getter the native JSON.stringify reads, and in one of the
		// final state (serialised natively after the operations)
		`fn(s => { JSON.stringify({ a: 1, get b() { while (true) {} } }); return s; })`,
		`fn(s => ({ ...s, get b() { while (true) {} } }))`,
	} {
		res, st := runBody(t, e, config.CompatLightning, body, `{}`)
		if res.Status != StatusCrashed || res.Error == nil || res.Error.Name != "TimeoutError" || res.Error.Severity != "kill" ||
			res.Error.Transient() || !strings.Contains(res.Error.Message, "its own code") {
			t.Errorf("%s: %s %+v", body, res.Status, res.Error)
		}
		if st != nil {
			t.Errorf("killed step produced state")
		}
	}
	// An upstream still answering at the deadline is a transport timeout,
	// worth a retry.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	for _, adaptor := range []string{"@openfn/language-http@7", "@openfn/language-http@5.0.4"} {
		res, _ := runBody(t, e, config.CompatLightning, `get('/slow');`, `{}`, func(j *config.Job, r *RunRequest) {
			j.Adaptor, j.Credential = adaptor, "up"
			r.Credential = func(string) (map[string]any, bool) { return map[string]any{"baseUrl": hang.URL}, true }
		})
		if res.Error == nil || res.Error.Name != "TimeoutError" || !res.Error.Transient() || res.Error.Code != "ETIMEDOUT" ||
			!strings.Contains(res.Error.Message, "external system") {
			t.Errorf("%s blocked on an upstream: %s %+v", adaptor, res.Status, res.Error)
		}
	}
	// the engine still works afterwards (the interrupted VM was dropped)
	res, _ := runBody(t, e, config.CompatLightning, `fn(s => ({ ok: 1 }))`, `{}`)
	mustSucceed(t, res)
	// a run deadline also bounds the workflow
	e = New(Options{RunTimeout: 100 * time.Millisecond})
	res, _ = runBody(t, e, config.CompatLegacy, `fn(s => { for (;;) {} })`, `{}`)
	if res.Error == nil || res.Error.Name != "TimeoutError" {
		t.Errorf("run deadline: %+v", res.Error)
	}
}

func TestStateLimits(t *testing.T) {
	e := New(Options{MaxStateBytes: 10000, MaxInputBytes: 100})
	res, _ := runBody(t, e, config.CompatLightning, `fn(s => { const big = []; for (let i = 0; i < 1000; i++) big.push('item-' + i); return { ...s, big }; })`, `{}`)
	if res.Error == nil || res.Error.Name != "StateTooLargeError" || res.Error.Severity != "kill" || !strings.Contains(res.Error.Message, "over the limit of 10000 bytes") {
		t.Errorf("state cap: %+v", res.Error)
	}
	res, _ = runBody(t, e, config.CompatLightning, `fn(s => s)`, `{"data":"`+strings.Repeat("x", 200)+`"}`)
	if res.Error == nil || res.Error.Name != "StateTooLargeError" || !strings.Contains(res.Error.Message, "input state") {
		t.Errorf("input cap: %+v", res.Error)
	}
}

func TestFinalStateSerialization(t *testing.T) {
	body := `fn(s => {
  const o = { keep: 1, f: () => 1, u: undefined, d: new Date(Date.UTC(2025, 0, 2)), n: NaN, 2: 'two', 1: 'one' };
  o.self = o;
  o.list = [1, undefined, () => 2];
  return { ...s, o };
});`
	res, st := runBody(t, nil, config.CompatLightning, body, `{}`)
	mustSucceed(t, res)
	jsonEq(t, st["o"], `{"1":"one","2":"two","keep":1,"d":"2025-01-02T00:00:00.000Z","n":null,"self":"[Circular]","list":[1,null,null]}`)
	if !strings.Contains(string(res.State), `"o":{"1":"one","2":"two","keep":1`) {
		t.Errorf("JS key order lost: %s", res.State)
	}
}

func TestPoolReuseWithoutLeaks(t *testing.T) {
	e := New(Options{PoolSize: 1})
	res, _ := runBody(t, e, config.CompatLegacy, `leaked = 42; var topVar = 1; fn = null; Array.isArray; console.log('x');`, `{}`)
	mustSucceed(t, res)
	res, st := runBody(t, e, config.CompatLegacy, `fn(s => ({ leaked: typeof leaked, topVar: typeof topVar, fn: typeof fn }))`, `{}`)
	mustSucceed(t, res)
	jsonEq(t, st, `{"leaked":"undefined","topVar":"undefined","fn":"function"}`)
	p, _ := e.pool("@openfn/language-common@3.3.4", config.CompatLegacy)
	if len(p.idle) != 1 {
		t.Errorf("pool holds %d VMs, want 1 reused", len(p.idle))
	}
	// lightning top-level const does not collide across runs on one VM
	for i := 0; i < 2; i++ {
		res, _ = runBody(t, e, config.CompatLightning, `const x = 1; fn(s => ({ x }))`, `{}`)
		mustSucceed(t, res)
	}
}

// A lightning step's reset checks only the globals its source names
// (compiled.globals); every way a strict job can write a global must still
// be undone before the next step on the VM.
func TestPoolReuseWithoutLeaksLightning(t *testing.T) {
	e := New(Options{PoolSize: 1})
	for _, body := range []string{
		`fn = null; each = 1; fnIf = 2;`,
		`[each, ...fnIf] = [null]; ({ fn } = {}); fn(s => s)`,
		`\u0065ach = 3; fn(s => s)`,
		`globalThis.leaked = 1; globalThis['dyn' + 'amic'] = 2; fn = 3; fn(s => s)`,
		`fn(s => { globalThis.later = s; return s; })`,
		`const g = globalThis; fn(s => { g.viaAlias = 1; Object.assign(g, { each: 0, assigned: 1 }); return s; })`,
		`fn(s => { state = 'x'; return s; })`,
	} {
		res, _ := runBody(t, e, config.CompatLightning, body, `{}`)
		if res.Error != nil && res.Error.Name == "CompileError" {
			t.Fatalf("%s: %+v", body, res.Error)
		}
		p, _ := e.pool("common", config.CompatLightning)
		var sl *slot
		select {
		case sl = <-p.idle:
		default:
			t.Fatalf("%s: the VM was not put back", body)
		}
		if v := sl.vm.Get("state"); v != nil {
			t.Errorf("%s: state left on the VM: %v", body, v)
		}
		if v := sl.vm.Get("__jmState"); v == nil || !goja.IsUndefined(v) {
			t.Errorf("%s: __jmState left on the VM: %v", body, v)
		}
		p.put(sl)
		res, st := runBody(t, e, config.CompatLightning, `fn(s => ({ t: [typeof fn, typeof each, typeof fnIf, typeof leaked, typeof dynamic, typeof later, typeof viaAlias, typeof assigned] }))`, `{}`)
		mustSucceed(t, res)
		jsonEq(t, st, `{"t":["function","function","function","undefined","undefined","undefined","undefined","undefined"]}`)
	}
	if c, err := compileJob("j", `globalThis.x = 1; fn(s => s)`, config.CompatLightning); err != nil || c.globals != nil {
		t.Errorf("globalThis: every global is checked, got %v %v", c.globals, err)
	}
	if c, err := compileJob("j", `fn(s => s)`, config.CompatLegacy); err != nil || c.globals != nil {
		t.Errorf("legacy: every global is checked, got %v %v", c.globals, err)
	}
	if c, err := compileJob("j", "fn(s => ({ café: s.x1 }));\u00a0each\u00a0= 1;", config.CompatLightning); err != nil ||
		!slices.Contains(c.globals, "café") || !slices.Contains(c.globals, "x1") || !slices.Contains(c.globals, "each") {
		t.Errorf("words: %v %v", c.globals, err)
	}
}

func TestConsoleCaptureRedacts(t *testing.T) {
	var streamed []LogLine
	var mu sync.Mutex
	res, _ := runBody(t, nil, config.CompatLightning, `fn(s => {
  console.log('password is', s.configuration.password);
  console.warn({ conf: s.configuration, n: 1 });
  console.error(new Error('failed with hunter2-secret'));
  console.debug('debugging');
  return s;
});`, `{}`, func(j *config.Job, r *RunRequest) {
		j.Credential = "c"
		r.Credential = func(string) (map[string]any, bool) {
			return map[string]any{"password": "hunter2-secret", "user": "bob"}, true
		}
		r.Redactor = redact.New()
		r.Log = func(l LogLine) { mu.Lock(); streamed = append(streamed, l); mu.Unlock() }
	})
	mustSucceed(t, res)
	if len(res.Logs) != 4 || len(streamed) != 4 {
		t.Fatalf("logs %+v", res.Logs)
	}
	want := []struct{ level, msg string }{
		{"info", "password is ***"}, {"warn", `{"conf":{"password":"***","user":"bob"},"n":1}`},
		{"error", "Error: failed with ***"}, {"debug", "debugging"},
	}
	for i, w := range want {
		if res.Logs[i].Level != w.level || res.Logs[i].Message != w.msg || res.Logs[i].Step != "job-a" {
			t.Errorf("log %d = %+v, want %+v", i, res.Logs[i], w)
		}
	}
	// errors are scrubbed too
	res, st := runBody(t, nil, config.CompatLightning, `fn(s => { throw new Error('bad ' + s.configuration.token) })`, `{}`, func(j *config.Job, r *RunRequest) {
		j.Configuration = map[string]any{"token": "tok-very-secret"}
	})
	if strings.Contains(res.Error.Message, "tok-very-secret") || !strings.Contains(res.Error.Message, "***") {
		t.Errorf("error not scrubbed: %q", res.Error.Message)
	}
	if b, _ := json.Marshal(st); strings.Contains(string(b), "tok-very-secret") {
		t.Errorf("secret in final state errors: %s", b)
	}
}

func TestConcurrentRuns(t *testing.T) {
	e := New(Options{PoolSize: 2})
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				n := g*100 + i
				job := &config.Job{Key: "c", Body: `fn(s => { mine = s.data.n; return s }); fn(async s => { await new Promise(r => setTimeout(r, 1)); return { ...s, out: mine * 2 } })`}
				res := e.RunJob(context.Background(), job, config.CompatLegacy, []byte(fmt.Sprintf(`{"data":{"n":%d}}`, n)), RunRequest{})
				var st map[string]any
				_ = json.Unmarshal(res.State, &st)
				if res.Status != StatusSuccess || st["out"] != float64(2*n) {
					errs <- fmt.Sprintf("run %d: %s %v %+v", n, res.Status, st, res.Error)
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestAdaptorErrorGetsOperationLine(t *testing.T) {
	res, _ := runBody(t, nil, config.CompatLightning, "fn(s => s);\n\n  each(s => 5, fn(s => s));", `{"data":{}}`)
	// each over a non-array throws inside common; the line is the operation's
	if res.Error == nil || res.Error.Line != 3 || res.Error.Column != 3 {
		t.Errorf("%+v", res.Error)
	}
}

func TestBadInputAndWarm(t *testing.T) {
	res, _ := runBody(t, nil, config.CompatLightning, `fn(s => s)`, `{"data":`)
	if res.Status != StatusCrashed || res.Error.Name != "ValidationError" || !strings.Contains(res.Error.Message, "not valid JSON") {
		t.Errorf("bad input: %+v", res.Error)
	}
	e := New(Options{PoolSize: 2})
	if err := e.Warm("http@5", config.CompatLegacy); err != nil {
		t.Fatal(err)
	}
	p, _ := e.pool("http@5", config.CompatLegacy)
	if len(p.idle) != 2 {
		t.Errorf("warm pool has %d VMs", len(p.idle))
	}
	if err := e.Warm("nosuch", config.CompatLegacy); err == nil {
		t.Error("warming an unknown adaptor succeeded")
	}
}

func TestGlobalsAvailable(t *testing.T) {
	body := "\ufefffn(s => ({ ...s,\n" +
		"  b64: Buffer.from('hi there').toString('base64'),\n" +
		"  back: Buffer.from('aGkgdGhlcmU=', 'base64').toString(),\n" +
		"  hex: Buffer.from([1, 255]).toString('hex'),\n" +
		"  req: typeof require, proc: typeof process,\n" +
		"  newBuf: (() => { try { new Buffer(1); return 'ok' } catch (e) { return 'throws' } })(),\n" +
		"}));"
	for _, compat := range []config.Compat{config.CompatLegacy, config.CompatLightning} {
		res, st := runBody(t, nil, compat, body, `{}`)
		mustSucceed(t, res)
		if st["b64"] != "aGkgdGhlcmU=" || st["back"] != "hi there" || st["hex"] != "01ff" || st["req"] != "undefined" || st["proc"] != "undefined" || st["newBuf"] != "throws" {
			t.Errorf("%s: %v", compat, st)
		}
	}
}

func TestCredentialErrors(t *testing.T) {
	e := New(Options{})
	j := &config.Job{Key: "a", Name: "a", Adaptor: "common", Body: "fn(s => s)"}
	j.Credential = "missing"
	res := e.RunJob(context.Background(), j, config.CompatLightning, nil, RunRequest{Credential: func(string) (map[string]any, bool) { return nil, false }})
	if res.Status != StatusCrashed || res.Error.Name != "CredentialError" || !strings.Contains(res.Error.Message, `"missing"`) {
		t.Errorf("%+v", res.Error)
	}
}

// The driver's warnings reach the step's log as warn lines.
func TestDriverWarnings(t *testing.T) {
	res, st := runBody(t, nil, config.CompatLightning, `fn(s => null); fn(s => ({ ...s, ok: true }))`, `{}`)
	mustSucceed(t, res)
	jsonEq(t, st, `{"ok":true}`)
	res2, _ := runBody(t, nil, config.CompatLegacy, `fn(s => s); console.log('top'); fn(s => s)`, `{}`)
	mustSucceed(t, res2)
	for _, c := range []struct {
		res  *Result
		want string
	}{{res, "No state was passed into operation 2: using {}"}, {res2, "Operation 2 is undefined and was skipped"}} {
		found := false
		for _, l := range c.res.Logs {
			if l.Level == "warn" && strings.Contains(l.Message, c.want) {
				found = true
			}
		}
		if !found {
			t.Errorf("no warn line %q in %+v", c.want, c.res.Logs)
		}
	}
}
