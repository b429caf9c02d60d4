package runtime

import (
	"errors"
	"strings"
	"testing"

	"github.com/jobmediator/jobmediator/config"
)

func TestClassifyOperations(t *testing.T) {
	cases := []struct {
		name      string
		src       string
		legacy    int
		lightning int
	}{
		{"two calls", "fn(s => s);\nfn(s => s);", 2, 2},
		{"declarations are prelude", "const x = 1;\nfunction f(s) { return s }\nfn(f);", 1, 1},
		{"sequence expression", "fn(s => s), fn(s => s);", 2, 0},
		{"top-level console.log is an operation", "console.log('x');\nfn(s => s);", 2, 2},
		{"export default array", "import { fn } from '@openfn/language-common';\nexport default [fn(s => s), fn(s => s)];", 2, 2},
		{"calls inside blocks are not operations", "if (true) { fn(s => s) }\nfor (;;) { break }", 0, 0},
		{"promise chain is one operation", "fn(s => s).then(s => s).catch((e, s) => s);", 1, 1},
		{"assignment is prelude", "x = fn(s => s);", 0, 0},
		{"export const", "export const helper = 1;\nfn(s => s);", 1, 1},
	}
	for _, c := range cases {
		for _, compat := range []config.Compat{config.CompatLegacy, config.CompatLightning} {
			t.Run(c.name+"/"+string(compat), func(t *testing.T) {
				cp, err := compileSource("job", c.src, compat)
				if err != nil {
					t.Fatalf("compile: %v", err)
				}
				want := c.lightning
				if compat == config.CompatLegacy {
					want = c.legacy
				}
				if cp.ops != want {
					t.Errorf("ops = %d, want %d\n%s", cp.ops, want, cp.gen)
				}
			})
		}
	}
}

func TestLazyStateRewrite(t *testing.T) {
	cases := []struct {
		src, want, err string
	}{
		{"fnIf($.data.ok, fn(s => s));", "fnIf(state => (state.data.ok), fn(s => s))", ""},
		{"post('/x', { body: $.data.patient });", "post('/x', state => ({ body: state.data.patient }))", ""},
		{"each($.items, dataValue($.path));", "each(state => (state.items), dataValue(state => (state.path)))", ""},
		{"fn(state => state.x + $.y);", "fn(state => state.x + state.y)", ""},
		{"fn(s => ({ a: state.f($.b) }));", "", "arrow function using $"},
		{"get($['odd key'].v);", "get(state => (state['odd key'].v))", ""},
		{"const x = $.a;", "", "LazyStateError: Must be inside an operation"},
		{"fn(s => {\n  return $.a;\n});", "", "LazyStateError"},
		{"fn((a, b) => $.y);", "", "exactly one parameter named state"},
		{"function f($) { return $.x }\nfn(f);", "function f($) { return $.x }", ""},
	}
	for _, c := range cases {
		t.Run(c.src, func(t *testing.T) {
			cp, err := compileSource("job", c.src, config.CompatLightning)
			if c.err != "" {
				var e *Error
				if !errors.As(err, &e) || !strings.Contains(e.Message, c.err) || e.Line == 0 || e.Name != "CompileError" {
					t.Fatalf("want CompileError containing %q with a line, got %#v", c.err, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			if !strings.Contains(cp.gen, c.want) {
				t.Errorf("generated code lacks %q:\n%s", c.want, cp.gen)
			}
		})
	}
}

func TestLazyStateErrorPosition(t *testing.T) {
	_, err := compileSource("job", "fn(s => s);\n\nconst  y = $.a;", config.CompatLightning)
	var e *Error
	if !errors.As(err, &e) || e.Line != 3 || e.Column != 12 {
		t.Fatalf("want line 3 column 12, got %+v", err)
	}
}

func TestPromiseChainRewrite(t *testing.T) {
	cases := []struct{ src, want string }{
		{"fn(s => s).then(s => s);", "__defer(fn(s => s), p => p.then(s => s))"},
		{"fn(a).then(b).catch(c);", "__defer(fn(a), p => p.then(b).catch(c))"},
		{"fn(a).catch(c);", "__defer(fn(a), p => p, c)"},
		{"fn(a).catch(c).then(b);", "__defer(fn(a), p => p.then(b), c)"},
		{"fn(a).then(b).then(d);", "__defer(fn(a), p => p.then(b).then(d))"},
	}
	for _, c := range cases {
		cp, err := compileSource("job", c.src, config.CompatLightning)
		if err != nil {
			t.Fatalf("%s: %v", c.src, err)
		}
		if !strings.Contains(cp.gen, c.want) {
			t.Errorf("%s: generated code lacks %q:\n%s", c.src, c.want, cp.gen)
		}
	}
}

func TestSyntaxErrors(t *testing.T) {
	e := New(Options{})
	cases := []struct {
		src          string
		line, column int
	}{
		{"fn(s => s);\nfn(s => {\n  return s;;\n)", 4, 1},
		{"fn(s => s)\nconst = 4;", 2, 7},
	}
	for _, c := range cases {
		err := e.Check(&config.Job{Key: "my-job", Adaptor: "common", Body: c.src}, config.CompatLightning)
		var ce *Error
		if !errors.As(err, &ce) {
			t.Fatalf("%q: want *Error, got %v", c.src, err)
		}
		if ce.Name != "CompileError" || ce.Line != c.line || ce.Column != c.column || !strings.Contains(ce.Message, "my-job") {
			t.Errorf("%q: got %+v", c.src, ce)
		}
	}
	// strict-mode-only syntax is rejected for lightning but fine for legacy
	src := "with (Math) { x = 1 }\nfn(s => s);"
	if err := e.Check(&config.Job{Key: "w", Body: src}, config.CompatLegacy); err != nil {
		t.Errorf("legacy rejected sloppy syntax: %v", err)
	}
	if err := e.Check(&config.Job{Key: "w", Body: src}, config.CompatLightning); err == nil {
		t.Error("lightning accepted `with`, which modules forbid")
	}
	// unknown adaptor
	err := e.Check(&config.Job{Key: "u", Adaptor: "@openfn/language-nosuch@1", Body: "fn(s => s)"}, config.CompatLightning)
	var ie *Error
	if !errors.As(err, &ie) || ie.Name != "ImportError" || !strings.Contains(ie.Message, "nosuch") {
		t.Errorf("unknown adaptor: %+v", err)
	}
	if err := e.Check(&config.Job{Key: "ok", Body: "fn(s => s)"}, ""); err != nil {
		t.Errorf("valid job: %v", err)
	}
}

func TestCompileCache(t *testing.T) {
	a, err := compileJob("cache", "fn(s => s)", config.CompatLegacy)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := compileJob("cache", "fn(s => s)", config.CompatLegacy)
	c, _ := compileJob("cache", "fn(s => s)", config.CompatLightning)
	if a != b {
		t.Error("same source and profile compiled twice")
	}
	if a == c {
		t.Error("profiles share a compiled program")
	}
}
