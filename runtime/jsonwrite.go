package runtime

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/dop251/goja"

	"github.com/jobmediator/jobmediator/internal/jsonvalue"
)

// jsonWriter is JSON.stringify(value) (no replacer, no indent) written in
// Go for what states are made of: primitives, and arrays and objects with
// the VM's own Array.prototype and Object.prototype. goja's JSON.stringify
// allocates for every key it enumerates and every string it quotes (a
// UTF-16 reader each), about 100 of the 940 allocations of a routed
// language-http post went to serialising its body and final state.
//
// It follows SerializeJSONProperty step by step: each property read once
// with [[Get]] (getters run once, in order), toJSON called with the key,
// functions, symbols and undefined left out of objects and null in arrays,
// non-finite numbers null, a cycle the same TypeError. A value of any other
// kind (a boxed primitive, a Proxy, a class instance, an object without
// prototype, a BigInt, a Go value) is handed, once its toJSON has been
// applied, to goja's own JSON.stringify, which writes it as before; a
// string that may hold a lone surrogate (which Go has already turned into
// U+FFFD) or is not valid UTF-8 too, so it is escaped as goja escapes it.
// One difference remains: a toJSON that returns an object of another kind
// with a toJSON of its own has that one called too.
type jsonWriter struct {
	s     *slot
	buf   []byte
	stack []*goja.Object
}

var (
	mapType   = reflect.TypeOf(map[string]any{})
	sliceType = reflect.TypeOf([]any{})
	floatType = reflect.TypeOf(float64(0))
	intType   = reflect.TypeOf(int64(0))
	boolType  = reflect.TypeOf(false)
)

// installJSONStringify makes the VM's JSON.stringify(value) the native
// writer (the value of a language-http body, and what jobs serialise); a
// call with a replacer or an indent goes to goja's own, which stays
// s.jsonStr for the values the writer hands it.
func (s *slot) installJSONStringify() error {
	vm := s.vm
	orig, err := s.replaceJSON("stringify", 3, func(call goja.FunctionCall) goja.Value {
		if !goja.IsUndefined(call.Argument(1)) || !goja.IsUndefined(call.Argument(2)) {
			return nil
		}
		buf, ok, err := s.writeJSON(call.Argument(0), 0)
		out := string(buf)
		s.keepBuf(buf)
		switch {
		case err == errCircular:
			panic(vm.NewTypeError("Converting circular structure to JSON"))
		case err != nil:
			if p, ok := err.(*jsPanic); ok {
				panic(p.v)
			}
			throw(err)
		case !ok:
			return goja.Undefined()
		}
		return vm.ToValue(out)
	})
	s.jsonStr = orig
	return err
}

// replaceJSON replaces JSON[name] with a native function that answers with
// fast's value, or, when fast returns nil, with the builtin's (returned);
// the new function has the builtin's name and length, the property its
// attributes.
func (s *slot) replaceJSON(name string, length int, fast func(goja.FunctionCall) goja.Value) (goja.Callable, error) {
	vm := s.vm
	j := vm.Get("JSON").ToObject(vm)
	orig, ok := goja.AssertFunction(j.Get(name))
	if !ok {
		return nil, errors.New("JSON." + name + " is not a function")
	}
	f := vm.ToValue(func(call goja.FunctionCall) goja.Value {
		if v := fast(call); v != nil {
			return v
		}
		v, err := orig(call.This, call.Arguments...)
		if err != nil {
			throw(err)
		}
		return v
	}).(*goja.Object)
	if err := f.DefineDataProperty("name", vm.ToValue(name), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE); err != nil {
		return nil, err
	}
	if err := f.DefineDataProperty("length", vm.ToValue(length), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE); err != nil {
		return nil, err
	}
	return orig, j.DefineDataProperty(name, f, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
}

// throw rethrows, from a native function, an error a JavaScript call
// returned: a thrown value as itself, an interrupt as the interrupt.
func throw(err error) {
	if ex, ok := err.(*goja.Exception); ok {
		panic(ex.Value())
	}
	panic(err)
}

// maxKeptBuf: a larger serialisation buffer is left to the collector
// rather than held by the slot between steps.
const maxKeptBuf = 64 << 10

// jsPanic is what a property read panicked with (goja throws from a getter
// by panicking): the JSON.stringify builtin panics with it again, so the
// job sees what it threw; the final state's serialisation reports it.
type jsPanic struct{ v any }

func (p *jsPanic) Error() string { return fmt.Sprint(p.v) }

// Unwrap lets errors.As find an interrupt.
func (p *jsPanic) Unwrap() error {
	e, _ := p.v.(error)
	return e
}

// errCircular reads as goja's cycle error does, so slot.stringify falls
// back to the "[Circular]" serialiser for it as for goja's.
var errCircular = errors.New("TypeError: Converting circular structure to JSON")

// writeJSON returns JSON.stringify(v): ok false when that is undefined.
// out is the slot's serialisation buffer, lent: the caller copies what it
// keeps and hands it back with keepBuf, or keeps it whole (a final state
// too big for the slot to hold between steps) and does not.
//
// hint is the size the JSON is expected to reach (a big step's final
// state: its input's), 0 if unknown: a buffer that big is started rather
// than one grown by appends, each growth leaving the last buffer as
// garbage (four times the output in all at Go's 1.25 growth factor).
func (s *slot) writeJSON(v goja.Value, hint int) (out []byte, ok bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			// a getter threw, or the step was interrupted in one
			switch r.(type) {
			case error, goja.Value:
				err = &jsPanic{r}
			default:
				panic(r)
			}
		}
	}()
	// the slot's buffer, unless a toJSON serialising inside this call has it
	w := jsonWriter{s: s, buf: s.jsonBuf}
	s.jsonBuf = nil
	if w.buf == nil || cap(w.buf) < hint {
		w.buf = make([]byte, 0, max(512, hint))
	}
	ok, err = w.value("", -1, v)
	if !ok || err != nil {
		s.keepBuf(w.buf)
		return nil, false, err
	}
	return w.buf, true, nil
}

// keepBuf gives writeJSON's buffer back to the slot for the next call,
// unless it grew past maxKeptBuf.
func (s *slot) keepBuf(b []byte) {
	if cap(b) <= maxKeptBuf {
		s.jsonBuf = b[:0]
	}
}

// value writes one property's value; key (or index, when ≥ 0) is what its
// toJSON is called with. ok false: undefined, nothing written.
func (w *jsonWriter) value(key string, index int, v goja.Value) (bool, error) {
	if v == nil || goja.IsUndefined(v) {
		return false, nil
	}
	o, isObj := v.(*goja.Object)
	if isObj {
		if tj, ok := goja.AssertFunction(o.Get("toJSON")); ok {
			k := key
			if index >= 0 {
				k = strconv.Itoa(index)
			}
			r, err := tj(o, w.s.vm.ToValue(k))
			if err != nil {
				return false, err
			}
			return w.plain(r)
		}
	}
	return w.plain(v)
}

// plain writes a value whose toJSON, if any, has been applied.
func (w *jsonWriter) plain(v goja.Value) (bool, error) {
	switch {
	case v == nil || goja.IsUndefined(v):
		return false, nil
	case goja.IsNull(v):
		w.buf = append(w.buf, "null"...)
		return true, nil
	}
	o, isObj := v.(*goja.Object)
	if !isObj {
		if _, sym := v.(*goja.Symbol); sym {
			return false, nil
		}
		switch v.ExportType() {
		case boolType:
			w.buf = strconv.AppendBool(w.buf, v.ToBoolean())
			return true, nil
		case intType:
			w.buf = strconv.AppendInt(w.buf, v.ToInteger(), 10)
			return true, nil
		case floatType:
			if f := v.ToFloat(); math.IsNaN(f) || math.IsInf(f, 0) {
				w.buf = append(w.buf, "null"...)
			} else {
				w.buf = append(w.buf, v.String()...) // JavaScript's Number::toString
			}
			return true, nil
		case stringType:
			if str := v.String(); utf8.ValidString(str) && !strings.ContainsRune(str, utf8.RuneError) {
				w.buf = jsonvalue.AppendJSString(w.buf, str)
				return true, nil
			}
		}
		return w.delegate(v)
	}
	if _, callable := goja.AssertFunction(o); callable {
		return false, nil
	}
	switch et, proto := o.ExportType(), o.Prototype(); {
	case et == sliceType && proto == w.s.arrayProto && o.ClassName() == "Array":
		return true, w.array(o)
	case et == mapType && proto == w.s.objectProto && o.ClassName() == "Object":
		return true, w.object(o)
	}
	return w.delegate(o)
}

// delegate appends goja's JSON.stringify of v.
func (w *jsonWriter) delegate(v goja.Value) (bool, error) {
	r, err := w.s.jsonStr(goja.Undefined(), v)
	if err != nil {
		return false, err
	}
	if r == nil || goja.IsUndefined(r) {
		return false, nil
	}
	w.buf = append(w.buf, r.String()...)
	return true, nil
}

func (w *jsonWriter) push(o *goja.Object) error {
	for _, x := range w.stack {
		if x == o {
			return errCircular
		}
	}
	w.stack = append(w.stack, o)
	return nil
}

func (w *jsonWriter) object(o *goja.Object) error {
	if err := w.push(o); err != nil {
		return err
	}
	w.buf = append(w.buf, '{')
	first := true
	for _, k := range o.Keys() {
		mark := len(w.buf)
		if !first {
			w.buf = append(w.buf, ',')
		}
		w.buf = jsonvalue.AppendJSString(w.buf, k)
		w.buf = append(w.buf, ':')
		ok, err := w.value(k, -1, o.Get(k))
		if err != nil {
			return err
		}
		if !ok {
			w.buf = w.buf[:mark]
			continue
		}
		first = false
	}
	w.buf = append(w.buf, '}')
	w.stack = w.stack[:len(w.stack)-1]
	return nil
}

func (w *jsonWriter) array(o *goja.Object) error {
	if err := w.push(o); err != nil {
		return err
	}
	n := o.Get("length").ToInteger()
	w.buf = append(w.buf, '[')
	for i := int64(0); i < n; i++ {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		ok, err := w.value("", int(i), o.Get(strconv.FormatInt(i, 10)))
		if err != nil {
			return err
		}
		if !ok {
			w.buf = append(w.buf, "null"...)
		}
	}
	w.buf = append(w.buf, ']')
	w.stack = w.stack[:len(w.stack)-1]
	return nil
}
