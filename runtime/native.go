package runtime

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/dop251/goja/ast"

	"github.com/jobmediator/jobmediator/adaptors"
	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/jsonvalue"
)

// A declarative job — one top-level call of an adaptor operation whose
// arguments are string literals and `$` references to state, such as
// `post('/records', $.data)` — runs without a VM when the adaptor gives
// the operation a native form (adaptors.NativeOp): its state goes from
// JSON to JSON in Go, the operation is the same Go request code the VM's
// host function uses, and composeNextState is a splice of JSON members.
// The VM's work for such a job (state in and out of goja objects, the
// operation's promise chain) was most of a routed forward's CPU. Nothing
// in such a job can loop or allocate beyond its state and its response,
// which is also why the daemon can run it without a worker process
// (Engine.Declarative).
//
// The native step promises the VM's result byte for byte, and where it
// cannot it does not guess: before anything is sent it declines (the step
// runs in the VM as ever), and after, it hands the outcome to the VM as a
// replay (recorder.Replay: the VM's request is answered with what was
// already received, and nothing is sent or recorded twice).

// plan is a declarative job's one operation call.
type plan struct {
	op   string
	args []planArg
}

// planArg is a string literal (path and obj nil), a reference to state
// ($ is the whole state, path empty; $.a.b is state.a.b), or an object
// literal of string literals (obj: its JSON, as JSON.stringify writes it).
type planArg struct {
	lit  string
	path []string
	obj  []byte
}

// planOf is the plan of a lightning job's program, nil when it is not
// declarative: anything but exactly one expression statement calling a
// global by name with literal-string and `$.a.b` arguments.
func planOf(prog *ast.Program, compat config.Compat) *plan {
	if compat != config.CompatLightning || len(prog.Body) != 1 || len(prog.DeclarationList) != 0 {
		return nil
	}
	es, ok := prog.Body[0].(*ast.ExpressionStatement)
	if !ok {
		return nil
	}
	call, ok := es.Expression.(*ast.CallExpression)
	if !ok {
		return nil
	}
	callee, ok := call.Callee.(*ast.Identifier)
	if !ok || callee.Name == "$" {
		return nil
	}
	p := &plan{op: callee.Name.String()}
	for _, a := range call.ArgumentList {
		var arg planArg
		switch x := a.(type) {
		case *ast.StringLiteral:
			if arg.lit = x.Value.String(); !plainString(arg.lit) {
				return nil
			}
		case *ast.ObjectLiteral:
			obj, ok := literalObject(x, nil, 0)
			if !ok {
				return nil
			}
			arg.obj = obj
		default:
			path, ok := statePath(a)
			if !ok {
				return nil
			}
			arg.path = path
		}
		p.args = append(p.args, arg)
	}
	return p
}

// literalObject appends the JSON of an object literal whose values are
// string literals or such object literals (`{ headers: { 'X-A': '1' } }`):
// plain keys only (no spread, computed or shorthand property, method,
// getter, repeated key, __proto__ or integer-like key: each of those
// changes what JavaScript makes of it), nested at most a few deep.
func literalObject(o *ast.ObjectLiteral, out []byte, depth int) ([]byte, bool) {
	if depth > 4 {
		return nil, false
	}
	out = append(out, '{')
	seen := map[string]bool{}
	for i, p := range o.Value {
		kp, ok := p.(*ast.PropertyKeyed)
		if !ok || kp.Computed || kp.Kind != ast.PropertyKindValue {
			return nil, false
		}
		var key string
		switch k := kp.Key.(type) {
		case *ast.Identifier:
			key = k.Name.String()
		case *ast.StringLiteral:
			key = k.Value.String()
		default:
			return nil, false
		}
		if !plainString(key) {
			return nil, false
		}
		if key == "__proto__" || seen[key] || strings.Trim(key, "0123456789") == "" {
			return nil, false
		}
		seen[key] = true
		if i > 0 {
			out = append(out, ',')
		}
		out = append(jsonvalue.AppendJSString(out, key), ':')
		switch v := kp.Value.(type) {
		case *ast.StringLiteral:
			if !plainString(v.Value.String()) {
				return nil, false
			}
			out = jsonvalue.AppendJSString(out, v.Value.String())
		case *ast.ObjectLiteral:
			if out, ok = literalObject(v, out, depth+1); !ok {
				return nil, false
			}
		default:
			return nil, false
		}
	}
	return append(out, '}'), true
}

// plainString: a source string literal that is the same text in Go as in
// the VM (a lone surrogate escape is not).
func plainString(s string) bool { return !strings.ContainsRune(s, utf8.RuneError) }

// statePath reads $, $.a or $.a.b… (dots and names only), or the same
// written as an arrow function, s => s.a.b (what $.a.b compiles to).
func statePath(e ast.Expression) ([]string, bool) {
	if af, ok := e.(*ast.ArrowFunctionLiteral); ok {
		if af.Async || len(af.ParameterList.List) != 1 || af.ParameterList.Rest != nil || af.ParameterList.List[0].Initializer != nil {
			return nil, false
		}
		param, ok := af.ParameterList.List[0].Target.(*ast.Identifier)
		body, isExpr := af.Body.(*ast.ExpressionBody)
		if !ok || !isExpr {
			return nil, false
		}
		return memberPath(body.Expression, param.Name.String())
	}
	return memberPath(e, "$")
}

// memberPath reads root, root.a or root.a.b….
func memberPath(e ast.Expression, root string) ([]string, bool) {
	switch x := e.(type) {
	case *ast.Identifier:
		return []string{}, x.Name.String() == root
	case *ast.DotExpression:
		left, ok := memberPath(x.Left, root)
		if !ok {
			return nil, false
		}
		return append(left, x.Identifier.Name.String()), true
	}
	return nil, false
}

// nativeOp is the native form of c's operation under p's adaptor, nil when
// there is none.
func nativeOp(c *compiled, p *pool) adaptors.NativeOp {
	if c.plan == nil || len(c.warnings) > 0 || p.def.Native == nil {
		return nil
	}
	return p.def.Native(p.ver, c.plan.op)
}

// Declarative reports whether job runs without a VM whenever its
// operation's native form does not decline or hand back (a job the
// daemon may run itself rather than in a worker process: see
// adaptors/native.go).
func (e *Engine) Declarative(job *config.Job, compat config.Compat) bool {
	if compat == config.CompatDefault {
		compat = e.opts.Compat
	}
	c, err := compileJob(job.Key, job.Body, compat)
	if err != nil {
		return false
	}
	p, err := e.pool(adaptorSpec(job), compat)
	if err != nil {
		return false
	}
	return nativeOp(c, p) != nil && len(job.State) == 0
}

// objectProtoNames are the properties every plain object inherits: a
// path through one reads Object.prototype in JavaScript ($.data.constructor
// is a function), not a member of the state's JSON.
var objectProtoNames = map[string]bool{
	"__proto__": true, "constructor": true, "hasOwnProperty": true, "isPrototypeOf": true,
	"propertyIsEnumerable": true, "toLocaleString": true, "toString": true, "valueOf": true,
	"__defineGetter__": true, "__defineSetter__": true, "__lookupGetter__": true, "__lookupSetter__": true,
}

// nativeState is a lightning step's input state read for a native step:
// its members, each value as JSON.stringify writes it.
type nativeState struct {
	keys, vals [][]byte
	data       int // index of data, -1: none (it is {} then)
	refs       int // index of references, -1: none
}

// readState canonicalises input and splits it into members; false when the
// VM's state could differ from a plain reading of it (not an object, a
// key the VM orders or treats apart, configuration in the input, a
// references that is not an array).
func readState(input []byte) (*nativeState, bool) {
	canon, ok := jsonvalue.AppendCanonical(make([]byte, 0, len(input)), input)
	if !ok || canon[0] != '{' {
		return nil, false
	}
	st := &nativeState{data: -1, refs: -1}
	jsonvalue.Members(canon, func(k, v []byte) {
		switch {
		case jsonvalue.KeyIs(k, "configuration"):
			ok = false
		case jsonvalue.KeyIs(k, "data"):
			st.data = len(st.keys)
			if string(v) == "null" {
				v = []byte("{}") // assembleLightning's default
			}
		case jsonvalue.KeyIs(k, "references"):
			st.refs = len(st.keys)
			if v[0] != '[' {
				ok = false
			}
		}
		st.keys = append(st.keys, k)
		st.vals = append(st.vals, v)
	})
	return st, ok
}

// get is state[key] as JSON; false for undefined.
func (st *nativeState) get(key string) ([]byte, bool) {
	for i, k := range st.keys {
		if jsonvalue.KeyIs(k, key) {
			return st.vals[i], true
		}
	}
	if key == "data" {
		return []byte("{}"), true
	}
	return nil, false
}

// arg evaluates a plan argument; false where JavaScript would throw or
// read what a JSON member lookup does not (a property of a non-object).
func (st *nativeState) arg(a planArg) (adaptors.NativeArg, bool) {
	if a.obj != nil {
		return adaptors.NativeArg{Kind: adaptors.NativeJSON, JSON: a.obj}, true
	}
	if a.path == nil {
		return adaptors.NativeArg{Kind: adaptors.NativeString, Str: a.lit}, true
	}
	if len(a.path) == 0 || a.path[0] == "configuration" {
		return adaptors.NativeArg{}, false // state.configuration is not in the input
	}
	for _, k := range a.path {
		if objectProtoNames[k] {
			return adaptors.NativeArg{}, false // inherited: not a member of the JSON
		}
	}
	v, ok := st.get(a.path[0])
	for _, k := range a.path[1:] {
		if !ok || v[0] != '{' {
			return adaptors.NativeArg{}, false
		}
		v, ok = jsonvalue.Field(v, k)
	}
	switch {
	case !ok:
		return adaptors.NativeArg{Kind: adaptors.NativeUndefined}, true
	case v[0] == 'n':
		return adaptors.NativeArg{Kind: adaptors.NativeNull}, true
	case v[0] == '"':
		var s string
		if json.Unmarshal(v, &s) != nil || strings.ContainsRune(s, utf8.RuneError) {
			return adaptors.NativeArg{}, false
		}
		return adaptors.NativeArg{Kind: adaptors.NativeString, Str: s}, true
	}
	return adaptors.NativeArg{Kind: adaptors.NativeJSON, JSON: v}, true
}

// next is the final state of a lightning step whose operation composed
// data into st: the adaptor's execute puts lead first (missing: [] for
// references, null for data), then composeNextState replaces data and
// appends the old data to references (common ≥1.15 creates it when
// missing), and lightning leaves configuration and response out.
func (st *nativeState) next(data []byte, lead []string, hint int) []byte {
	old, _ := st.get("data")
	out := make([]byte, 0, hint+len(data)+len(old)+32)
	out = append(out, '{')
	member := func(k string, v []byte) {
		if v == nil {
			return // undefined: JSON.stringify leaves the key out
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(append(append(out, k...), ':'), v...)
	}
	refs := func(prev []byte) []byte {
		r := make([]byte, 0, len(prev)+len(old)+2)
		if len(prev) > 2 {
			r = append(append(r, prev[:len(prev)-1]...), ',')
		} else {
			r = append(r, '[')
		}
		return append(append(r, old...), ']')
	}
	value := func(i int) []byte {
		switch i {
		case st.data:
			return data
		case st.refs:
			return refs(st.vals[i])
		}
		return st.vals[i]
	}
	led := func(name string) bool { return slices.Contains(lead, name) }
	for _, l := range lead {
		switch l {
		case "data":
			member(`"data"`, data)
		case "references":
			var prev []byte
			if st.refs >= 0 {
				prev = st.vals[st.refs]
			}
			member(`"references"`, refs(prev))
		}
	}
	for i, k := range st.keys {
		if (i != st.data || !led("data")) && (i != st.refs || !led("references")) {
			member(string(k), value(i))
		}
	}
	if st.data < 0 && !led("data") {
		member(`"data"`, data)
	}
	if st.refs < 0 && !led("references") {
		member(`"references"`, refs(nil))
	}
	return append(out, '}')
}

// nativeStep runs a declarative step without a VM. done is false when it
// declined (nothing was sent; replay nil) or handed its request's outcome
// back (replay set): the step then runs in the VM.
func (e *Engine) nativeStep(ctx context.Context, r *StepRequest, op adaptors.NativeOp, c *compiled, conf map[string]any) (out json.RawMessage, serr *Error, replay *recorder.Replay, done bool) {
	st, ok := readState(r.Input)
	if !ok {
		return nil, nil, nil, false
	}
	args := make([]adaptors.NativeArg, len(c.plan.args))
	for i, a := range c.plan.args {
		if args[i], ok = st.arg(a); !ok {
			return nil, nil, nil, false
		}
	}
	stepCtx, cancel := context.WithTimeout(ctx, e.opts.StepTimeout)
	defer cancel()
	cutOff := new(atomic.Bool)
	client := r.HTTP.ForStep(r.Job.Key)
	client.CutOff = cutOff
	if conf == nil {
		conf = map[string]any{}
	}
	res := op(&adaptors.NativeCall{Conf: conf, Args: args, Run: &adaptors.Run{
		Ctx: stepCtx, HTTP: client, StepID: r.ID, Now: e.opts.Now, Values: r.Values, CutOff: cutOff,
		Log: func(level, msg string) { r.logLine(e, r.ID, level, msg) },
	}})
	if res.Declined {
		return nil, nil, nil, false
	}
	if stepCtx.Err() != nil {
		// as the VM's step: the deadline (or a cancel) ended the wait
		if ctx.Err() == context.Canceled {
			return nil, &Error{Name: "CancelledError", Severity: "kill", Source: "runtime", Message: "the run was cancelled"}, nil, true
		}
		return nil, timeoutError("", cutOff.Load()), nil, true
	}
	if res.Replay != nil {
		return nil, nil, res.Replay, false
	}
	o := st.next(res.Data, res.Lead, len(r.Input))
	if len(o) > e.opts.MaxStateBytes {
		return nil, tooLarge(r.ID, "final state", len(o), e.opts.MaxStateBytes), nil, true
	}
	return o, nil, nil, true
}

// MaxStateBytes is the cap on a step's serialized state.
func (e *Engine) MaxStateBytes() int { return e.opts.MaxStateBytes }

// NativeCounts is how many declarative steps this engine ran without a VM
// (ran), handed to the VM after sending (replayed: an error status, a
// transport error, a body read apart) or before (declined).
func (e *Engine) NativeCounts() (ran, replayed, declined int64) {
	return e.native.ran.Load(), e.native.replayed.Load(), e.native.declined.Load()
}
