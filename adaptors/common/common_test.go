package common_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "github.com/jobmediator/jobmediator/adaptors/common"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/runtime"
)

func TestMain(m *testing.M) {
	// goja's local time zone is the process's; pin it so date keywords are
	// deterministic.
	time.Local = time.UTC
	os.Exit(m.Run())
}

var clock = time.Date(2025, 3, 4, 10, 20, 30, 0, time.UTC)

var engine = runtime.New(runtime.Options{Now: func() time.Time { return clock }})

const doc = `{"cases":[{"id":1,"t":"a","referrals":[{"r":1}]},{"id":2,"t":"b","referrals":[{"r":2},{"r":3}]}],
"data":{"__headers":{"access-token":"tk"},"form":{"visits":[1,2]},"*meta-instance-id*":"m1","items":[{"a":1},{"a":2}],"pid":9,
"people":[{"n":"x","team":"red"},{"n":"y","team":"blue"},{"n":"z"},{"n":"w","team":"red"}]},
"obj":{"x":1,"y":2}}`

func run(t *testing.T, version, body, input string) (*runtime.Result, map[string]any) {
	t.Helper()
	job := &config.Job{Key: "c", Adaptor: "@openfn/language-common@" + version, Body: body}
	res := engine.RunJob(context.Background(), job, config.CompatLightning, json.RawMessage(input), runtime.RunRequest{})
	var st map[string]any
	_ = json.Unmarshal(res.State, &st)
	return res, st
}

func eq(t *testing.T, got any, want string) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %s", want)
	}
	g, _ := json.Marshal(got)
	wb, _ := json.Marshal(w)
	if string(g) != string(wb) {
		t.Errorf("got  %s\nwant %s", g, wb)
	}
}

func TestJSONPath(t *testing.T) {
	cases := []struct{ path, want string }{
		{"$.cases[*].id", "[1,2]"},
		{"$.cases[0].id", "[1]"},
		{"$.cases[-1].id", "[2]"},
		{"$.cases[0:1].id", "[1]"},
		{"$.cases[0,1].t", `["a","b"]`},
		{"$.data.__headers['access-token']", `["tk"]`},
		{`$["data"]["__headers"]["access-token"]`, `["tk"]`},
		{"$.data.form.visits[*]", "[1,2]"},
		{"$.obj[*]", "[1,2]"},
		{"$.obj.*", "[1,2]"},
		{"$..r", "[1,2,3]"},
		{"$.cases..r", "[1,2,3]"},
		{"$.cases[?(@.t == 'b')].id", "[2]"},
		{"$.cases[?(@.id > 1 || @.t === 'a')].id", "[1,2]"},
		{"$.cases[?(@.id >= 1 && @.t != 'a')].id", "[2]"},
		{"$.cases[?(!(@.t == 'a'))].id", "[2]"},
		{`$.data.people[?(@.team)].n`, `["x","y","w"]`},
		{"$.missing.path", "[]"},
		{"$.cases[7].id", "[]"},
		{"$.data.*meta-instance-id*", `["m1"]`},
		{"$.obj", `[{"x":1,"y":2}]`},
		// key chains (names and indices only) take the walk in firstMatch;
		// these pin the general matcher's answers at its edges
		{"$.cases.length", "[2]"},
		{"$.cases[-2].t", `["a"]`},
		{"$.cases[-3].t", "[]"},
		{"$.cases.1.id", "[2]"},
		{"$.data.items.0.a", "[1]"},
		{"$.obj.toString", "[]"},
		{"$.obj.x.y", "[]"},
		{"$.cases[0].t.length", "[]"},
		{"$.data.form", `[{"visits":[1,2]}]`},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			var d map[string]any
			_ = json.Unmarshal([]byte(doc), &d)
			d["path"] = c.path
			in, _ := json.Marshal(d)
			res, st := run(t, "3.3.4", `fn(s => { const p = s.path; delete s.path; return { r: source(p)(s) }; })`, string(in))
			if res.Status != runtime.StatusSuccess {
				t.Fatalf("%+v", res.Error)
			}
			eq(t, st["r"], c.want)
		})
	}
	res, st := run(t, "3.3.4", `fn(s => ({ r: [dataValue('$.pid')(s), dataValue('..form.visits[1]')(s), jsonValue(s, '$.cases[1].id'),
  sourceValue('$.obj.nope')(s) === undefined, sourceValue('$.n')(s), JSONPath('$.n', s), JSONPath('$.u', s), sourceValue('$.cases[*].id')(s)] }))`,
		`{"data":{"pid":9,"form":{"visits":[1,2]}},"cases":[{"id":1},{"id":2}],"obj":{},"n":null}`)
	if res.Status != runtime.StatusSuccess {
		t.Fatalf("%+v", res.Error)
	}
	eq(t, st["r"], `[9,2,2,true,null,[null],[],1]`)
	res, _ = run(t, "3.3.4", `fn(s => ({ r: source('$.a[?(@.x ==')(s) }))`, `{}`)
	if res.Error == nil || !strings.Contains(res.Error.Message, "JSONPath") {
		t.Errorf("bad filter: %+v", res.Error)
	}
}

func TestOperations(t *testing.T) {
	cases := []struct {
		name, version, body, key, want string
	}{
		{"each jsonpath accumulates", "3.3.4", `each('$.cases[*]', fn(s => composeNextState(s, s.data.id * 10)))`, "references", `[{"id":1,"t":"a","referrals":[{"r":1}]},{"id":2,"t":"b","referrals":[{"r":2},{"r":3}]}]`},
		{"each leaves index and last data", "3.3.4", `each('$.cases[*]', fn(s => ({ ...s, seen: (s.seen || []).concat(s.index) })))`, "seen", `[0,1]`},
		{"each with array source", "3.3.4", `each([3, 4], fn(s => ({ ...s, sum: (s.sum || 0) + s.data })))`, "sum", `7`},
		{"each with function source and async op", "3.3.4", `each(s => s.cases, fn(async s => ({ ...s, ids: (s.ids || []).concat(s.data.id) })))`, "ids", `[1,2]`},
		{"each with $", "3.3.4", `each($.cases, fn(s => ({ ...s, last: s.data.t })))`, "last", `"b"`},
		{"beta.each restores data", "3.3.4", `beta.each('$.cases[*]', fn(s => ({ ...s, n: (s.n || 0) + 1 })))`, "data", `{"x":1}`},
		// 3.3.4 builds each item's state with {...state, data, index}: an own
		// "__proto__" key is copied as an own key, not set as the prototype
		// (Object.assign would do the latter).
		{"each copies like spread", "3.3.4", `fn(s => { const t = { ...s }; Object.defineProperty(t, '__proto__', { value: { p: 1 }, enumerable: true, writable: true, configurable: true }); return t; });
each([1], fn(s => ({ r: [Object.prototype.hasOwnProperty.call(s, '__proto__'), s.p === 1, s.data, s.index] })))`, "r", `[true,false,1,0]`},
		// each's loop and JSONPath's [*] skip holes as reduce and forEach do
		{"each skips holes", "3.3.4", `each(s => [1, , 3], fn(s => ({ ...s, seen: (s.seen || []).concat([[s.index, s.data]]) })))`, "seen", `[[0,1],[2,3]]`},
		{"wildcard skips holes", "3.3.4", `fn(s => ({ ...s, r: JSONPath('$.a[*]', { a: [1, , undefined, 4] }).concat(JSONPath('$.o.*', { o: { x: 1, y: undefined } })) }))`, "r", `[1,4,1]`},
		{"each over an array-like's own reduce", "3.3.4", `each(s => ({ reduce: (f, st) => f(st, 'own', 9) }), fn(s => ({ ...s, got: [s.data, s.index] })))`, "got", `["own",9]`},
		{"empty each returns state", "3.3.4", `each('$.nothing[*]', fn(s => ({ ...s, touched: true })))`, "touched", `null`},
		{"lastReferenceValue reads references[0]", "3.3.4", `fn(s => composeNextState(s, { id: 'second' })); fn(s => composeNextState(s, { id: 'third' })); fn(s => ({ ...s, last: lastReferenceValue('id')(s) }))`, "last", `"x1"`},
		// expandReferences keeps an array's holes (as map does) and sets a
		// "__proto__" key with [[Set]]
		{"expandReferences walks like map and assignment", "3.3.4", `fn(s => { const o = JSON.parse('{"__proto__":{"p":1},"k":2}'); const r = expandReferences([1, , st => st.data.x, o, [st => [st.data.x]]])(s);
  return { ...s, r: [r.length, 1 in r, r[2], r[3].p, Object.keys(r[3]), r[4]] }; })`, "r", `[5,false,1,1,["k"],[[1]]]`},
		{"composeNextState initialises references", "3.3.4", `fn(s => { delete s.references; return composeNextState(s, 5) })`, "references", `[{"x":1}]`},
		{"expandReferences", "3.3.4", `fn(s => ({ r: expandReferences({ d: new Date(0), f: st => st.data.x, arr: [st => 1, [st => 2]], n: null })(s) }))`, "r", `{"d":{},"f":1,"arr":[1,[2]],"n":null}`},
		{"util.expandReferences", "3.3.4", `fn(s => ({ r: util.expandReferences(s, st => st.data.x, 'lit', { k: dataValue('x') }) }))`, "r", `[1,"lit",{"k":1}]`},
		{"util.expandReferences in order", "3.3.4", `fn(s => { const seen = []; const f = n => st => { seen.push(n); return n; }; const r = util.expandReferences(s, f(1), [f(2), { k: f(3) }], f(4)); return { r: [r, seen, util.expandReferences(s), util.expandReferences()] }; })`, "r", `[[1,[2,{"k":3}],4],[1,2,3,4],[],[]]`},
		{"fields and field", "3.3.4", `fn(s => ({ r: expandReferences(fields(field('a', 1), field('b', dataValue('x'))))(s) }))`, "r", `{"a":1,"b":1}`},
		{"merge", "3.3.4", `fn(s => ({ r: merge('$.list[*]', { p: dataValue('x') })(s) }))`, "r", `[{"a":1,"p":1},{"a":2,"p":1}]`},
		{"join", "3.3.4", `fn(s => ({ r: join('$.list[*]', '$.data.x', 'pid')(s) }))`, "r", `[{"pid":1,"a":1},{"pid":1,"a":2}]`},
		{"dataPath strips $ and dots", "3.3.4", `fn(s => ({ r: [dataPath('$.a.b'), dataPath('.a'), dataPath('a'), referencePath('[0].id')] }))`, "r", `["$.data.a.b","$.data.a","$.data.a","$.references[0].id"]`},
		{"jsonValue and sourceValue", "3.3.4", `fn(s => ({ r: [jsonValue({ a: { b: 2 } }, '$.a.b'), sourceValue('$.list[1].a')(s), dataValue('x')(s)] }))`, "r", `[2,2,1]`},
		{"combine 3.3.4 awaits", "3.3.4", `combine(fn(s => ({ ...s, a: 1 })), fn(async s => ({ ...s, b: s.a + 1 })))`, "b", `2`},
		{"combine 3.3.1 spreads promises as {}", "3.3.1", `combine(fn(s => ({ ...s, a: 1 })), fn(async s => ({ ...s, b: 2 })))`, "b", `null`},
		{"map 3.x", "3.3.4", `map('$.list[*]', (item, i) => item.a * 10 + i)`, "data", `[10,21]`},
		{"map 1.x ignores results", "1.10.3", `map('$.list[*]', fn(s => ({ changed: true })))`, "data", `{"x":1}`},
		{"fnIf", "3.3.4", `fnIf(s => s.data.x === 1, fn(s => ({ ...s, yes: true }))); fnIf(false, fn(s => ({ ...s, no: true })))`, "yes", `true`},
		{"index", "3.3.4", `each([5, 6], fn(s => ({ ...s, idx: (s.idx || []).concat(index()(s)) })))`, "idx", `[0,1]`},
		{"arrayToString and toArray", "3.3.4", `fn(s => ({ r: [arrayToString([1, 2], '-'), toArray(1), toArray([1])] }))`, "r", `["1-2",[1],[1]]`},
		{"humanProper", "3.3.4", `fn(s => ({ r: [humanProper('hello_world-FOO bar'), humanProper(5)] }))`, "r", `["Hello World Foo Bar",5]`},
		{"splitKeys", "3.3.4", `fn(s => ({ r: splitKeys({ a: 1, b: 2, c: 3 }, ['b']) }))`, "r", `[{"a":1,"c":3},{"b":2}]`},
		{"scrubEmojis", "3.3.4", `fn(s => ({ r: [scrubEmojis('hi \u{1F600} \u00A9!'), scrubEmojis('a\u{1F600}b', '')] }))`, "r", `["hi \ufffd \ufffd!","ab"]`},
		{"chunk", "3.3.4", `fn(s => ({ r: chunk([1, 2, 3, 4, 5], 2) }))`, "r", `[[1,2],[3,4],[5]]`},
		{"group drops undefined", "3.3.4", `group(s => s.people, 'team')`, "data", `{"red":[{"n":"x","team":"red"},{"n":"w","team":"red"}],"blue":[{"n":"y","team":"blue"}]}`},
		{"as", "3.3.4", `as('users', fn(s => ({ ...s, data: [1], extra: true })))`, "users", `[1]`},
		{"assert passes", "3.3.4", `assert(s => s.data.x === 1); fn(s => ({ ...s, after: 1 }))`, "after", `1`},
		{"validate", "3.3.4", `fn(s => ({ ...s, schema: { type: 'object', required: ['name'], properties: { x: { type: 'string' } } } })); validate()`, "validationErrors",
			`[{"data":{"x":1},"errors":[{"instancePath":"","schemaPath":"#/required","keyword":"required","params":{"missingProperty":"name"},"message":"must have required property 'name'"},{"instancePath":"/x","schemaPath":"#/type","keyword":"type","params":{"type":"string"},"message":"must be string"}]}]`},
		{"validate ok", "3.3.4", `validate({ type: 'object', properties: { x: { type: 'integer', enum: [1] } } }); fn(s => ({ ...s, v: s.validationErrors || 'none' }))`, "v", `[]`}, // 3.3.4 creates the list even when valid (corpus 132)
		{"cursor today", "3.3.4", `cursor('today')`, "cursor", `"2025-03-04T00:00:00.000Z"`},
		{"cursor N days ago", "3.3.4", `cursor('2 days ago')`, "cursor", `"2025-03-02T00:00:00.000Z"`},
		{"cursor N hours ago", "3.3.4", `cursor('3 hours ago')`, "cursor", `"2025-03-04T07:20:30.000Z"`},
		{"cursor yesterday", "3.3.4", `cursor('yesterday')`, "cursor", `"2025-03-03T00:00:00.000Z"`},
		{"cursor now with format", "3.3.4", `cursor('now', { key: 'since', format: d => dateFns.format(d, 'yyyy-MM-dd HH:mm') })`, "since", `"2025-03-04 10:20"`},
		{"cursor keeps strings", "3.3.4", `cursor($.data.last, { defaultValue: '2020-01-01T00:00:00Z', key: 'c2' })`, "c2", `"2020-01-01T00:00:00Z"`},
		{"dateFns", "3.3.4", `fn(s => ({ r: [dateFns.format(new Date(Date.UTC(2025, 0, 2, 13, 4, 5, 6)), "yyyy-MM-dd'T'HH:mm:ss.SSS h a"), dateFns.parse('02/01/2025 13:05', 'dd/MM/yyyy HH:mm', new Date()).toISOString()] }))`, "r", `["2025-01-02T13:04:05.006 1 PM","2025-01-02T13:05:00.000Z"]`},
		{"util encode/decode", "3.3.4", `fn(s => ({ r: [util.encode({ a: 1 }), util.decode('eyJhIjoxfQ=='), util.decode(util.encode('plain'))] }))`, "r", `["eyJhIjoxfQ==",{"a":1},"plain"]`},
		{"lodash subset", "3.3.4", `fn(s => ({ r: [
  _.get({ a: [{ b: 3 }] }, 'a[0].b'), _.get({}, 'x.y', 'def'), _.set({}, 'a.b[0]', 1), _.groupBy([1.2, 1.5, 2.1], Math.floor),
  _.isEmpty({}), _.isEmpty([1]), _.uniq([1, 1, 2]), _.pick({ a: 1, b: 2 }, ['a']), _.omit({ a: 1, b: 2 }, 'a'),
  _.chunk([1, 2, 3], 2), _.flatten([[1], [2, [3]]]), _.keyBy([{ id: 'k', v: 1 }], 'id'), _.mapValues({ a: 1 }, v => v + 1),
  _.merge({ a: { b: 1 } }, { a: { c: 2 } }), _.cloneDeep({ a: [1] })] }))`, "r",
			`[3,"def",{"a":{"b":[1]}},{"1":[1.2,1.5],"2":[2.1]},true,false,[1,2],{"a":1},{"b":2},[[1,2],[3]],[1,2,[3]],{"k":{"id":"k","v":1}},{"a":2},{"a":{"b":1,"c":2}},{"a":[1]}]`},
		{"parseCsv", "3.3.4", "parseCsv('\\ufeffname, age\\n\"Smith, J\", 4\\n\\n\"a \"\"q\"\"\",5\\n')", "data", `[{"name":"Smith, J","age":"4"},{"name":"a \"q\"","age":"5"}]`},
		{"parseCsv chunks to callback", "3.3.4", "parseCsv('a;b\\n1;2\\n3;4\\n5;6', { delimiter: ';', chunkSize: 2 }, (s, rows) => ({ ...s, chunks: (s.chunks || []).concat([rows.length]) }))", "chunks", `[2,1]`},
		{"parseCsv without columns", "3.3.4", "parseCsv('a,b\\n1,2', { columns: false })", "data", `[["a","b"],["1","2"]]`},
	}
	input := `{"data":{"x":1},"references":[],"cases":[{"id":1,"t":"a","referrals":[{"r":1}]},{"id":2,"t":"b","referrals":[{"r":2},{"r":3}]}],"list":[{"a":1},{"a":2}],
"people":[{"n":"x","team":"red"},{"n":"y","team":"blue"},{"n":"z"},{"n":"w","team":"red"}]}`
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := input
			if c.name == "lastReferenceValue reads references[0]" {
				in = `{"data":{"id":"x1"},"references":[]}`
			}
			res, st := run(t, c.version, c.body, in)
			if res.Status != runtime.StatusSuccess {
				t.Fatalf("%s: %+v", res.Status, res.Error)
			}
			eq(t, st[c.key], c.want)
		})
	}
}

func TestOperationErrors(t *testing.T) {
	cases := []struct{ body, msg string }{
		{`assert(s => s.data.nope)`, "assertion statement failed with undefined"},
		{`parseCsv('a,b\n"1,2')`, "quoted field not terminated"},
		{`parseCsv('a,b\n1,2,3')`, "row 2 has 3 fields"},
		{`each(undefined, fn(s => s))`, "dataSource argument for each operation is invalid."},
		{`validate('https://example.org/schema.json')`, "not supported"},
		{`fn(s => util.decode('%%%'))`, "util.decode"},
	}
	for _, c := range cases {
		res, _ := run(t, "3.3.4", c.body, `{"data":{}}`)
		if res.Status == runtime.StatusSuccess || !strings.Contains(res.Error.Message, c.msg) {
			t.Errorf("%s: %s %+v", c.body, res.Status, res.Error)
		}
	}
}

func TestLogAndUUID(t *testing.T) {
	res, st := run(t, "3.3.4", `log('x is', dataValue('x')); debug('dbg'); fn(s => ({ ...s, id: util.uuid() }))`, `{"data":{"x":7}}`)
	if res.Status != runtime.StatusSuccess || len(res.Logs) != 2 || res.Logs[0].Message != "x is 7" || res.Logs[1].Level != "debug" {
		t.Fatalf("%+v %+v", res.Error, res.Logs)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(st["id"].(string)) {
		t.Errorf("uuid %v", st["id"])
	}
}

func TestCursorStateDoesNotLeakAcrossRuns(t *testing.T) {
	e := runtime.New(runtime.Options{PoolSize: 1, Now: func() time.Time { return clock }})
	run := func(body string) map[string]any {
		job := &config.Job{Key: "c", Adaptor: "common", Body: body}
		res := e.RunJob(context.Background(), job, config.CompatLightning, json.RawMessage(`{}`), runtime.RunRequest{})
		if res.Status != runtime.StatusSuccess {
			t.Fatalf("%+v", res.Error)
		}
		var st map[string]any
		_ = json.Unmarshal(res.State, &st)
		return st
	}
	// within a run the key persists (module-level in OpenFn)
	st := run(`cursor('first', { key: 'since' }); cursor('second');`)
	if st["since"] != "second" || st["cursor"] != nil {
		t.Errorf("within a run: %v", st)
	}
	// the next run on the same VM starts with the default key
	st = run(`cursor('third');`)
	if st["cursor"] != "third" || st["since"] != nil {
		t.Errorf("key leaked into the next run: %v", st)
	}
}

// language-common's http namespace by version: 1.x is the axios module
// (operations resolve to the axios response), 2.1+ the request helpers.
// Before 1.2.5 the request params are expanded whole, so a validateStatus
// function is called with the state and the resulting value (false here)
// accepts every status, as axios does; from 1.2.5 it stays a function
// (corpus 150 records 1.15.2 in Node).
func TestHTTPNamespaceByVersion(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(404)
		_, _ = w.Write([]byte(`{"error":"nope"}`))
	}))
	defer srv.Close()
	job := `fn(s => http.get({ url: '` + srv.URL + `/x', validateStatus: st => st < 500 })(s)
  .then(r => ({ has: typeof http.get + typeof http.delete, status: r.status, data: r.data }), e => ({ has: typeof http.get, failed: e.message })));`
	for _, tc := range []struct{ version, want string }{
		{"1.7.0", `{"data":{"error":"nope"},"has":"functionfunction","status":404}`},
		{"1.15.2", `{"data":{"error":"nope"},"has":"functionfunction","status":404}`},
		{"1.2.4", `{"data":{"error":"nope"},"has":"functionfunction","status":404}`},
	} {
		res, _ := run(t, tc.version, job, `{}`)
		if res.Status != runtime.StatusSuccess {
			t.Fatalf("%s: %+v", tc.version, res.Error)
		}
		var got any
		_ = json.Unmarshal(res.State, &got)
		b, _ := json.Marshal(got)
		if string(b) != tc.want {
			t.Errorf("%s: %s, want %s", tc.version, b, tc.want)
		}
	}
	// from 1.2.5 a validateStatus that refuses is a rejection (with
	// axios 1's code from 1.7.5)
	res, _ := run(t, "1.15.2", `fn(s => http.get({ url: '`+srv.URL+`/x', validateStatus: st => st < 400 })(s).catch(e => ({ failed: e.message, code: e.code })));`, `{}`)
	if string(res.State) != `{"failed":"Request failed with status code 404","code":"ERR_BAD_REQUEST"}` {
		t.Errorf("1.15.2 refusing validateStatus: %s %+v", res.State, res.Error)
	}
	res, _ = run(t, "1.7.0", `fn(s => http.get({ url: '`+srv.URL+`/x', validateStatus: st => st < 400 })(s).catch(e => ({ failed: e.message, code: e.code ?? null })));`, `{}`)
	if string(res.State) != `{"failed":"Request failed with status code 404","code":null}` {
		t.Errorf("1.7.0 refusing validateStatus: %s %+v", res.State, res.Error)
	}
	// before 1.2.5 the same function became false: every status is accepted
	res, _ = run(t, "1.2.4", `fn(s => http.get({ url: '`+srv.URL+`/x', validateStatus: st => st < 400 })(s).then(r => ({ status: r.status })));`, `{}`)
	if string(res.State) != `{"status":404}` {
		t.Errorf("1.2.4 expanded validateStatus: %s %+v", res.State, res.Error)
	}
	var st map[string]any
	// 2.0.1's http is already 2.1's request helpers (diffed on npm)
	for _, v := range []string{"2.0.1", "3.3.4"} {
		res, _ = run(t, v, `fn(s => ({ ...s, has: typeof http.get + typeof http.options({}).json + typeof http.put }));`, `{}`)
		_ = json.Unmarshal(res.State, &st)
		if st["has"] != "functionfunctionundefined" {
			t.Errorf("%s: http is %v (%+v)", v, st["has"], res.Error)
		}
	}
}

// TestExpandReferencesNative: the Go walk (expand.go) and the JavaScript
// one it hands unusual values to give expandReferences' results: functions
// called once with state, holes kept, special values kept or copied per
// version, a cycle a RangeError rather than a crash.
func TestExpandReferencesNative(t *testing.T) {
	body := `fn(s => {
  let calls = 0;
  const f = st => { calls++; return st.data.x; };
  const sparse = [1, , f]; sparse.extra = 'no';
  class P { constructor() { this.a = f; } }
  const deep = {}; let d = deep; for (let i = 0; i < 300; i++) { d.n = {}; d = d.n; } d.v = f;
  const big = []; big[70000] = f;
  const proto = JSON.parse('{"__proto__":{"p":1},"k":2}');
  const r = expandReferences({
    n: 1, s: 'x', nul: null, u: undefined, f, ff: st => st2 => [st2.data.x, f],
    arr: [f, [f], { f }], sparse, re: /a/g, buf: Buffer.from('hi'), stream: { pipe() {}, on() {}, k: f },
    bufLike: { __isBuffer: true, k: f }, date: new Date(0), inst: new P(), proxy: new Proxy({ k: f }, {}),
    deep, big, proto,
  })(s);
  let depth = 0; for (d = r.deep; d.n; d = d.n) depth++;
  const out = {
    calls, n: r.n, s: r.s, nul: r.nul, u: 'u' in r && r.u === undefined, f: r.f, ff: r.ff,
    arr: r.arr, sparse: [r.sparse.length, 1 in r.sparse, r.sparse[2], 'extra' in r.sparse],
    re: r.re instanceof RegExp, buf: Buffer.isBuffer(r.buf), stream: typeof r.stream.k, bufLike: typeof r.bufLike.k,
    date: Object.keys(r.date).length, inst: [r.inst.a, r.inst instanceof P], proxy: r.proxy.k,
    deep: [depth, d.v], big: [r.big.length, r.big[70000], 0 in r.big], proto: [r.proto.p, Object.keys(r.proto)],
  };
  return { out };
})`
	res, st := run(t, "3.3.4", body, `{"data":{"x":7}}`)
	if res.Status != runtime.StatusSuccess {
		t.Fatalf("%+v", res.Error)
	}
	eq(t, st["out"], `{"calls":10,"n":1,"s":"x","nul":null,"u":true,"f":7,"ff":[7,7],"arr":[7,[7],{"f":7}],
"sparse":[3,false,7,false],"re":true,"buf":true,"stream":"function","bufLike":"function","date":0,"inst":[7,false],
"proxy":7,"deep":[300,7],"big":[70001,7,false],"proto":[1,["k"]]}`)
	// before 2.3.0 a RegExp and a Buffer are copied like plain objects
	res, st = run(t, "2.2.0", `fn(s => { const r = expandReferences({ re: /a/, buf: Buffer.from('x') })(s); return { out: [r.re instanceof RegExp, Buffer.isBuffer(r.buf)] }; })`, `{}`)
	if res.Status != runtime.StatusSuccess {
		t.Fatalf("%+v", res.Error)
	}
	eq(t, st["out"], `[false,false]`)
	// a cycle ends the step with goja's stack overflow (Node's RangeError),
	// as with the JavaScript walk alone, not the process
	res, _ = run(t, "3.3.4", `fn(s => { const c = {}; c.self = c; expandReferences(c)(s); return s; })`, `{}`)
	if res.Error == nil || res.Error.Message != "RangeError: Maximum call stack size exceeded" {
		t.Errorf("cycle: %#v", res.Error)
	}
}
