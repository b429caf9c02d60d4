package runtime

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/dop251/goja"
)

// State crosses the Go/JavaScript boundary twice per step: the input state
// arrives as JSON bytes and the final state leaves as JSON bytes. Both
// directions are done natively here, never by interpreted code:
//
//   - parseJSON builds goja values straight from the bytes. goja's own
//     JSON.parse goes through encoding/json's Decoder.Token (an interface
//     value per token); this parser allocates only the values themselves and
//     shares one copy of each repeated object key, which is most of the
//     memory of a large record list.
//   - stringify writes the final state natively (jsonWriter, jsonwrite.go,
//     JSON.stringify's rules; values of other kinds through goja's own
//     JSON.stringify). The interpreted deep copy it replaces
//     (fast-safe-stringify semantics, kept as __jmStringify in helpers.go)
//     was 50-70% of a data-heavy run; it is now only the fallback for a
//     state with a cycle, which JSON.stringify rejects and OpenFn renders
//     as "[Circular]".

// maxJSONDepth bounds nesting so a hostile body cannot exhaust the stack.
const maxJSONDepth = 10000

// maxInternedKeys caps the key-sharing map. A record list repeats a few
// keys (sharing them is the memory win); a body of many distinct keys (one
// object of 500,000) shares nothing, and interning every key only grows a
// map as large as the object's own (≈0.2 s of a 500,000-key parse). Past the
// cap, known keys are still shared and new ones are not remembered.
const maxInternedKeys = 4096

// internFrom is the size of JSON text from which the parser shares
// repeated keys and short strings. Sharing is what keeps a large record
// list small; in a small document (a routed request's input state) the two
// maps and an insert per distinct key cost more than they save (a tenth of
// the parse of a 150-byte input, 10 of its 67 allocations).
const internFrom = 2048

type jsonParser struct {
	vm    *goja.Runtime
	data  []byte
	pos   int
	depth int
	keys  map[string]string // one string per distinct key
	vals  map[string]goja.Value
	proto bool // an object had a "__proto__" key
	// define: every key is defined as an own data property (never a [[Set]]
	// that could reach a setter a job put on Object.prototype), and a number
	// beyond float64 is an error: goja's JSON.parse exactly (see
	// installJSONParse).
	define bool
}

// parseJSON converts JSON text to a goja value with JSON.parse semantics
// (own data properties in text order, the last duplicate key wins,
// "__proto__" is an ordinary key, -0 stays -0).
func parseJSON(vm *goja.Runtime, data []byte) (goja.Value, error) {
	v, _, err := parseJSONProto(vm, data)
	return v, err
}

// parseJSONProto is parseJSON that also says whether any object of the
// text has a "__proto__" key (however it was escaped).
func parseJSONProto(vm *goja.Runtime, data []byte) (goja.Value, bool, error) {
	p := &jsonParser{vm: vm, data: data}
	if len(data) >= internFrom {
		p.keys, p.vals = map[string]string{}, map[string]goja.Value{}
	}
	v, err := p.parse()
	if err != nil {
		return nil, false, err
	}
	return v, p.proto, nil
}

// parse reads the whole text as one JSON value.
func (p *jsonParser) parse() (goja.Value, error) {
	p.skip()
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.skip()
	if p.pos != len(p.data) {
		return nil, p.errorf("unexpected %q after the JSON value", p.data[p.pos])
	}
	return v, nil
}

func (p *jsonParser) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid JSON at offset %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *jsonParser) skip() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jsonParser) value() (goja.Value, error) {
	if p.pos >= len(p.data) {
		return nil, p.errorf("unexpected end of input")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		return p.strValue()
	case c == 't':
		return p.literal("true", p.vm.ToValue(true))
	case c == 'f':
		return p.literal("false", p.vm.ToValue(false))
	case c == 'n':
		return p.literal("null", goja.Null())
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	default:
		return nil, p.errorf("unexpected %q", c)
	}
}

func (p *jsonParser) literal(word string, v goja.Value) (goja.Value, error) {
	if !strings.HasPrefix(string(p.data[p.pos:min(len(p.data), p.pos+len(word))]), word) {
		return nil, p.errorf("unexpected %q", p.data[p.pos])
	}
	p.pos += len(word)
	return v, nil
}

func (p *jsonParser) enter() error {
	p.depth++
	if p.depth > maxJSONDepth {
		return p.errorf("nested deeper than %d levels", maxJSONDepth)
	}
	return nil
}

func (p *jsonParser) object() (goja.Value, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	p.pos++ // {
	o := p.vm.NewObject()
	p.skip()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		p.depth--
		return o, nil
	}
	for {
		p.skip()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.errorf("expected a string key")
		}
		k, err := p.key()
		if err != nil {
			return nil, err
		}
		p.skip()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.errorf("expected ':' after a key")
		}
		p.pos++
		p.skip()
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		if k == "__proto__" || p.define {
			p.proto = p.proto || k == "__proto__"
			err = o.DefineDataProperty(k, v, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_TRUE)
		} else {
			err = o.Set(k, v)
		}
		if err != nil {
			return nil, err
		}
		p.skip()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unexpected end of input in an object")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			p.depth--
			return o, nil
		default:
			return nil, p.errorf("expected ',' or '}' in an object")
		}
	}
}

func (p *jsonParser) array() (goja.Value, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	p.pos++ // [
	var items []any
	p.skip()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		p.depth--
		return p.vm.NewArray(), nil
	}
	for {
		p.skip()
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		items = append(items, v)
		p.skip()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unexpected end of input in an array")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			p.depth--
			return p.vm.NewArray(items...), nil
		default:
			return nil, p.errorf("expected ',' or ']' in an array")
		}
	}
}

// plain returns the bytes of a string token without escapes (and moves
// past it), or ok false with the position unchanged.
func (p *jsonParser) plain() (b []byte, ok bool) {
	for i := p.pos + 1; i < len(p.data); i++ {
		c := p.data[i]
		if c == '"' {
			b = p.data[p.pos+1 : i]
			p.pos = i + 1
			return b, true
		}
		if c == '\\' || c < 0x20 {
			return nil, false
		}
	}
	return nil, false
}

// key reads an object key, shared with earlier equal keys: a known key is
// looked up by its bytes, so it costs no allocation at all.
func (p *jsonParser) key() (string, error) {
	if b, ok := p.plain(); ok {
		if p.keys == nil {
			return string(b), nil
		}
		if k, ok := p.keys[string(b)]; ok {
			return k, nil
		}
		k := string(b)
		if len(p.keys) < maxInternedKeys {
			p.keys[k] = k
		}
		return k, nil
	}
	return p.str()
}

// maxSharedLen bounds the string values shared like keys: short strings
// repeat (codes, names, statuses, dates), long ones rarely do.
const maxSharedLen = 32

// strValue reads a string value. A short one is shared with earlier equal
// values (one goja string for every "Ann" of a record list, as for keys):
// goja strings are immutable, so sharing is invisible to the job.
func (p *jsonParser) strValue() (goja.Value, error) {
	if b, ok := p.plain(); ok {
		if len(b) > maxSharedLen || p.vals == nil {
			return p.vm.ToValue(string(b)), nil
		}
		if v, ok := p.vals[string(b)]; ok {
			return v, nil
		}
		v := p.vm.ToValue(string(b))
		if len(p.vals) < maxInternedKeys {
			p.vals[string(b)] = v
		}
		return v, nil
	}
	s, err := p.str()
	if err != nil {
		return nil, err
	}
	return p.vm.ToValue(s), nil
}

// str reads a string token; the common case (no escapes) is one slice copy.
func (p *jsonParser) str() (string, error) {
	start := p.pos
	p.pos++ // "
	for i := p.pos; i < len(p.data); i++ {
		c := p.data[i]
		if c == '"' {
			s := string(p.data[p.pos:i])
			p.pos = i + 1
			return s, nil
		}
		if c == '\\' || c < 0x20 {
			return p.escaped(start)
		}
	}
	return "", p.errorf("unterminated string")
}

// escaped decodes a string with escapes through encoding/json, which
// decodes \uXXXX surrogate pairs; a lone surrogate becomes U+FFFD.
func (p *jsonParser) escaped(start int) (string, error) {
	i := start + 1
	for ; i < len(p.data); i++ {
		switch c := p.data[i]; {
		case c == '\\':
			i++
		case c == '"':
			var s string
			if err := json.Unmarshal(p.data[start:i+1], &s); err != nil {
				p.pos = start
				return "", p.errorf("bad string: %v", err)
			}
			p.pos = i + 1
			return s, nil
		case c < 0x20:
			p.pos = i
			return "", p.errorf("control character in a string")
		}
	}
	p.pos = start
	return "", p.errorf("unterminated string")
}

func (p *jsonParser) number() (goja.Value, error) {
	start := p.pos
	if p.data[p.pos] == '-' {
		p.pos++
	}
	digits := func() int {
		n := 0
		for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	intStart := p.pos
	if digits() == 0 {
		return nil, p.errorf("bad number")
	}
	if p.data[intStart] == '0' && p.pos-intStart > 1 {
		return nil, p.errorf("leading zero in a number")
	}
	integer := true
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		p.pos++
		integer = false
		if digits() == 0 {
			return nil, p.errorf("bad number")
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		p.pos++
		integer = false
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return nil, p.errorf("bad number")
		}
	}
	tok := string(p.data[start:p.pos])
	if integer && len(tok) < 16 && tok != "-0" {
		n, err := strconv.ParseInt(tok, 10, 64)
		if err == nil {
			return p.vm.ToValue(n), nil
		}
	}
	f, err := strconv.ParseFloat(tok, 64)
	if err != nil && (p.define || !math.IsInf(f, 0)) {
		return nil, p.errorf("bad number %s", tok)
	}
	return p.vm.ToValue(f), nil
}

// installJSONParse makes the VM's JSON.parse parse natively. goja's
// JSON.parse decodes through encoding/json's Decoder.Token, an interface
// value per token, about twice parseJSON's time and allocations (a
// language-http response body, and any body a job parses). The common call
// (a valid UTF-8 string, no reviver) is parsed by parseJSON in its exact
// mode (own data properties, numbers beyond float64 refused); any other
// call, and any text parseJSON refuses, goes to goja's own JSON.parse, so
// revivers and the SyntaxError messages are as they were.
func (s *slot) installJSONParse() error {
	vm := s.vm
	_, err := s.replaceJSON("parse", 2, func(call goja.FunctionCall) goja.Value {
		if len(call.Arguments) == 1 || len(call.Arguments) > 1 && call.Arguments[1] == goja.Undefined() {
			if text, ok := primitiveString(call.Arguments[0]); ok && utf8.ValidString(text) {
				// The text is read in place, not copied (a job's JSON.parse of a
				// 50 MB body would hold a second 50 MB for the parse, where
				// goja's reads through a strings.Reader): the parser only
				// reads data, and every string it makes is a copy.
				data := unsafe.Slice(unsafe.StringData(text), len(text)) //nolint:gosec // G103: read-only view of an immutable string, see above
				p := &jsonParser{vm: vm, data: data, define: true}
				if len(text) >= internFrom {
					p.keys, p.vals = map[string]string{}, map[string]goja.Value{}
				}
				if v, err := p.parse(); err == nil {
					return v
				}
			}
		}
		return nil
	})
	return err
}

var stringType = reflect.TypeOf("")

// primitiveString is a string primitive's value (a String object is not
// one).
func primitiveString(v goja.Value) (string, bool) {
	if _, isObj := v.(*goja.Object); isObj || v == nil || v.ExportType() != stringType {
		return "", false
	}
	return v.String(), true
}

// stringify serialises a final state with JSON.stringify semantics, with
// the keys in remove dropped from the top level (after toJSON, as
// fast-safe-stringify does). A state with a cycle falls back to the
// interpreted serialiser, which writes "[Circular]". hint is writeJSON's.
func (s *slot) stringify(v goja.Value, remove []string, hint int) ([]byte, error) {
	vm := s.vm
	root := v
	if o, ok := v.(*goja.Object); ok && len(remove) > 0 {
		if f, ok := goja.AssertFunction(o.Get("toJSON")); ok {
			r, err := f(o)
			if err != nil {
				return nil, err
			}
			root = r
		}
		if ro, ok := root.(*goja.Object); ok && ro.ClassName() != "Array" && hasAny(ro, remove) && !s.dropInPlace(ro, remove) {
			c := vm.NewObject()
			for _, k := range ro.Keys() {
				if containsKey(remove, k) {
					continue
				}
				var err error
				if k == "__proto__" {
					err = c.DefineDataProperty(k, ro.Get(k), goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_TRUE)
				} else {
					err = c.Set(k, ro.Get(k))
				}
				if err != nil {
					return nil, err
				}
			}
			root = c
		}
	}
	js, ok, err := s.writeJSON(root, hint)
	if err != nil {
		if strings.Contains(err.Error(), "circular structure") {
			r, err := s.strfy(goja.Undefined(), v, vm.ToValue(remove))
			if err != nil {
				return nil, err
			}
			return []byte(r.String()), nil
		}
		return nil, err
	}
	if !ok {
		return []byte("null"), nil
	}
	if !utf8.Valid(js) {
		out := bytes.ToValidUTF8(js, []byte("\uFFFD"))
		s.keepBuf(js)
		return out, nil
	}
	if cap(js) > maxKeptBuf && len(js) >= cap(js)/2 {
		// a big state: the buffer itself is the result, not copied (a
		// copy of a 7 MB final state was a peak of its own in make
		// bench's map 100k); one less than half full (sized for a bigger
		// input, see writeJSON) is copied out rather than kept whole
		return js, nil
	}
	out := bytes.Clone(js)
	s.keepBuf(js)
	return out, nil
}

// dropInPlace deletes the keys from a plain object (prototype
// Object.prototype, not a Proxy) instead of copying the rest of it: after
// its step no JavaScript runs that could see the final state again (reset
// drops its timers and globals), and JSON.stringify of the object without
// the keys writes what it writes of the copy (same own enumerable keys in
// the same order, each getter called once, no prototype toJSON). Copying
// was half of a trivial step's serialisation. false leaves the copy to the
// caller (a frozen state, another prototype).
func (s *slot) dropInPlace(o *goja.Object, keys []string) bool {
	if o.ClassName() != "Object" || o.ExportType() == proxyType || o.Prototype() != s.objectProto {
		return false
	}
	for _, k := range keys {
		if err := o.Delete(k); err != nil {
			return false
		}
	}
	return true
}

var proxyType = reflect.TypeOf(goja.Proxy{})

func hasAny(o *goja.Object, keys []string) bool {
	for _, k := range keys {
		if v := o.Get(k); v != nil {
			return true
		}
	}
	return false
}

func containsKey(keys []string, k string) bool {
	for _, x := range keys {
		if x == k {
			return true
		}
	}
	return false
}

// assembleState parses the step's input, default state and configuration
// natively and assembles the step's initial state (§2.1): natively in the
// common case (see assembleLightning), else by __jmAssemble. The
// configuration comes as Go values (conf, when plainJSON says they are
// what their JSON would parse back to) or as JSON text (confJSON).
func (s *slot) assembleState(input []byte, defJSON string, conf map[string]any, confJSON string, lightning bool) (goja.Value, error) {
	vm := s.vm
	var in, def, confVal goja.Value = goja.Undefined(), vm.NewObject(), goja.Null()
	var err error
	proto := false
	if len(input) > 0 {
		if in, proto, err = parseJSONProto(vm, input); err != nil {
			return nil, err
		}
	}
	confProto := false
	switch {
	case conf != nil:
		if lightning && defJSON == "" && !proto {
			if st, ok := assembleLightning(vm, in, nil, conf); ok {
				return st, nil
			}
		}
		confVal = jsonToValue(vm, conf)
	case confJSON != "":
		if confVal, confProto, err = parseJSONProto(vm, []byte(confJSON)); err != nil {
			return nil, err
		}
	}
	if lightning && defJSON == "" && !proto && !confProto {
		if st, ok := assembleLightning(vm, in, confVal, nil); ok {
			return st, nil
		}
	}
	if defJSON != "" {
		if def, err = parseJSON(vm, []byte(defJSON)); err != nil {
			return nil, err
		}
	}
	return s.assemble(goja.Undefined(), in, def, confVal, vm.ToValue(lightning))
}

// maxSafeInt is 2^53: integers up to it in magnitude are the same number
// after JSON's float64 round trip.
const maxSafeInt = 1 << 53

// plainJSON reports whether v (a step's configuration: credential and
// inline values from JSON or YAML) is made only of values that
// json.Marshal writes and parseJSON reads back as themselves, with no
// "__proto__" key: nil, booleans, valid UTF-8 strings, finite float64s,
// integers within ±2^53, and maps and slices of those. Such a
// configuration goes into the VM directly (jsonToValue) rather than
// through json.Marshal and a parse of its text, which were a fifth of a
// trivial step's CPU. Anything else (another type, a cycle, invalid UTF-8
// json.Marshal would replace) keeps the JSON round trip and its errors.
func plainJSON(v any, depth int) bool {
	if depth > 64 {
		return false
	}
	switch t := v.(type) {
	case nil, bool:
		return true
	case string:
		return utf8.ValidString(t)
	case float64:
		return !math.IsNaN(t) && !math.IsInf(t, 0)
	case int:
		return t >= -maxSafeInt && t <= maxSafeInt
	case int64:
		return t >= -maxSafeInt && t <= maxSafeInt
	case map[string]any:
		for k, x := range t {
			if k == "__proto__" || !utf8.ValidString(k) || !plainJSON(x, depth+1) {
				return false
			}
		}
		return true
	case []any:
		for _, x := range t {
			if !plainJSON(x, depth+1) {
				return false
			}
		}
		return true
	}
	return false
}

// jsonToValue is parseJSON(json.Marshal(v)) for a v plainJSON accepts:
// objects with their keys in json.Marshal's (sorted) order, a nil map or
// slice as null.
func jsonToValue(vm *goja.Runtime, v any) goja.Value {
	switch t := v.(type) {
	case nil:
		return goja.Null()
	case int:
		return vm.ToValue(int64(t))
	case map[string]any:
		if t == nil {
			return goja.Null()
		}
		o := vm.NewObject()
		setSorted(vm, o, t)
		return o
	case []any:
		if t == nil {
			return goja.Null()
		}
		items := make([]any, len(t))
		for i, x := range t {
			items[i] = jsonToValue(vm, x)
		}
		return vm.NewArray(items...)
	}
	return vm.ToValue(v) // bool, string, float64, int64
}

// setSorted sets m's keys on o in sorted order, as json.Marshal writes them.
func setSorted(vm *goja.Runtime, o *goja.Object, m map[string]any) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		_ = o.Set(k, jsonToValue(vm, m[k]))
	}
}

// assembleLightning is __jmAssemble's lightning branch for a step without
// default state whose input and configuration have no "__proto__" key
// (which Object.assign would turn into a prototype): the input object
// parsed for this step, referenced nowhere else, is the assembled state
// itself rather than a key-by-key copy of it. Calling into JavaScript for
// this was 16% of a trivial step's CPU. ok is false for any other shape
// of input (an array, a primitive, a configuration that is not an object),
// which __jmAssemble handles.
//
//	s = Object.assign({}, {}, input)       → input itself
//	s.data: kept when an object or array   → else null becomes {}; absent: {} appended
//	s.configuration = Object.assign({}, input.configuration, conf || {})
//
// The configuration is conf, or confMap's values (see plainJSON) when it
// is not nil.
func assembleLightning(vm *goja.Runtime, in, conf goja.Value, confMap map[string]any) (goja.Value, bool) {
	var s *goja.Object
	switch v := in.(type) {
	case *goja.Object:
		if v.ClassName() != "Object" {
			return nil, false
		}
		s = v
	default:
		if !goja.IsUndefined(in) && !goja.IsNull(in) {
			return nil, false
		}
		s = vm.NewObject()
		_ = s.Set("data", vm.NewObject())
		_ = s.Set("configuration", vm.NewObject())
	}
	inConf := s.Get("configuration")
	var confObj *goja.Object
	if inConf != nil && !goja.IsUndefined(inConf) && !goja.IsNull(inConf) {
		o, ok := inConf.(*goja.Object)
		if !ok || o.ClassName() != "Object" {
			return nil, false // a string or array spreads its indices: __jmAssemble
		}
		confObj = o
	}
	switch d := s.Get("data"); {
	case d == nil || goja.IsUndefined(d) || goja.IsNull(d):
		_ = s.Set("data", vm.NewObject())
	}
	c := vm.NewObject()
	for _, src := range []goja.Value{confObj, conf} {
		o, ok := src.(*goja.Object)
		if !ok || o == nil {
			continue
		}
		for _, k := range o.Keys() {
			_ = c.Set(k, o.Get(k))
		}
	}
	if confMap != nil {
		setSorted(vm, c, confMap)
	}
	_ = s.Set("configuration", c)
	return s, true
}
