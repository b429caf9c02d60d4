package runtime

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/dop251/goja"
	"github.com/dop251/goja/ast"
	"github.com/dop251/goja/parser"

	"github.com/jobmediator/jobmediator/config"
)

// The compile stage turns OpenFn job source into a goja program whose
// completion value is an array of [statementIndex, thunk] pairs. Each thunk
// calls one top-level operation factory. Non-operation statements (the
// "prelude") stay where they are, so they run first, and the factories are
// called afterwards in order — the order @openfn/compiler produces by moving
// operations into `export default [...]` at the end of the module.
//
// Everything is done by source-range edits on the original text (no code
// generation from the AST), and the edits never insert newlines, so line
// numbers in stack traces are the job's own lines; columns are mapped back
// through the edit list.

// compiled is a cached compilation of one (source, compat) pair.
type compiled struct {
	prog     *goja.Program
	name     string   // script name used in stack frames
	ops      int      // number of top-level operations found
	opPos    [][2]int // line and column of each operation in the job source
	opNames  []string // callee name of each operation (fn, each, get, …)
	warnings []string
	// globals are the only global names a step of this job can write (every
	// identifier-like word of its source); nil when it may write any, and
	// the VM's reset checks them all.
	globals []string
	// plan is the job's one operation call when it is declarative (see
	// native.go), nil otherwise.
	plan  *plan
	gen   string // generated source (debugging and tests)
	edits []edit // applied edits, sorted, for mapping positions back
	orig  string
}

// edit replaces orig[pos:end] with text. Insertions have end == pos.
type edit struct {
	pos, end int
	text     string
	// order breaks ties between insertions at the same offset: lower first.
	order int
}

var (
	progCache sync.Map // compileKey -> *compiled
	// import/export forms goja cannot parse; blanked (same length) so
	// offsets, lines and columns are unchanged.
	reImport       = regexp.MustCompile(`(?m)^[ \t]*import\s+(?:[\w$*{}\s,]+?\s+from\s+)?['"][^'"\n]+['"][ \t]*;?`)
	reExportFrom   = regexp.MustCompile(`(?m)^[ \t]*export\s+(?:\*|\{[^}]*\})\s+from\s+['"][^'"\n]+['"][ \t]*;?`)
	reExportDef    = regexp.MustCompile(`(?m)^([ \t]*)export\s+default\s+`)
	reExportDecl   = regexp.MustCompile(`(?m)^([ \t]*)export\s+(const|let|var|function|async\s+function|class)\b`)
	reExportNamed  = regexp.MustCompile(`(?m)^[ \t]*export\s+\{[^}]*\}[ \t]*;?`)
	reBOM          = "\ufeff"
	errLazyOutside = "LazyStateError: Must be inside an operation"
)

func blank(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c != '\n' && c != '\r' {
			b[i] = ' '
		}
	}
	return string(b)
}

// stripModuleSyntax blanks import/export syntax. It returns the offset of
// `export default`'s expression (-1 when absent).
func stripModuleSyntax(src string) (string, int) {
	src = reImport.ReplaceAllStringFunc(src, blank)
	src = reExportFrom.ReplaceAllStringFunc(src, blank)
	src = reExportNamed.ReplaceAllStringFunc(src, blank)
	def := -1
	if loc := reExportDef.FindStringSubmatchIndex(src); loc != nil {
		def = loc[1]
		src = src[:loc[3]] + blank(src[loc[3]:loc[1]]) + src[loc[1]:]
	}
	src = reExportDecl.ReplaceAllStringFunc(src, func(m string) string {
		i := strings.Index(m, "export")
		return m[:i] + "      " + m[i+6:]
	})
	return src, def
}

// compileKey is the cache key of a compilation. The source itself is in
// it rather than a SHA-256 of it: every step looks its job up, and hashing
// the source with the map's hash costs a fraction of hashing it with
// SHA-256 (plus the concatenated copy that was hashed).
type compileKey struct {
	compat    config.Compat
	name, src string
}

// compileJob compiles (or fetches from cache) a job's source.
func compileJob(name, src string, compat config.Compat) (*compiled, error) {
	key := compileKey{compat, name, src}
	if c, ok := progCache.Load(key); ok {
		return c.(*compiled), nil
	}
	c, err := compileSource(name, src, compat)
	if err != nil {
		return nil, err
	}
	progCache.Store(key, c)
	return c, nil
}

func compileSource(name, src string, compat config.Compat) (*compiled, error) {
	src = strings.TrimPrefix(src, reBOM)
	stripped, defPos := stripModuleSyntax(src)
	prog, err := parser.ParseFile(nil, name, stripped, 0)
	if err != nil {
		return nil, syntaxError(name, err)
	}
	cp := &compiler{src: stripped, name: name, compat: compat}
	if err := cp.lazyState(prog); err != nil {
		return nil, err
	}
	cp.classify(prog, defPos)
	strict := compat == config.CompatLightning
	prefix := "(function(){var __ops=[];"
	if strict {
		// Lightning jobs are ES modules, which are strict: an undeclared
		// assignment is a ReferenceError (RuntimeCrash).
		prefix = `(function(){"use strict";var __ops=[];`
	}
	cp.edits = append(cp.edits,
		edit{pos: 0, end: 0, text: prefix, order: -1000},
		edit{pos: len(stripped), end: len(stripped), text: "\n;return __ops;})()", order: 1000})
	gen := applyEdits(stripped, cp.edits)
	p, err := goja.Compile(name, gen, false)
	if err != nil {
		c := &compiled{name: name, edits: sortEdits(cp.edits), orig: stripped, gen: gen}
		return nil, c.compileErr(err)
	}
	return &compiled{prog: p, name: name, ops: cp.nops, plan: planOf(prog, compat), opPos: cp.opPos, opNames: cp.opNames, warnings: cp.warnings,
		globals: jobGlobals(gen, compat), gen: gen, edits: sortEdits(cp.edits), orig: stripped}, nil
}

// reWord matches runs that contain every identifier of a source: ASCII
// identifier characters, and any non-ASCII character but the whitespace a
// job may put next to an identifier (outside strings, comments and regular
// expressions a non-ASCII character is either part of an identifier or
// whitespace). Words in strings and comments come too; a superset is safe.
var reWord = regexp.MustCompile(`(?:[A-Za-z0-9_$]|[^\x00-\x7F\p{Zs}\x{FEFF}\x{2028}\x{2029}])+`)

// maxJobGlobals: past this many distinct words, checking each after a step
// costs about what checking every global does.
const maxJobGlobals = 200

// jobGlobals lists the global names a step of a lightning job can write.
// Its code is strict and can make no code from strings (eval, Function and
// the async and generator function constructors throw), so it reaches a
// global only by naming it: an assignment to an existing global (strict
// mode allows it), or through globalThis, when any name may be written
// (nil). An identifier written with a \u escape is not a word here (nil
// too). Legacy jobs are sloppy (an undeclared assignment, this in a plain
// call and eval all reach the global object): nil.
func jobGlobals(gen string, compat config.Compat) []string {
	if compat != config.CompatLightning || strings.Contains(gen, `\u`) {
		return nil
	}
	seen := map[string]bool{}
	names := []string{}
	for _, w := range reWord.FindAllString(gen, -1) {
		if w == "globalThis" {
			return nil
		}
		// a word cannot start with a digit (a number glued to it is a
		// syntax error), but only what follows the digits could be a name
		if w = strings.TrimLeft(w, "0123456789"); w == "" || seen[w] {
			continue
		}
		seen[w] = true
		names = append(names, w)
		if len(names) > maxJobGlobals {
			return nil
		}
	}
	return names
}

func syntaxError(name string, err error) *Error {
	var list parser.ErrorList
	var one *parser.Error
	e := &Error{Name: "CompileError", Severity: "crash", Source: "compiler", Step: name}
	switch {
	case errors.As(err, &list) && len(list) > 0:
		one = list[0]
	case errors.As(err, &one):
	}
	if one != nil {
		e.Line, e.Column = one.Position.Line, one.Position.Column
		e.Message = fmt.Sprintf("job %s: SyntaxError: %s (line %d, column %d)", name, one.Message, e.Line, e.Column)
	} else {
		e.Message = fmt.Sprintf("job %s: SyntaxError: %v", name, err)
	}
	return e
}

// compileErr maps an error from goja.Compile of the generated program (e.g.
// a strict-mode-only syntax error) back to the job's own positions.
func (c *compiled) compileErr(err error) *Error {
	e := syntaxError(c.name, err)
	if e.Line > 0 {
		e.Line, e.Column = c.mapBack(e.Line, e.Column)
		var one *parser.Error
		var list parser.ErrorList
		msg := err.Error()
		if errors.As(err, &list) && len(list) > 0 {
			msg = list[0].Message
		} else if errors.As(err, &one) {
			msg = one.Message
		}
		e.Message = fmt.Sprintf("job %s: SyntaxError: %s (line %d, column %d)", c.name, msg, e.Line, e.Column)
	}
	return e
}

// mapBack converts a 1-based line/column in the generated program to the
// job's source.
func (c *compiled) mapBack(line, col int) (int, int) {
	off := offsetOf(c.gen, line, col)
	// Walk the edits in order, tracking how far generated text is ahead.
	delta := 0
	for _, ed := range c.edits {
		gpos := ed.pos + delta
		if off < gpos {
			break
		}
		glen := len(ed.text)
		if off < gpos+glen { // inside inserted text: attribute to the edit point
			return lineCol(c.orig, ed.pos)
		}
		delta += glen - (ed.end - ed.pos)
	}
	o := off - delta
	if o < 0 {
		o = 0
	}
	if o > len(c.orig) {
		o = len(c.orig)
	}
	return lineCol(c.orig, o)
}

func offsetOf(s string, line, col int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := strings.IndexByte(s[off:], '\n')
		if i < 0 {
			return len(s)
		}
		off += i + 1
	}
	off += col - 1
	if off > len(s) {
		off = len(s)
	}
	return off
}

func lineCol(s string, off int) (int, int) {
	line := 1 + strings.Count(s[:off], "\n")
	start := strings.LastIndexByte(s[:off], '\n') + 1
	return line, off - start + 1
}

func sortEdits(es []edit) []edit {
	out := append([]edit(nil), es...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].pos != out[j].pos {
			return out[i].pos < out[j].pos
		}
		// insertions before replacements at the same offset
		ii, ij := out[i].end == out[i].pos, out[j].end == out[j].pos
		if ii != ij {
			return ii
		}
		return out[i].order < out[j].order
	})
	return out
}

func applyEdits(src string, es []edit) string {
	es = sortEdits(es)
	var b strings.Builder
	last := 0
	for _, e := range es {
		if e.pos < last { // overlapping edit: skip (defensive, should not happen)
			continue
		}
		b.WriteString(src[last:e.pos])
		b.WriteString(e.text)
		last = e.end
	}
	b.WriteString(src[last:])
	return b.String()
}

type compiler struct {
	src      string
	name     string
	compat   config.Compat
	edits    []edit
	nops     int
	opPos    [][2]int
	opNames  []string
	warnings []string
}

func o0(n ast.Node) int { return int(n.Idx0()) - 1 }
func o1(n ast.Node) int { return int(n.Idx1()) - 1 }

// walk visits every AST node depth-first, with its ancestors.
func walk(n ast.Node, parents []ast.Node, visit func(n ast.Node, parents []ast.Node)) {
	if n == nil || reflect.ValueOf(n).IsNil() {
		return
	}
	visit(n, parents)
	parents = append(parents, n)
	v := reflect.ValueOf(n).Elem()
	if v.Kind() != reflect.Struct {
		return
	}
	for i := 0; i < v.NumField(); i++ {
		walkValue(v.Field(i), parents, visit)
	}
}

var nodeType = reflect.TypeOf((*ast.Node)(nil)).Elem()

func walkValue(f reflect.Value, parents []ast.Node, visit func(ast.Node, []ast.Node)) {
	switch f.Kind() {
	case reflect.Interface, reflect.Pointer:
		if f.IsNil() {
			return
		}
		if f.Type().Implements(nodeType) {
			if n, ok := f.Interface().(ast.Node); ok {
				if f.Kind() == reflect.Interface {
					// unwrap to the concrete pointer
					inner := f.Elem()
					if inner.Kind() == reflect.Pointer {
						walk(n, parents, visit)
						return
					}
					// value-type node inside an interface (rare): walk its fields
					return
				}
				walk(n, parents, visit)
			}
		}
	case reflect.Slice:
		for i := 0; i < f.Len(); i++ {
			walkValue(f.Index(i), parents, visit)
		}
	case reflect.Struct:
		// embedded interfaces such as SpreadElement{Expression}
		for i := 0; i < f.NumField(); i++ {
			if f.Type().Field(i).Anonymous {
				walkValue(f.Field(i), parents, visit)
			}
		}
	}
}

// lazyState rewrites `$` member chains (§1.4).
func (cp *compiler) lazyState(prog *ast.Program) error {
	type wrapKey struct{ call, arg int }
	wrapped := map[wrapKey]bool{}
	var ferr error
	for _, st := range prog.Body {
		walk(st, nil, func(n ast.Node, parents []ast.Node) {
			if ferr != nil {
				return
			}
			var left ast.Expression
			switch m := n.(type) {
			case *ast.DotExpression:
				left = m.Left
			case *ast.BracketExpression:
				left = m.Left
			default:
				return
			}
			id, ok := left.(*ast.Identifier)
			if !ok || id.Name != "$" || shadowsDollar(parents) {
				return
			}
			call, arg, err := lazyTarget(n, parents)
			if err != nil {
				line, col := lineCol(cp.src, o0(id))
				ferr = &Error{Name: "CompileError", Severity: "crash", Source: "compiler", Step: cp.name, Line: line, Column: col,
					Message: fmt.Sprintf("job %s: %s (line %d, column %d)", cp.name, err.Error(), line, col)}
				return
			}
			cp.edits = append(cp.edits, edit{pos: o0(id), end: o1(id), text: "state"})
			k := wrapKey{o0(call), o0(arg)}
			if wrapped[k] {
				return
			}
			wrapped[k] = true
			if af, ok := arg.(*ast.ArrowFunctionLiteral); ok {
				if len(af.ParameterList.List) == 1 && af.ParameterList.Rest == nil {
					if pid, ok := af.ParameterList.List[0].Target.(*ast.Identifier); ok && pid.Name == "state" {
						return // already a reference of state
					}
				}
				line, col := lineCol(cp.src, o0(af))
				ferr = &Error{Name: "CompileError", Severity: "crash", Source: "compiler", Step: cp.name, Line: line, Column: col,
					Message: fmt.Sprintf("job %s: LazyStateError: an arrow function using $ must take exactly one parameter named state (line %d, column %d)", cp.name, line, col)}
				return
			}
			cp.edits = append(cp.edits,
				edit{pos: o0(arg), end: o0(arg), text: "state => (", order: 10},
				edit{pos: o1(arg), end: o1(arg), text: ")", order: -10})
		})
		if ferr != nil {
			return ferr
		}
	}
	return nil
}

// shadowsDollar reports whether an enclosing function binds `$` itself.
func shadowsDollar(parents []ast.Node) bool {
	for _, p := range parents {
		var pl *ast.ParameterList
		switch f := p.(type) {
		case *ast.FunctionLiteral:
			pl = f.ParameterList
		case *ast.ArrowFunctionLiteral:
			pl = f.ParameterList
		}
		if pl == nil {
			continue
		}
		for _, b := range pl.List {
			if id, ok := b.Target.(*ast.Identifier); ok && id.Name == "$" {
				return true
			}
		}
	}
	return false
}

// lazyTarget finds the call whose argument must become `state => …`.
func lazyTarget(n ast.Node, parents []ast.Node) (*ast.CallExpression, ast.Expression, error) {
	child := n
	for i := len(parents) - 1; i >= 0; i-- {
		p := parents[i]
		if _, ok := p.(ast.Statement); ok {
			return nil, nil, errors.New(errLazyOutside)
		}
		if call, ok := p.(*ast.CallExpression); ok {
			for _, a := range call.ArgumentList {
				if ast.Node(a) == child {
					if rootIdent(call.Callee) == "state" {
						break // state.foo($.x): wrap the state.* call itself
					}
					return call, a, nil
				}
			}
		}
		child = p
	}
	return nil, nil, errors.New(errLazyOutside)
}

func rootIdent(e ast.Expression) string {
	for {
		switch t := e.(type) {
		case *ast.Identifier:
			return string(t.Name)
		case *ast.DotExpression:
			e = t.Left
		case *ast.BracketExpression:
			e = t.Left
		case *ast.CallExpression:
			e = t.Callee
		default:
			return ""
		}
	}
}

// classify finds the operations among top-level statements and wraps each
// one as a thunk pushed onto __ops.
func (cp *compiler) classify(prog *ast.Program, defPos int) {
	for _, st := range prog.Body {
		es, ok := st.(*ast.ExpressionStatement)
		if !ok {
			continue
		}
		switch x := es.Expression.(type) {
		case *ast.ArrayLiteral:
			if defPos >= 0 && o0(x) == defPos {
				for _, el := range x.Value {
					if el != nil {
						cp.op(el)
					}
				}
				// the array literal itself stays: it now holds push counts
			}
		case *ast.CallExpression:
			cp.op(x)
		case *ast.SequenceExpression:
			if cp.compat != config.CompatLegacy {
				continue // lightning: not a CallExpression, factories called and discarded
			}
			all := true
			for _, e := range x.Sequence {
				if _, ok := e.(*ast.CallExpression); !ok {
					all = false
				}
			}
			if all {
				for _, e := range x.Sequence {
					cp.op(e)
				}
			}
		}
	}
}

// op wraps one operation expression, rewriting a trailing .then/.catch chain
// into the defer helper (§1.5).
func (cp *compiler) op(e ast.Expression) {
	n := cp.nops
	cp.nops++
	start, end := o0(e), o1(e)
	l, c := lineCol(cp.src, start)
	cp.opPos = append(cp.opPos, [2]int{l, c})
	cp.opNames = append(cp.opNames, opName(e))
	cp.edits = append(cp.edits,
		edit{pos: start, end: start, text: fmt.Sprintf("__ops.push([%d, () => (", n), order: 0},
		edit{pos: end, end: end, text: ")])", order: 0})
	cp.promiseChain(e)
}

func (cp *compiler) promiseChain(e ast.Expression) {
	var links []*ast.CallExpression // outermost first
	cur := e
	for {
		call, ok := cur.(*ast.CallExpression)
		if !ok {
			break
		}
		dot, ok := call.Callee.(*ast.DotExpression)
		if !ok || (dot.Identifier.Name != "then" && dot.Identifier.Name != "catch") {
			break
		}
		links = append(links, call)
		cur = dot.Left
	}
	if len(links) == 0 {
		return
	}
	base := cur
	if _, ok := base.(*ast.CallExpression); !ok {
		return // not an operation call chain; leave as written
	}
	// links in source order
	for i, j := 0, len(links)-1; i < j; i, j = i+1, j-1 {
		links[i], links[j] = links[j], links[i]
	}
	// Only a .catch straight after the operation becomes defer's error
	// handler (compiler transforms/promises.ts); a later .catch stays in
	// the promise chain and receives only the error.
	catchIdx := -1
	if links[0].Callee.(*ast.DotExpression).Identifier.Name == "catch" {
		catchIdx = 0
	}
	last := links[len(links)-1]
	var midCatch string
	if catchIdx >= 0 && catchIdx < len(links)-1 {
		// A .catch in the middle is cut out and applied to the operation
		// itself: render its argument (with nested edits) to move it.
		cl := links[catchIdx]
		midCatch = applyEditsRange(cp.src, cp.edits, int(cl.LeftParenthesis), int(cl.RightParenthesis)-1)
		cp.dropEditsIn(o1(cl.Callee.(*ast.DotExpression).Left), o1(cl))
	}
	cp.edits = append(cp.edits, edit{pos: o0(base), end: o0(base), text: "__defer(", order: 5})
	cp.edits = append(cp.edits, edit{pos: o1(base), end: o1(base), text: ", p => p", order: -5})
	if catchIdx < 0 {
		cp.edits = append(cp.edits, edit{pos: o1(last), end: o1(last), text: ")", order: -5})
		return
	}
	cl := links[catchIdx]
	segStart := o1(cl.Callee.(*ast.DotExpression).Left)
	if catchIdx == len(links)-1 {
		// ".catch(" becomes ", " and its ")" closes __defer(
		cp.edits = append(cp.edits, edit{pos: segStart, end: int(cl.LeftParenthesis), text: ", "})
		return
	}
	cp.edits = append(cp.edits,
		edit{pos: segStart, end: o1(cl), text: ""},
		edit{pos: o1(last), end: o1(last), text: ", " + midCatch + ")", order: -5})
}

// opName is the name OpenFn reports for an operation: the callee of the
// factory call, under any .then/.catch chain.
func opName(e ast.Expression) string {
	for {
		call, ok := e.(*ast.CallExpression)
		if !ok {
			return ""
		}
		switch cal := call.Callee.(type) {
		case *ast.Identifier:
			return string(cal.Name)
		case *ast.DotExpression:
			if n := cal.Identifier.Name; n != "then" && n != "catch" {
				return string(n)
			}
			e = cal.Left
		default:
			return ""
		}
	}
}

func applyEditsRange(src string, es []edit, from, to int) string {
	var in []edit
	for _, e := range es {
		if e.pos >= from && e.end <= to {
			in = append(in, edit{pos: e.pos - from, end: e.end - from, text: e.text, order: e.order})
		}
	}
	return applyEdits(src[from:to], in)
}

func (cp *compiler) dropEditsIn(from, to int) {
	out := cp.edits[:0]
	for _, e := range cp.edits {
		if e.pos >= from && e.end <= to {
			continue
		}
		out = append(out, e)
	}
	cp.edits = out
}
