package runtime

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/dop251/goja"

	"github.com/jobmediator/jobmediator/adaptors"
	"github.com/jobmediator/jobmediator/config"
)

// poolKey identifies interchangeable VMs: same adaptor, version and profile.
type poolKey struct {
	adaptor string
	version string
	compat  config.Compat
}

// pool keeps warm VMs for one key. A VM is taken for a whole step and put
// back afterwards (unless the step was killed mid-flight).
type pool struct {
	key  poolKey
	def  *adaptors.Definition
	ver  adaptors.Version
	idle chan *slot
}

func (p *pool) get() (*slot, error) {
	select {
	case s := <-p.idle:
		return s, nil
	default:
		return newSlot(p.def, p.ver, p.key.compat)
	}
}

func (p *pool) put(s *slot) {
	select {
	case p.idle <- s:
	default: // pool full: let the VM be collected
	}
}

// slot is one warm VM with common and the adaptor evaluated.
type slot struct {
	vm       *goja.Runtime
	env      *adaptors.Env
	exports  *goja.Object
	execute  goja.Value
	baseline map[string]goja.Value
	names    []string

	run      goja.Callable
	assemble goja.Callable
	strfy    goja.Callable
	jsonStr  goja.Callable // goja's JSON.stringify (installJSONStringify replaces the global's)
	// jsonBuf is writeJSON's buffer, kept between calls
	jsonBuf []byte
	// objectProto and arrayProto are the VM's own Object.prototype and
	// Array.prototype
	objectProto, arrayProto *goja.Object
	// warn logs the driver's warnings to the running step, made once per VM
	// (wrapping a Go closure for every step was 8% of a trivial step's JS)
	warn goja.Value

	// per-step state
	mu     sync.Mutex
	logf   func(level, msg string)
	timers []*timer
	nextID int64
}

type timer struct {
	id       int64
	due      time.Time
	fn       goja.Callable
	args     []goja.Value
	interval time.Duration
	repeat   bool
}

// commonVersion is the language-common version adaptors are built on.
const commonVersion = "3.3.4"

func evalAdaptor(vm *goja.Runtime, env *adaptors.Env, def *adaptors.Definition, ver adaptors.Version, common goja.Value) (*goja.Object, error) {
	name := fmt.Sprintf("adaptor:%s@%s", def.Name, ver.Raw)
	prog, err := adaptorProgram(name, def.Source(ver))
	if err != nil {
		return nil, err
	}
	v, err := vm.RunProgram(prog)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	f, ok := goja.AssertFunction(v)
	if !ok {
		return nil, fmt.Errorf("%s: source did not evaluate to a function", name)
	}
	exports := vm.NewObject()
	host := vm.NewObject()
	if def.Host != nil {
		for k, fn := range def.Host(env) {
			_ = host.Set(k, fn)
		}
	}
	vo := vm.NewObject()
	_ = vo.Set("raw", ver.Raw)
	_ = vo.Set("major", ver.Major)
	_ = vo.Set("minor", ver.Minor)
	_ = vo.Set("patch", ver.Patch)
	if _, err := f(goja.Undefined(), exports, common, host, vo); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return exports, nil
}

var adaptorProgs sync.Map // name → *goja.Program

func adaptorProgram(name, src string) (*goja.Program, error) {
	key := name + "\x00" + src
	if p, ok := adaptorProgs.Load(key); ok {
		return p.(*goja.Program), nil
	}
	p, err := goja.Compile(name, "(function (exports, common, host, version) {"+src+"\n})", false)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	adaptorProgs.Store(key, p)
	return p, nil
}

func newSlot(def *adaptors.Definition, ver adaptors.Version, compat config.Compat) (*slot, error) {
	vm := goja.New()
	vm.SetMaxCallStackSize(4096)
	s := &slot{vm: vm, env: adaptors.NewEnv(vm)}
	if _, err := vm.RunProgram(helpersProg); err != nil {
		return nil, err
	}
	s.installConsole()
	s.warn = vm.ToValue(func(call goja.FunctionCall) goja.Value { return s.log("warn", call) })
	s.installTimers()
	s.installBuffer()
	if err := s.installJSONParse(); err != nil {
		return nil, err
	}
	if err := s.installJSONStringify(); err != nil {
		return nil, err
	}

	commonDef, cver, err := adaptors.Resolve("common@" + commonVersion)
	if err != nil {
		return nil, fmt.Errorf("language-common is not registered: %w", err)
	}
	var exports *goja.Object
	if def.Name == "common" {
		exports, err = evalAdaptor(vm, s.env, def, ver, goja.Null())
		if err != nil {
			return nil, err
		}
	} else {
		common, err := evalAdaptor(vm, s.env, commonDef, cver, goja.Null())
		if err != nil {
			return nil, err
		}
		exports, err = evalAdaptor(vm, s.env, def, ver, common)
		if err != nil {
			return nil, err
		}
		if _, ok := goja.AssertFunction(exports.Get("execute")); !ok {
			_ = exports.Set("execute", common.Get("execute"))
		}
	}
	s.exports = exports
	s.execute = exports.Get("execute")
	g := vm.GlobalObject()
	for _, k := range exports.Keys() {
		_ = g.Set(k, exports.Get(k))
	}
	if compat == config.CompatLightning {
		// node:vm codeGeneration {strings:false}: eval and new Function throw
		// EvalError, which the runtime reports as SecurityError (kill). The
		// async function and generator constructors compile strings too
		// (reached as (async () => {}).constructor); they are replaced the
		// same way, which also leaves no way to the original Function. That
		// no job code is made from strings is also what lets reset check
		// only the globals a job's source names.
		if _, err := vm.RunString(`(function (g) {
  var F = g.Function;
  function deny() { throw new EvalError('Code generation from strings disallowed for this context'); }
  var NoFunction = function Function() { deny(); };
  NoFunction.prototype = F.prototype;
  Object.defineProperty(F.prototype, 'constructor', { value: NoFunction, writable: true, configurable: true });
  g.Function = NoFunction;
  g.eval = function eval() { deny(); };
  var AsyncProto = Object.getPrototypeOf(async function () {});
  var NoAsyncFunction = function AsyncFunction() { deny(); };
  NoAsyncFunction.prototype = AsyncProto;
  Object.defineProperty(AsyncProto, 'constructor', { value: NoAsyncFunction, writable: false, configurable: true });
  var GenProto = Object.getPrototypeOf(function* () {});
  var NoGeneratorFunction = function GeneratorFunction() { deny(); };
  NoGeneratorFunction.prototype = GenProto;
  Object.defineProperty(GenProto, 'constructor', { value: NoGeneratorFunction, writable: false, configurable: true });
})(globalThis);`); err != nil {
			return nil, err
		}
	}
	_ = g.Delete("require")
	_ = g.Delete("process")
	s.run, _ = goja.AssertFunction(g.Get("__jmRun"))
	s.assemble, _ = goja.AssertFunction(g.Get("__jmAssemble"))
	s.strfy, _ = goja.AssertFunction(g.Get("__jmStringify"))
	s.objectProto = g.Get("Object").ToObject(vm).Get("prototype").ToObject(vm)
	s.arrayProto = g.Get("Array").ToObject(vm).Get("prototype").ToObject(vm)
	s.baseline = map[string]goja.Value{}
	for _, k := range g.GetOwnPropertyNames() {
		s.baseline[k] = g.Get(k)
		s.names = append(s.names, k)
	}
	sort.Strings(s.names)
	return s, nil
}

// stepGlobals are the globals every step writes whatever its source: the
// step's state and the helpers' record of the running operation (which
// holds a state, so it must not outlive the step).
var stepGlobals = []string{"state", "__jmOp", "__jmState"}

// reset removes every global a job created and restores globals it
// overwrote, so nothing leaks into the next run on this VM. names lists the
// only globals the step can have written (see compiled.globals); nil means
// any, and every global is checked. Enumerating the ~200 globals (builtins
// and the adaptor's exports) was a third of a trivial step's CPU time.
func (s *slot) reset(names []string) {
	g := s.vm.GlobalObject()
	if names == nil {
		for _, k := range g.GetOwnPropertyNames() {
			s.restoreGlobal(g, k)
		}
	} else {
		for _, k := range names {
			s.restoreGlobal(g, k)
		}
		for _, k := range stepGlobals {
			s.restoreGlobal(g, k)
		}
	}
	s.mu.Lock()
	s.timers = nil
	s.logf = nil
	s.mu.Unlock()
	s.env.SetRun(nil)
}

// restoreGlobal puts global k back as it was when the VM was made: its
// baseline value, or absent.
func (s *slot) restoreGlobal(g *goja.Object, k string) {
	cur := g.Get(k)
	base, ok := s.baseline[k]
	if !ok {
		// nil: neither own nor inherited. Otherwise it may only be inherited
		// (a name like toString), which Delete leaves alone.
		if cur != nil {
			if err := g.Delete(k); err != nil {
				// non-configurable (e.g. a top-level var in a sloppy script):
				// overwrite so at least the value does not leak
				_ = g.Set(k, goja.Undefined())
			}
		}
		return
	}
	if cur == nil || !cur.SameAs(base) {
		_ = g.Set(k, base)
	}
}

func (s *slot) log(level string, call goja.FunctionCall) goja.Value {
	parts := make([]string, len(call.Arguments))
	for i, a := range call.Arguments {
		parts[i] = s.format(a)
	}
	s.mu.Lock()
	f := s.logf
	s.mu.Unlock()
	if f != nil {
		f(level, strings.Join(parts, " "))
	}
	return goja.Undefined()
}

// format renders a console argument like @openfn/logger: strings as they
// are, everything else JSON-serialised (safely).
func (s *slot) format(v goja.Value) string {
	if v == nil || goja.IsUndefined(v) {
		return "undefined"
	}
	switch v.ExportType() {
	case nil:
		return v.String()
	}
	if o, ok := v.(*goja.Object); ok {
		if _, isFn := goja.AssertFunction(o); isFn {
			return "[Function]"
		}
		if o.ClassName() == "Error" {
			if st := o.Get("stack"); st != nil && !goja.IsUndefined(st) {
				return strings.SplitN(st.String(), "\n", 2)[0]
			}
			return o.String()
		}
		r, err := s.strfy(goja.Undefined(), v)
		if err == nil {
			return r.String()
		}
	}
	return v.String()
}

func (s *slot) installConsole() {
	c := s.vm.NewObject()
	for _, lv := range []struct{ name, level string }{
		{"log", "info"}, {"info", "info"}, {"success", "info"}, {"always", "info"},
		{"warn", "warn"}, {"error", "error"}, {"debug", "debug"}, {"trace", "debug"},
	} {
		level := lv.level
		_ = c.Set(lv.name, func(call goja.FunctionCall) goja.Value { return s.log(level, call) })
	}
	_ = s.vm.Set("console", c)
}

func (s *slot) installTimers() {
	add := func(call goja.FunctionCall, repeat bool) goja.Value {
		fn, ok := goja.AssertFunction(call.Argument(0))
		if !ok {
			panic(s.vm.NewTypeError("The \"callback\" argument must be of type function"))
		}
		// The NaN test belongs on the float: converting NaN or an
		// out-of-range float to a Duration is implementation-defined in Go.
		// Like Node, a delay beyond TIMEOUT_MAX (2^31-1 ms) fires at once.
		ms := call.Argument(1).ToFloat()
		if math.IsNaN(ms) || ms < 0 || ms > math.MaxInt32 {
			ms = 0
		}
		d := time.Duration(ms * float64(time.Millisecond))
		var args []goja.Value
		if len(call.Arguments) > 2 {
			args = append(args, call.Arguments[2:]...)
		}
		s.mu.Lock()
		s.nextID++
		t := &timer{id: s.nextID, due: time.Now().Add(d), fn: fn, args: args, interval: d, repeat: repeat}
		s.timers = append(s.timers, t)
		s.mu.Unlock()
		return s.vm.ToValue(t.id)
	}
	clear := func(call goja.FunctionCall) goja.Value {
		id := call.Argument(0).ToInteger()
		s.mu.Lock()
		for i, t := range s.timers {
			if t.id == id {
				s.timers = append(s.timers[:i], s.timers[i+1:]...)
				break
			}
		}
		s.mu.Unlock()
		return goja.Undefined()
	}
	_ = s.vm.Set("setTimeout", func(c goja.FunctionCall) goja.Value { return add(c, false) })
	_ = s.vm.Set("setInterval", func(c goja.FunctionCall) goja.Value { return add(c, true) })
	_ = s.vm.Set("clearTimeout", clear)
	_ = s.vm.Set("clearInterval", clear)
}

// nextTimer removes and returns the earliest timer (nil when none).
func (s *slot) nextTimer() *timer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.timers) == 0 {
		return nil
	}
	best := 0
	for i, t := range s.timers {
		if t.due.Before(s.timers[best].due) {
			best = i
		}
	}
	t := s.timers[best]
	if t.repeat {
		t2 := *t
		t2.due = t.due.Add(max(t.interval, time.Millisecond))
		s.timers[best] = &t2
	} else {
		s.timers = append(s.timers[:best], s.timers[best+1:]...)
	}
	return t
}

// installBuffer provides the part of Node's Buffer jobs use: Buffer.from
// (utf8, base64, hex, latin1/binary, arrays) and toString in those
// encodings. Bytes are kept as a binary string; `new Buffer()` throws as in
// @openfn/runtime.
func (s *slot) installBuffer() {
	conv := func(data, from, to string) (string, error) {
		var raw []byte
		switch strings.ToLower(from) {
		case "", "utf8", "utf-8":
			raw = []byte(data)
		case "base64":
			b, err := base64.StdEncoding.DecodeString(data)
			if err != nil {
				b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(data, "="))
				if err != nil {
					return "", fmt.Errorf("invalid base64: %v", err)
				}
			}
			raw = b
		case "hex":
			b, err := hex.DecodeString(data)
			if err != nil {
				return "", fmt.Errorf("invalid hex: %v", err)
			}
			raw = b
		case "binary", "latin1", "bytes":
			raw = make([]byte, 0, len(data))
			for _, r := range data {
				raw = append(raw, byte(r)) //nolint:gosec // G115: latin1/binary keeps the low byte of each code unit, as Node's Buffer does
			}
		default:
			return "", fmt.Errorf("unknown encoding %q", from)
		}
		switch strings.ToLower(to) {
		case "", "utf8", "utf-8":
			if !utf8.Valid(raw) {
				return strings.ToValidUTF8(string(raw), "\uFFFD"), nil
			}
			return string(raw), nil
		case "base64":
			return base64.StdEncoding.EncodeToString(raw), nil
		case "hex":
			return hex.EncodeToString(raw), nil
		case "binary", "latin1", "bytes":
			var b strings.Builder
			for _, c := range raw {
				b.WriteRune(rune(c))
			}
			return b.String(), nil
		}
		return "", fmt.Errorf("unknown encoding %q", to)
	}
	_ = s.vm.Set("__jmBufConv", func(data, from, to string) string {
		out, err := conv(data, from, to)
		if err != nil {
			panic(s.vm.NewTypeError("Buffer: " + err.Error()))
		}
		return out
	})
	if _, err := s.vm.RunString(`(function (g) {
  var conv = g.__jmBufConv;
  delete g.__jmBufConv;
  function JMBuffer() { throw new TypeError('Buffer() is not supported: use Buffer.from()'); }
  function make(bin) {
    var b = Object.create(JMBuffer.prototype);
    Object.defineProperty(b, '__bin', { value: bin });
    Object.defineProperty(b, '__isBuffer', { value: true });
    Object.defineProperty(b, 'length', { value: bin.length, enumerable: true });
    return b;
  }
  JMBuffer.from = function (v, enc) {
    if (typeof v === 'string') return make(conv(v, enc || 'utf8', 'binary'));
    if (v && v.__isBuffer) return make(v.__bin);
    if (Array.isArray(v) || (v && typeof v.length === 'number')) {
      var s = '';
      for (var i = 0; i < v.length; i++) s += String.fromCharCode(v[i] & 255);
      return make(s);
    }
    throw new TypeError('Buffer.from: unsupported argument');
  };
  JMBuffer.isBuffer = function (b) { return !!(b && b.__isBuffer); };
  JMBuffer.byteLength = function (v, enc) { return JMBuffer.from(v, enc).length; };
  JMBuffer.prototype.toString = function (enc) { return conv(this.__bin, 'binary', enc || 'utf8'); };
  JMBuffer.prototype.toJSON = function () {
    var d = [];
    for (var i = 0; i < this.__bin.length; i++) d.push(this.__bin.charCodeAt(i));
    return { type: 'Buffer', data: d };
  };
  g.Buffer = JMBuffer;
})(globalThis);`); err != nil {
		panic(err)
	}
}
