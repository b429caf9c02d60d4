package common

import (
	"reflect"
	"strconv"

	"github.com/dop251/goja"

	"github.com/jobmediator/jobmediator/adaptors"
)

// expandDepth bounds the Go recursion of the native walk: deeper values
// (or a cycle) are handed to the JavaScript walk, whose recursion ends in
// goja's own "Maximum call stack size exceeded" rather than in a Go stack
// overflow.
const expandDepth = 200

// maxNativeArray: longer arrays are walked in JavaScript.
const maxNativeArray = 1 << 16

var proxyType = reflect.TypeOf(goja.Proxy{})

// expander is expandOne (common.js) walked in Go for the values jobs and
// adaptors expand: primitives, functions of state, plain arrays and plain
// objects. Calling back into goja for every element was most of
// expandReferences' cost (a small FHIR post: 15% of the run). Every other
// value (a RegExp, a Buffer, a Date, a class instance, a Proxy, an array
// with holes or another constructor, anything deeper than expandDepth) is
// handed whole to the JavaScript walk, so it is treated exactly as before.
type expander struct {
	vm                     *goja.Runtime
	objectProto, arrayProt *goja.Object
	arrayCtor              *goja.Object
	keepSpecial            bool          // ≥2.3.0: RegExp and Buffer-like values are kept
	js                     goja.Callable // expandOne in JavaScript
	state                  goja.Value
}

// newExpanderBase reads the intrinsics the walk compares against; called
// while the VM's globals are still its own.
func newExpanderBase(vm *goja.Runtime) *expander {
	arrayCtor := vm.Get("Array").ToObject(vm)
	return &expander{vm: vm, arrayCtor: arrayCtor,
		arrayProt:   arrayCtor.Get("prototype").ToObject(vm),
		objectProto: vm.Get("Object").ToObject(vm).Get("prototype").ToObject(vm)}
}

func newExpander(env *adaptors.Env) func(goja.FunctionCall) goja.Value {
	vm := env.VM
	x := newExpanderBase(vm)
	// expand(value, state, jsWalk, keepSpecial)
	return func(call goja.FunctionCall) goja.Value {
		js, ok := goja.AssertFunction(call.Argument(2))
		if !ok {
			panic(vm.NewTypeError("expand: no JavaScript walk"))
		}
		w := *x
		w.state, w.js, w.keepSpecial = call.Argument(1), js, call.Argument(3).ToBoolean()
		return w.walk(call.Argument(0), 0)
	}
}

// newExpandAll makes util.expandReferences(state, ...values): the values
// walked in order, as expandOne, into a new array. It was
// Array.prototype.slice of arguments, then map with a callback calling
// host.expand for each value: two arrays, a closure and a JavaScript call
// per value, for every request an adaptor expands (a tenth of a language-
// http post's own JavaScript). host.expandAll(expandJS, keepSpecial)
// returns the function.
func newExpandAll(env *adaptors.Env) func(goja.FunctionCall) goja.Value {
	x := newExpanderBase(env.VM)
	return func(call goja.FunctionCall) goja.Value {
		vm := env.VM
		js, ok := goja.AssertFunction(call.Argument(0))
		if !ok {
			panic(vm.NewTypeError("expandAll: no JavaScript walk"))
		}
		keep := call.Argument(1).ToBoolean()
		return vm.ToValue(func(c goja.FunctionCall) goja.Value {
			w := *x
			w.state, w.js, w.keepSpecial = c.Argument(0), js, keep
			var items []any
			if len(c.Arguments) > 1 {
				items = make([]any, len(c.Arguments)-1)
				for i, v := range c.Arguments[1:] {
					items[i] = w.walk(v, 0)
				}
			}
			return vm.NewArray(items...)
		})
	}
}

func (x *expander) fallback(v goja.Value) goja.Value {
	r, err := x.js(goja.Undefined(), v, x.state)
	if err != nil {
		panic(err)
	}
	return r
}

func (x *expander) walk(v goja.Value, depth int) goja.Value {
	o, ok := v.(*goja.Object)
	if !ok {
		return v // a primitive
	}
	if depth > expandDepth || o.ExportType() == proxyType {
		return x.fallback(v)
	}
	if f, ok := goja.AssertFunction(o); ok {
		r, err := f(goja.Undefined(), x.state)
		if err != nil {
			panic(err)
		}
		return x.walk(r, depth+1)
	}
	switch proto := o.Prototype(); {
	case proto == x.arrayProt && o.ClassName() == "Array":
		if c := o.Get("constructor"); c == nil || !c.SameAs(x.arrayCtor) {
			return x.fallback(v)
		}
		n := o.Get("length").ToInteger()
		if n > maxNativeArray {
			// left to JavaScript: a sparse array's length can be 2^32-1,
			// and only JavaScript can be interrupted at the step's deadline
			return x.fallback(v)
		}
		items := make([]any, 0, n)
		for i := int64(0); i < n; i++ {
			e := o.Get(strconv.FormatInt(i, 10))
			if e == nil {
				// a hole: map keeps it, NewArray cannot; the JavaScript
				// walk is only handed the elements not walked yet
				return x.finishArray(o, items, i, n)
			}
			items = append(items, x.walk(e, depth+1))
		}
		return x.vm.NewArray(items...)
	case proto == x.objectProto && o.ClassName() == "Object":
		// isBufferLike and isStream, in expandOne's order
		if x.keepSpecial {
			if b := o.Get("__isBuffer"); b != nil && b.StrictEquals(x.vm.ToValue(true)) {
				return v
			}
		}
		if _, ok := goja.AssertFunction(o.Get("pipe")); ok {
			if _, ok := goja.AssertFunction(o.Get("on")); ok {
				return v
			}
		}
		out := x.vm.NewObject()
		for _, k := range o.Keys() {
			if err := out.Set(k, x.walk(o.Get(k), depth+1)); err != nil {
				panic(err)
			}
		}
		return out
	}
	return x.fallback(v)
}

// finishArray builds the result of an array with a hole at from: the
// elements walked so far, then the rest as the JavaScript walk does (holes
// kept, each present element expanded once).
func (x *expander) finishArray(o *goja.Object, done []any, from, n int64) goja.Value {
	ctor, _ := goja.AssertConstructor(x.arrayCtor)
	arr, err := ctor(nil, x.vm.ToValue(n))
	if err != nil {
		panic(err)
	}
	for i, e := range done {
		_ = arr.Set(strconv.Itoa(i), e)
	}
	for i := from; i < n; i++ {
		k := strconv.FormatInt(i, 10)
		if e := o.Get(k); e != nil {
			_ = arr.Set(k, x.fallback(e))
		}
	}
	return arr
}
