package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/dop251/goja"

	"github.com/jobmediator/jobmediator/adaptors"
	"github.com/jobmediator/jobmediator/config"
)

// TestParseJSONMatchesJSONParse: the native parser gives the same values as
// goja's JSON.parse (compared through JSON.stringify and a few identities
// JSON.stringify cannot show).
func TestParseJSONMatchesJSONParse(t *testing.T) {
	vm := goja.New()
	stringify, _ := goja.AssertFunction(vm.Get("JSON").ToObject(vm).Get("stringify"))
	parse, _ := goja.AssertFunction(vm.Get("JSON").ToObject(vm).Get("parse"))
	for _, in := range []string{
		`null`, `true`, `false`, `0`, `-0`, `1`, `-12`, `1.5`, `1e3`, `-1.25E-2`, `123456789012345678901234567890`,
		`9007199254740993`, `""`, `"plain"`, `"esc \" \\ \/ \b \f \n \r \t"`, `"\u00e9\u4e2d"`, `"😀 \ud83d\ude00"`,
		`"é中"`, `[]`, `{}`, `[1,"a",null,[],{}]`, ` { "a" : 1 , "b" : [ true , false ] } `,
		`{"b":1,"a":2,"1":3,"0":4}`, `{"a":1,"a":2}`, `{"__proto__":{"x":1},"y":2}`,
		`{"data":{"records":[{"id":"r1","age":3},{"id":"r2","age":4}]}}`,
		manyKeys(maxInternedKeys + 10),
		// repeated short values are shared, long and escaped ones are not
		`[{"s":"Ann","k\u0061":"Lee"},{"s":"Ann","ka":"Lee\n"},{"s":"é","ka":"é"},{"s":"` + strings.Repeat("x", maxSharedLen+1) + `","ka":""}]`,
	} {
		got, err := parseJSON(vm, []byte(in))
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		want, err := parse(goja.Undefined(), vm.ToValue(in))
		if err != nil {
			t.Fatalf("%s: JSON.parse: %v", in, err)
		}
		g, _ := stringify(goja.Undefined(), got)
		w, _ := stringify(goja.Undefined(), want)
		if g.String() != w.String() {
			t.Errorf("%s: got %s, JSON.parse gives %s", in, g, w)
		}
		// SameValue tells -0 from 0, which JSON.stringify cannot
		if _, isObj := want.(*goja.Object); !isObj && !got.SameAs(want) {
			t.Errorf("%s: got %v (%T), JSON.parse gives %v (%T)", in, got, got, want, want)
		}
	}
	// __proto__ is an own key, not the prototype
	v, _ := parseJSON(vm, []byte(`{"__proto__":{"x":1}}`))
	if x := v.(*goja.Object).Get("x"); x != nil && !goja.IsUndefined(x) {
		t.Errorf("__proto__ key set the prototype")
	}
}

func TestParseJSONRejects(t *testing.T) {
	vm := goja.New()
	for _, in := range []string{``, `{`, `[1,]`, `{"a":1,}`, `{a:1}`, `01`, `1.`, `.5`, `-`, `1e`, `"abc`, "\"a\x01\"", `tru`, `nul`,
		`{"a":1} {"b":2}`, `[1 2]`, `{"a" 1}`, `"\x"`, strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1)} {
		if _, err := parseJSON(vm, []byte(in)); err == nil || !strings.Contains(err.Error(), "invalid JSON at offset") {
			t.Errorf("%q: got %v, want an invalid JSON error", in, err)
		}
	}
}

// TestStringify: the native serialiser keeps fast-safe-stringify's
// results: toJSON first, configuration/response dropped at the top level
// only, functions and undefined dropped, cycles as "[Circular]".
func TestStringify(t *testing.T) {
	s := commonSlot(t)
	remove := []string{"configuration", "response"}
	for _, tc := range []struct {
		name, js, want string
		remove         []string
	}{
		{"plain", `({data: {a: 1, b: [1, 'x', null]}, references: []})`, `{"data":{"a":1,"b":[1,"x",null]},"references":[]}`, remove},
		{"removed top level only", `({data: {configuration: 1, response: 2}, configuration: {password: 'p'}, response: {}})`, `{"data":{"configuration":1,"response":2}}`, remove},
		{"legacy keeps configuration", `({data: 1, configuration: {a: 1}})`, `{"data":1,"configuration":{"a":1}}`, nil},
		{"functions and undefined", `({f: function () {}, u: undefined, a: [undefined, function () {}]})`, `{"a":[null,null]}`, remove},
		{"toJSON at the root first", `({toJSON: function () { return {x: 1, configuration: 2}; }})`, `{"x":1}`, remove},
		{"dates", `({d: new Date(0)})`, `{"d":"1970-01-01T00:00:00.000Z"}`, remove},
		{"cycle", `(function () { var o = {data: {}}; o.data.self = o; return o; })()`, `{"data":{"self":"[Circular]"}}`, remove},
		{"undefined root", `undefined`, `null`, remove},
		{"array root", `[1, {configuration: 1}]`, `[1,{"configuration":1}]`, remove},
		{"non-ASCII", `({s: 'é中😀'})`, `{"s":"é中😀"}`, remove},
		{"NaN", `({n: NaN, i: -Infinity, z: -0})`, `{"n":null,"i":null,"z":0}`, remove},
		{"getter", `({get g() { return 7; }, configuration: 1})`, `{"g":7}`, remove},
		{"__proto__ key", `JSON.parse('{"__proto__":{"x":1},"configuration":1}')`, `{"__proto__":{"x":1}}`, remove},
		// removed in place from a plain object, copied from anything else
		{"frozen", `Object.freeze({a: 1, configuration: 2, response: 3})`, `{"a":1}`, remove},
		{"non-configurable", `Object.defineProperty({a: 1, response: 3}, 'configuration', {value: 2, enumerable: true})`, `{"a":1}`, remove},
		{"class instance", `(function () { class S { constructor() { this.a = 1; this.configuration = 2; } toJSON2() {} } return new S(); })()`, `{"a":1}`, remove},
		{"constructor instance", `(function () { function S() { this.a = 1; this.configuration = 2; } S.prototype.x = function () {}; return new S(); })()`, `{"a":1}`, remove},
		{"proxy", `new Proxy({a: 1, configuration: 2}, {})`, `{"a":1}`, remove},
		{"non-enumerable key", `Object.defineProperty({a: 1, configuration: 2}, 'h', {value: 3})`, `{"a":1}`, remove},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := s.vm.RunString(tc.js)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.stringify(v, tc.remove, 0)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// TestAssembleData checks §2.1's data merge (Object.assign({},
// defaults.data, input.data)) on both of its paths: the input's own data
// object when there is nothing to merge, and the copy when there is, or
// when the copy differs (an own "__proto__" key becomes the copy's
// prototype, so JSON.stringify no longer shows it).
func TestAssembleData(t *testing.T) {
	e := New(Options{})
	for _, tc := range []struct {
		name, input string
		defaults    map[string]any
		want        string
	}{
		{"no defaults", `{"data":{"b":2,"a":1}}`, nil, `{"b":2,"a":1}`},
		{"defaults without data", `{"data":{"b":2}}`, map[string]any{"x": 1}, `{"b":2}`},
		{"empty default data", `{"data":{"b":2}}`, map[string]any{"data": map[string]any{}}, `{"b":2}`},
		{"default data merged under", `{"data":{"b":2,"a":3}}`, map[string]any{"data": map[string]any{"a": 1, "c": 4}}, `{"a":3,"c":4,"b":2}`},
		{"default data string", `{"data":{"b":2}}`, map[string]any{"data": "xy"}, `{"0":"x","1":"y","b":2}`},
		{"input data missing", `{}`, map[string]any{"data": map[string]any{"a": 1}}, `{"a":1}`},
		{"own __proto__ key", `{"data":{"__proto__":{"p":1},"b":2}}`, nil, `{"b":2}`},
		{"array data kept", `{"data":[1,2]}`, map[string]any{"data": map[string]any{"a": 1}}, `[1,2]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job := &config.Job{Key: "j", Adaptor: "common", Body: "fn(s => ({ data: s.data, proto: s.data && Object.getPrototypeOf(s.data) === Object.prototype }))", State: tc.defaults}
			res := e.RunJob(context.Background(), job, config.CompatLightning, json.RawMessage(tc.input), RunRequest{})
			if res.Status != StatusSuccess {
				t.Fatalf("%+v", res.Error)
			}
			var out struct {
				Data  json.RawMessage `json:"data"`
				Proto bool            `json:"proto"`
			}
			if err := json.Unmarshal(res.State, &out); err != nil {
				t.Fatalf("%s: %v", res.State, err)
			}
			if string(out.Data) != tc.want {
				t.Errorf("data = %s, want %s", out.Data, tc.want)
			}
			if out.Proto != (tc.name != "own __proto__ key" && tc.name != "array data kept") {
				t.Errorf("proto = %v", out.Proto)
			}
		})
	}
}

// manyKeys is an object with n distinct keys (more than the parser
// interns) followed by records that reuse the first and the last of them.
func manyKeys(n int) string {
	var b strings.Builder
	b.WriteString(`{"wide":{`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%d":%d`, i, i)
	}
	fmt.Fprintf(&b, `},"records":[{"k0":1,"k%d":2},{"k0":3,"k%d":4}]}`, n-1, n-1)
	return b.String()
}

// TestAssembleLightningMatchesJS: the native §2.1 assembly gives what
// __jmAssemble gives (same JSON, same key order, configuration a fresh
// object), and declines the shapes it leaves to __jmAssemble.
func TestAssembleLightningMatchesJS(t *testing.T) {
	s := commonSlot(t)
	vm := s.vm
	stringify, _ := goja.AssertFunction(vm.Get("JSON").ToObject(vm).Get("stringify"))
	show := func(v goja.Value) string {
		r, err := stringify(goja.Undefined(), v)
		if err != nil {
			t.Fatal(err)
		}
		return r.String()
	}
	native := 0
	for _, in := range []string{
		``, `null`, `{}`, `{"data":null}`, `{"data":5}`, `{"data":"s"}`, `{"data":[1]}`, `{"data":{}}`,
		`{"x":1,"data":{"a":1},"configuration":{"k":1,"a":0},"y":2}`, `{"configuration":null,"data":{"b":1}}`,
		`{"configuration":"ab"}`, `{"configuration":[1,2]}`, `{"configuration":7}`, `[1,2]`, `"str"`, `3`,
	} {
		for _, confJSON := range []string{"", `{"a":2,"b":3}`} {
			parse := func() (goja.Value, goja.Value) {
				iv, cv := goja.Undefined(), goja.Null()
				if in != "" {
					iv, _ = parseJSON(vm, []byte(in))
				}
				if confJSON != "" {
					cv, _ = parseJSON(vm, []byte(confJSON))
				}
				return iv, cv
			}
			iv, cv := parse()
			want, err := s.assemble(goja.Undefined(), iv, vm.NewObject(), cv, vm.ToValue(true))
			if err != nil {
				t.Fatal(err)
			}
			iv, cv = parse()
			got, ok := assembleLightning(vm, iv, cv, nil)
			if !ok {
				continue
			}
			native++
			if g, w := show(got), show(want); g != w {
				t.Errorf("input %q conf %q: native %s, __jmAssemble %s", in, confJSON, g, w)
			}
			if c := got.(*goja.Object).Get("configuration"); cv != goja.Null() && c.SameAs(cv) {
				t.Errorf("input %q: configuration is the credential object itself, not a copy", in)
			}
		}
	}
	if native < 16 {
		t.Errorf("the native assembly took only %d of the cases", native)
	}
}

// commonSlot is a fresh lightning VM with language-common.
func commonSlot(t testing.TB) *slot {
	t.Helper()
	def, ver, err := adaptors.Resolve("common")
	if err != nil {
		t.Fatal(err)
	}
	s, err := newSlot(def, ver, config.CompatLightning)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestJSONToValueMatchesParse: a configuration plainJSON accepts goes into
// the VM as what parsing its json.Marshal text gives (same JSON, same key
// order, numbers and strings unchanged), and everything plainJSON refuses
// would change or fail on the way through JSON.
func TestJSONToValueMatchesParse(t *testing.T) {
	s := commonSlot(t)
	vm := s.vm
	show := func(v goja.Value) string {
		r, err := s.jsonStr(goja.Undefined(), v)
		if err != nil {
			t.Fatal(err)
		}
		return r.String()
	}
	var nilMap map[string]any
	var nilList []any
	conf := map[string]any{
		"baseUrl": "https://example.org/api?x=<1>&y=2", "username": "ünï", "password": "p\"w\\d\n\u2028",
		"port": 8080, "big": int64(1 << 53), "neg": -12, "ratio": 0.1, "tiny": 1e-300, "huge": 1e21, "negzero": math.Copysign(0, -1),
		"on": true, "off": false, "none": nil, "nilmap": nilMap, "nillist": nilList,
		"nested": map[string]any{"z": 1.5, "a": []any{"x", 2, map[string]any{"k": nil}}, "m": map[string]any{}}, "empty": []any{},
	}
	if !plainJSON(conf, 0) {
		t.Fatal("plainJSON refused a plain configuration")
	}
	b, err := json.Marshal(conf)
	if err != nil {
		t.Fatal(err)
	}
	want, err := parseJSON(vm, b)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := show(jsonToValue(vm, conf)), show(want); g != w {
		t.Errorf("jsonToValue: %s\nparse of json.Marshal: %s", g, w)
	}
	// -0 stays -0 (JSON.stringify writes 0 for both)
	if v := jsonToValue(vm, conf).(*goja.Object).Get("negzero"); !v.SameAs(want.(*goja.Object).Get("negzero")) {
		t.Errorf("negzero = %v", v)
	}
	for name, v := range map[string]any{
		"__proto__ key": map[string]any{"__proto__": map[string]any{"x": 1}},
		"nested proto":  map[string]any{"a": []any{map[string]any{"__proto__": 1}}},
		"NaN":           math.NaN(), "Inf": math.Inf(1),
		"int beyond 2^53": int64(1<<53 + 1), "bad UTF-8": "a\xffb", "bad UTF-8 key": map[string]any{"\xff": 1},
		"other type": []string{"a"}, "uint": uint(1), "json.Number": json.Number("1"),
	} {
		if plainJSON(v, 0) {
			t.Errorf("plainJSON accepted %s", name)
		}
	}
	cyc := map[string]any{}
	cyc["self"] = cyc
	if plainJSON(cyc, 0) {
		t.Error("plainJSON accepted a cycle")
	}
}

// TestJSONParseMatchesGoja: the VM's JSON.parse (installJSONParse) gives
// what goja's own gives, value for value, error for error, for texts its
// native path takes and for those it hands back.
func TestJSONParseMatchesGoja(t *testing.T) {
	s := commonSlot(t)
	ref := goja.New()
	big := manyKeys(5000)
	texts := []string{
		`{"a":1,"b":[true,false,null],"c":{"d":"e"}}`, `[]`, `{}`, `  [1 , 2 ]  `, `"str"`, `12`, `-0`, `-0.0`, `1e5`, `1E-5`,
		`123456789012345678901`, `0.1`, `1.7976931348623157e308`, `1e400`, `-1e400`, `{"k":1,"k":2,"j":3}`,
		`{"__proto__":{"x":1},"y":2}`, `"\ud83d\ude00 \u00e9 \ud800"`, `"tab\there"`, `"a\u0000b"`, `{"é":"ü"}`,
		"\"ctl\u0001\"", `[1,]`, `{"a":1,}`, `01`, `1.`, `.5`, `-`, ``, ` `, `tru`, `truex`, `[1] 2`, `{"a"}`, `nul`,
		strings.Repeat("[", 300) + strings.Repeat("]", 300), big,
	}
	for _, text := range texts {
		for _, call := range []string{`JSON.stringify(JSON.parse(t))`, `JSON.stringify(JSON.parse(t, undefined))`,
			`JSON.stringify(JSON.parse(t, function (k, v) { return typeof v === 'number' ? v + 1 : v; }))`,
			`(function () { var v = JSON.parse(t); return v !== null && typeof v === 'object' ? Object.keys(v).join(',') + '|' + (Object.getPrototypeOf(v) === Object.prototype || Array.isArray(v)) : String(1 / v); })()`} {
			run := func(vm *goja.Runtime) string {
				_ = vm.Set("t", text)
				v, err := vm.RunString(call)
				if err != nil {
					msg := err.Error()
					if i := strings.Index(msg, " at "); i >= 0 {
						msg = msg[:i]
					}
					return "error: " + msg
				}
				return v.String()
			}
			short := text
			if len(short) > 40 {
				short = short[:40]
			}
			if g, w := run(s.vm), run(ref); g != w {
				t.Errorf("%s with t = %q:\n got %.200s\nwant %.200s", call, short, g, w)
			}
		}
	}
	// a setter a job puts on Object.prototype is not called: keys are
	// defined, as goja's JSON.parse does
	v, err := s.vm.RunString(`(function () { var hit = 0; Object.defineProperty(Object.prototype, 'trap', { set: function () { hit++; }, configurable: true });
  try { var o = JSON.parse('{"trap":1}'); return hit + ':' + Object.prototype.hasOwnProperty.call(o, 'trap') + ':' + JSON.parse.name + ':' + JSON.parse.length; } finally { delete Object.prototype.trap; } })()`)
	if err != nil || v.String() != "0:true:parse:2" {
		t.Errorf("setter, name, length: %v %v", v, err)
	}
}

// TestWriteJSONMatchesGoja: the native final-state serialiser writes what
// goja's JSON.stringify writes, fails where it fails, and runs getters and
// toJSON as often, with the same keys.
func TestWriteJSONMatchesGoja(t *testing.T) {
	s := commonSlot(t)
	exprs := []string{
		`({a: 1, b: 'x', c: true, d: null, e: undefined, f: function () {}, g: Symbol('s'), h: [1, undefined, function () {}, Symbol('t'), null]})`,
		`({n: [0, -0, 1.5, -2.25, 1e21, 1e-7, 123456789012345680000, NaN, Infinity, -Infinity, 2 ** 53, 0.1 + 0.2]})`,
		`({s: ['', 'plain', 'quote " back \\ slash', '\b\f\n\r\t', '\u0000\u0001\u001f\u007f', 'é ü 中 😀', '\u2028\u2029', '\ud800 lone', 'x\udc00', '\ufffd real', '</script>&<>']})`,
		`({2: 'two', b: 1, 1: 'one', a: 2, '-1': 3, '01': 4})`,
		`({d: new Date(0), when: [new Date(86400000)]})`,
		`({n: new Number(3), s: new String('s'), b: new Boolean(false)})`,
		`(function () { class P { constructor() { this.x = 1; } } return {p: new P(), q: Object.create(null), r: /re/g, m: new Map([[1, 2]]), e: new Error('m')}; })()`,
		`(function () { var a = [1, , 3]; a.extra = 'x'; return {a: a, sparse: new Array(3)}; })()`,
		`({k: {toJSON: function (key) { return 'key=' + key; }}, arr: [{toJSON: function (key) { return typeof key + key; }}]})`,
		`({k: {toJSON: function () { return undefined; }}, l: [{toJSON: function () { return function () {}; }}]})`,
		`({k: {toJSON: function () { return {inner: [1, {toJSON: function (k) { return 'deep' + k; }}]}; }}})`,
		`(function () { var n = 0; var o = {get a() { n++; return n; }, get b() { return 'b' + n; }}; return {o: o, again: o, count: function () { return n; }}; })()`,
		`(function () { var o = {x: 1}; return {a: o, b: [o, o]}; })()`,
		`(function () { var o = {x: 1}; o.self = o; return {o: o}; })()`,
		`(function () { var a = [1]; a.push({a: a}); return [a]; })()`,
		`({get boom() { throw new Error('getter threw'); }})`,
		`({big: 10n})`,
		`(function () { var p = new Proxy({a: 1, b: [2]}, {}); return {p: p, arr: new Proxy([1, 2], {})}; })()`,
		`new Proxy({a: 1}, {})`,
		`[1, 'two', {three: 3}]`, `'top string'`, `42`, `-0`, `null`, `undefined`, `(function () {})`, `true`,
		`({toJSON: function (k) { return {top: k}; }})`,
		`({buf: Buffer.from('hi')})`,
		`({u8: new Uint8Array([1, 2])})`,
		`({nested: {deeper: {deepest: [[[]], {}]}}, empty: {}, list: []})`,
		`({goMap: goMap, goList: goList, goTime: goTime})`,
	}
	_ = s.vm.Set("goMap", map[string]any{"k": []any{1, "x", nil, map[string]any{"n": 1.5}}})
	_ = s.vm.Set("goList", []any{int64(1), "y", true})
	_ = s.vm.Set("goTime", time.Unix(0, 0).UTC())
	for _, e := range exprs {
		run := func(write bool) string {
			v, err := s.vm.RunString(e)
			if err != nil {
				t.Fatalf("%s: %v", e, err)
			}
			var out string
			if write {
				js, ok, err := s.writeJSON(v, 0)
				switch {
				case err != nil:
					out = "error: " + err.Error()
				case !ok:
					out = "undefined"
				default:
					out = string(js)
				}
			} else {
				r, err := s.jsonStr(goja.Undefined(), v)
				switch {
				case err != nil:
					out = "error: " + err.Error()
				case r == nil || goja.IsUndefined(r):
					out = "undefined"
				default:
					out = r.String()
				}
			}
			if o, ok := v.(*goja.Object); ok {
				if c, ok := goja.AssertFunction(o.Get("count")); ok {
					n, _ := c(goja.Undefined())
					out += fmt.Sprintf(" (getter ran %v times)", n)
				}
			}
			if i := strings.Index(out, " at "); strings.HasPrefix(out, "error: ") && i >= 0 {
				out = out[:i]
			}
			return out
		}
		want := run(false)
		if g := run(true); g != want {
			t.Errorf("%s:\n got %s\nwant %s", e, g, want)
		}
		// the VM's JSON.stringify is the writer; with an indent it is goja's
		r, err := s.vm.RunString(`(function () { try { var j = JSON.stringify(` + e + `); return j === undefined ? 'undefined' : j; } catch (e) { return 'error: ' + e.name + ': ' + e.message; } })()`)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := r.String(), strings.SplitN(want, " (getter", 2)[0]; g != w {
			t.Errorf("JSON.stringify(%s):\n got %s\nwant %s", e, g, w)
		}
	}
	for _, js := range []string{
		`JSON.stringify.name + JSON.stringify.length + JSON.parse.name + JSON.parse.length`,
		`JSON.stringify({a: [1, {b: 2}]}, null, 2) + JSON.stringify({a: 1, b: 2}, ['b']) + JSON.stringify({a: 1}, function (k, v) { return k === 'a' ? 2 : v; })`,
		`JSON.stringify({a: 1}, undefined, undefined) + JSON.stringify()`,
	} {
		got, err := s.vm.RunString(js)
		if err != nil {
			t.Fatal(err)
		}
		want, err := goja.New().RunString(js)
		if err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("%s: got %s, want %s", js, got, want)
		}
	}
	// a toJSON a job put on Object.prototype applies to every object
	if _, err := s.vm.RunString(`Object.prototype.toJSON = function (k) { return 'P' + k; }`); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = s.vm.RunString(`delete Object.prototype.toJSON`) }()
	v, _ := s.vm.RunString(`({a: {b: 1}, c: [{}]})`)
	js, _, err := s.writeJSON(v.(*goja.Object).Get("a"), 0)
	r, _ := s.jsonStr(goja.Undefined(), v.(*goja.Object).Get("a"))
	if err != nil || string(js) != r.String() {
		t.Errorf("Object.prototype.toJSON: got %s (%v), want %s", js, err, r)
	}
}
