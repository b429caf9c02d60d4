// Package adaptors is the registry of Job Mediator's Go implementations of
// OpenFn adaptors, and the one HTTP client every adaptor uses to reach the
// outside world.
//
// Each adaptor lives in a sub-package (common, http, dhis2, fhir, primero,
// oscar, postgresql) and registers a Definition from init. A Definition pairs
// JavaScript source, which gives the adaptor OpenFn's exact operation
// signatures and state semantics, with Go host functions that do the I/O.
// The runtime evaluates the source once per pooled VM:
//
//	(function (exports, common, host, version) { …source… })
//
// where common is language-common's exports object (nil while common itself
// is being defined), host is the object built from Definition.Host, and
// version is {raw, major, minor, patch} of the resolved adaptor version.
//
// Adaptors never depend on each other except on common and on this package.
package adaptors

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"

	"github.com/jobmediator/jobmediator/adaptors/recorder"
)

// Version is a resolved adaptor version.
type Version struct {
	Raw                 string
	Major, Minor, Patch int
}

func (v Version) String() string { return v.Raw }

// ParseVersion parses "7", "7.3" or "7.3.2".
func ParseVersion(s string) (Version, error) {
	v := Version{Raw: s}
	parts := strings.Split(s, ".")
	if len(parts) > 3 {
		return v, fmt.Errorf("adaptor version %q: want MAJOR[.MINOR[.PATCH]]", s)
	}
	nums := []*int{&v.Major, &v.Minor, &v.Patch}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return v, fmt.Errorf("adaptor version %q: %q is not a number", s, p)
		}
		*nums[i] = n
	}
	return v, nil
}

// Specifier is a parsed adaptor reference such as "@openfn/language-http@5.0.4",
// "language-http", "http@7" or "http".
type Specifier struct {
	Name    string // short name: "http"
	Version string // "" or "latest" mean the definition's default
}

// ParseSpecifier accepts every spelling OpenFn projects use.
func ParseSpecifier(s string) (Specifier, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Specifier{}, fmt.Errorf("adaptor is empty: use e.g. @openfn/language-http@7")
	}
	rest := strings.TrimPrefix(s, "@openfn/")
	name, version := rest, ""
	if i := strings.LastIndex(rest, "@"); i > 0 {
		name, version = rest[:i], rest[i+1:]
	}
	name = strings.TrimPrefix(name, "language-")
	if name == "" || strings.ContainsAny(name, "/@ ") {
		return Specifier{}, fmt.Errorf("adaptor %q: want @openfn/language-NAME[@VERSION]", s)
	}
	if version == "latest" {
		version = ""
	}
	return Specifier{Name: name, Version: version}, nil
}

func (s Specifier) String() string {
	if s.Version == "" {
		return "@openfn/language-" + s.Name
	}
	return "@openfn/language-" + s.Name + "@" + s.Version
}

// Definition is one adaptor implementation.
type Definition struct {
	// Name is the short name (the NAME of @openfn/language-NAME).
	Name string
	// Doc is one line shown by `jobmediator check` and in docs.
	Doc string
	// Default is the version assumed for "latest" or no version, e.g. "7.3.2".
	Default string
	// Supports reports whether a requested version is implemented; nil means
	// every version. Unsupported versions are a configuration error.
	Supports func(v Version) bool
	// Source returns the JavaScript body defining exports for version v.
	Source func(v Version) string
	// Host returns the Go functions exposed to Source as `host`. It is called
	// once per VM; functions read the current run from env.Run().
	Host func(env *Env) map[string]any
	// Native returns the VM-free form of operation name in version v for
	// declarative jobs (see native.go); nil: the operation always runs in
	// the VM. Nil Native: no operation has one.
	Native func(v Version, name string) NativeOp
}

var (
	regMu    sync.RWMutex
	registry = map[string]*Definition{}
)

// Register adds a definition. It panics on a duplicate name, because that is
// a programming error caught at start-up.
func Register(d *Definition) {
	regMu.Lock()
	defer regMu.Unlock()
	if d.Name == "" || d.Source == nil {
		panic("adaptors: Register needs Name and Source")
	}
	if _, dup := registry[d.Name]; dup {
		panic("adaptors: duplicate registration of " + d.Name)
	}
	registry[d.Name] = d
}

// Names lists registered adaptors, sorted.
func Names() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Resolve finds the definition and concrete version for a specifier.
func Resolve(spec string) (*Definition, Version, error) {
	sp, err := ParseSpecifier(spec)
	if err != nil {
		return nil, Version{}, err
	}
	regMu.RLock()
	d, ok := registry[sp.Name]
	regMu.RUnlock()
	if !ok {
		return nil, Version{}, fmt.Errorf("adaptor %q is not available: known adaptors are %s", spec, strings.Join(Names(), ", "))
	}
	raw := sp.Version
	if raw == "" {
		raw = d.Default
	}
	v, err := ParseVersion(raw)
	if err != nil {
		return nil, Version{}, err
	}
	if d.Supports != nil && !d.Supports(v) {
		return nil, Version{}, fmt.Errorf("adaptor %s: version %s is not implemented (default %s)", sp.Name, raw, d.Default)
	}
	return d, v, nil
}

// Logger receives a run's log lines (console.* from jobs, adaptor messages).
type Logger func(level, message string)

// Run is what host functions need to know about the run currently using a VM.
type Run struct {
	Ctx    context.Context
	HTTP   *recorder.Client // records every exchange as an orchestration
	Log    Logger
	StepID string // current step (job key), used to name orchestrations
	Now    func() time.Time
	// Values is per-run storage adaptors may use (e.g. a cookie jar, a SQL
	// connection) keyed by adaptor name; cleared at the end of the run.
	Values map[string]any
	// CutOff is set when a call to an external system was still waiting
	// as Ctx ended. When a deadline passes, the runtime reads it to tell an
	// upstream that hangs (worth a retry) from a job whose own code runs too
	// long (it would again).
	CutOff *atomic.Bool
}

// Waited is called when a blocking call to an external system (a query, a
// connection) returns: if the run's context ended meanwhile, the call was
// cut off. The recorder's HTTP client does the same itself.
func (r *Run) Waited() {
	if r != nil && r.CutOff != nil && r.Ctx != nil && r.Ctx.Err() != nil {
		r.CutOff.Store(true)
	}
}

// Env is the per-VM environment handed to Definition.Host.
type Env struct {
	VM  *goja.Runtime
	mu  sync.Mutex
	run *Run
}

// NewEnv makes an environment for a VM. The runtime calls SetRun before each
// run and SetRun(nil) after it.
func NewEnv(vm *goja.Runtime) *Env { return &Env{VM: vm} }

// SetRun installs the current run.
func (e *Env) SetRun(r *Run) {
	e.mu.Lock()
	e.run = r
	e.mu.Unlock()
}

// Run returns the current run; it panics into JS if called outside one,
// because that means an operation escaped its run (a runtime bug).
func (e *Env) Run() *Run {
	e.mu.Lock()
	r := e.run
	e.mu.Unlock()
	if r == nil {
		panic(e.VM.NewGoError(fmt.Errorf("adaptor called outside a run")))
	}
	return r
}

// Throw raises a JS Error with the given message and extra enumerable
// properties (statusCode, code, body, …) so jobs can inspect them and the
// runtime can classify the failure.
func (e *Env) Throw(message string, props map[string]any) {
	ctor, _ := goja.AssertConstructor(e.VM.Get("Error"))
	o, err := ctor(nil, e.VM.ToValue(message))
	if err != nil {
		panic(e.VM.NewGoError(fmt.Errorf("%s", message)))
	}
	obj := o
	for k, v := range props {
		_ = obj.Set(k, v)
	}
	panic(obj)
}
