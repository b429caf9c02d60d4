package jsonvalue

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/dop251/goja"
)

// gojaJS runs JavaScript on one goja runtime for the whole test binary:
// a runtime per input would make the fuzz test a benchmark of goja.New.
var gojaJS struct {
	sync.Mutex
	vm                   *goja.Runtime
	canonical, numString *goja.Program
}

// gojaRun runs prog with x set to arg; ok is false when it throws.
func gojaRun(prog func() *goja.Program, arg any) (string, bool) {
	gojaJS.Lock()
	defer gojaJS.Unlock()
	if gojaJS.vm == nil {
		gojaJS.vm = goja.New()
		gojaJS.canonical = goja.MustCompile("canonical", "JSON.stringify(JSON.parse(x))", true)
		gojaJS.numString = goja.MustCompile("numString", "String(x)", true)
	}
	if err := gojaJS.vm.Set("x", arg); err != nil {
		panic(err)
	}
	v, err := gojaJS.vm.RunProgram(prog())
	if err != nil {
		return "", false
	}
	return v.String(), true
}

// gojaCanonical is goja's JSON.stringify(JSON.parse(s)); ok is false when
// JSON.parse throws.
func gojaCanonical(s string) (string, bool) {
	return gojaRun(func() *goja.Program { return gojaJS.canonical }, s)
}

// gojaNumber is goja's String(f).
func gojaNumber(f float64) string {
	s, _ := gojaRun(func() *goja.Program { return gojaJS.numString }, f)
	return s
}

// checkCanonical fails the test when AppendCanonical(s) accepts with text
// other than goja's, accepts what goja's JSON.parse refuses, or touches
// dst's content when it declines.
func checkCanonical(t *testing.T, s string) (ok bool) {
	t.Helper()
	dst := []byte("prefix:")
	out, ok := AppendCanonical(dst, []byte(s))
	want, parsed := gojaCanonical(s)
	if !ok {
		if string(out) != "prefix:" || len(out) != len(dst) {
			t.Errorf("AppendCanonical(%q) declined but returned %q, want dst as given", s, out)
		}
		return false
	}
	if !parsed {
		t.Errorf("AppendCanonical(%q) = %q, but goja's JSON.parse throws", s, out)
		return true
	}
	if got := string(out[len(dst):]); got != want || string(out[:len(dst)]) != "prefix:" {
		t.Errorf("AppendCanonical(%q) = %q, goja writes %q", s, out, want)
	}
	return true
}

// What AppendCanonical must do with an input of canonicalCases: accept it
// (and write goja's text), or decline it for the reason given.
const (
	accept    = ""
	invalid   = "not JSON: goja's JSON.parse throws"
	duplicate = "a key repeats"
	keyRule   = "a key of digits only or __proto__"
	surrogate = "a \\u escape of a surrogate"
	badUTF8   = "invalid UTF-8 in a string"
	overflow  = "a number beyond float64"
	tooDeep   = "nested deeper than 64"
	tooWide   = "over 64 members in an object or 256 open keys"
)

// canonicalCases are inputs at the corners of AppendCanonical.
var canonicalCases = []struct{ in, want string }{
	// scalars and whitespace
	{`null`, accept}, {`true`, accept}, {`false`, accept}, {` true `, accept}, {"\t\n\r null \r\n\t", accept},
	{``, invalid}, {` `, invalid}, {`nul`, invalid}, {`nulll`, invalid}, {`True`, invalid}, {`truex`, invalid},
	{`""`, accept}, {`"abc"`, accept}, {`1 2`, invalid}, {`[] x`, invalid}, {`{}{}`, invalid}, {`{} }`, invalid}, {`1,`, invalid},

	// containers
	{`{}`, accept}, {`[]`, accept}, {`{ }`, accept}, {`[ ]`, accept}, {`[[]]`, accept}, {`[{}]`, accept}, {`{"a":{}}`, accept},
	{`[1,"a",true,false,null,{},[]]`, accept},
	{` { "a" : [ 1 , { "b" : "c" } ] , "d" : { "e" : [ [ ] , { } ] } } `, accept},
	{"{\n  \"resourceType\": \"Patient\",\n  \"name\": [\n    {\"family\": \"Doe\", \"given\": [\"Jane\", \"Q\"]}\n  ]\n}\n", accept},
	{`{"a":1,"b":2,"c":3}`, accept}, {`{"b":1,"a":2}`, accept}, {`{"":1}`, accept}, {`{" ":1,"":2}`, accept},
	{`[`, invalid}, {`]`, invalid}, {`[1,]`, invalid}, {`[,1]`, invalid}, {`[1 2]`, invalid}, {`[}`, invalid}, {`{]`, invalid},
	{`{"a":1,}`, invalid}, {`{,}`, invalid}, {`{"a"}`, invalid}, {`{"a":}`, invalid}, {`{"a" 1}`, invalid}, {`{a:1}`, invalid},
	{`{1:1}`, invalid}, {`{"a":1 "b":2}`, invalid}, {`{"a":1}}`, invalid}, {`[[]`, invalid}, {`[]]`, invalid},

	// duplicate keys, however written
	{`{"a":1,"a":2}`, duplicate}, {`{"a":1,"b":2,"a":3}`, duplicate}, {`{"a":1,"\u0061":2}`, duplicate},
	{`{"\/":1,"/":2}`, duplicate}, {`{"é":1,"\u00e9":2}`, duplicate}, {`{"a":{"a":1},"b":{"a":2}}`, accept},
	{`{"a":{"b":1,"b":2}}`, duplicate}, {`[{"a":1},{"a":2}]`, accept}, {`{"":1,"":2}`, duplicate},
	{`{"ab":1,"ba":2,"aab":3,"abb":4}`, accept},

	// keys JavaScript orders first or treats specially
	{`{"0":1}`, keyRule}, {`{"b":1,"12":2}`, keyRule}, {`{"\u0031":1}`, keyRule}, {`{"007":1}`, keyRule},
	{`{"4294967295":1}`, keyRule}, {`{"1a":1,"a1":2,"-1":3,"1.5":4,"1e3":5}`, accept},
	{`{"__proto__":{}}`, keyRule}, {`{"a":{"__proto__":1}}`, keyRule}, {`{"__prot\u006f__":1}`, keyRule},
	{`{"__proto":1,"proto__":2,"__proto__ ":3}`, accept},
	{`{"toJSON":1,"constructor":2,"hasOwnProperty":3,"length":4}`, accept},

	// strings and escapes
	{`"\"\\\/\b\f\n\r\t"`, accept}, {`"a\/b"`, accept}, {`"\u00e9\u00E9"`, accept}, {`"\u0000\u001f\u0020\u007f"`, accept},
	{`"\u0022\u005c\u002f"`, accept}, {`"\u0008\u0009\u000a\u000c\u000d\u000b"`, accept},
	{`"\u2028\u2029"`, accept}, {"\"\u2028\u2029\"", accept}, {`"\uFFFF\ufffe\uE000"`, accept},
	{`"é€😀 ភាសាខ្មែរ"`, accept}, {`"<b>&amp;</b>"`, accept}, {"\"\x7f\"", accept}, {`"\u12345"`, accept},
	{`"\ud83d\ude00"`, surrogate}, {`"\ud83d"`, surrogate}, {`"\ude00"`, surrogate}, {`"\uDBFF\uDFFF"`, surrogate}, {`"a\ud800b"`, surrogate},
	{"\"\xff\"", badUTF8}, {"\"\xc3\"", badUTF8}, {"\"\xc3(\"", badUTF8}, {"\"\xed\xa0\x80\"", badUTF8}, {"\"\xf4\x90\x80\x80\"", badUTF8},
	{"\"\x00\"", invalid}, {"\"\t\"", invalid}, {"\"\n\"", invalid}, {"\"\x1f\"", invalid},
	{`"\x"`, invalid}, {`"\u00g9"`, invalid}, {`"\u00"`, invalid}, {`"\u`, invalid}, {`"\`, invalid}, {`"abc`, invalid}, {`"`, invalid},
	{`{"k\"ey":"v\\al","\n":"\u0001"}`, accept},

	// numbers
	{`0`, accept}, {`-0`, accept}, {`-0.0`, accept}, {`0.0`, accept}, {`0e0`, accept}, {`-0e-5`, accept}, {`1`, accept}, {`-1`, accept},
	{`1.0`, accept}, {`1.50`, accept}, {`1E5`, accept}, {`1e+5`, accept}, {`1e-5`, accept}, {`1.5e3`, accept}, {`-0.5E+10`, accept},
	{`123456789012345`, accept}, {`999999999999999`, accept}, {`1234567890123456`, accept}, {`9007199254740992`, accept},
	{`9007199254740993`, accept}, {`-9007199254740993`, accept}, {`18014398509481985`, accept},
	{`123456789012345678901`, accept}, {`1152921504606846976`, accept}, {`100000000000000000000`, accept},
	{`999999999999999999999`, accept}, {`1e20`, accept}, {`1e21`, accept}, {`1.5e21`, accept}, {`-1e21`, accept},
	{`0.000001`, accept}, {`0.0000015`, accept}, {`1e-6`, accept}, {`1e-7`, accept}, {`1.5e-7`, accept}, {`0.00000123`, accept},
	{`0.1`, accept}, {`0.2`, accept}, {`0.30000000000000004`, accept}, {`3.141592653589793238462643383279`, accept},
	{`1.7976931348623157e308`, accept}, {`-1.7976931348623157e308`, accept}, {`5e-324`, accept}, {`2.5e-324`, accept},
	{`2.4e-324`, accept}, {`-2.4e-324`, accept}, {`1e-400`, accept}, {`2.2250738585072014e-308`, accept},
	{`4.35`, accept}, {`0.1e1`, accept}, {`100e-2`, accept}, {`123.456e-789`, accept},
	{`0.000000000000000000000000000000000000000000000000000000000000001`, accept},
	{`1000000000000000000000000000000000000000000000000000000000000000`, accept},
	{`[1,1.0,1e0,10e-1,-0,0.5e1]`, accept}, {`{"n":-12.5e-3,"m":[1e21,1e-7]}`, accept},
	{`1e400`, overflow}, {`-1e400`, overflow}, {`1.8e308`, overflow}, {`[1e309]`, overflow},
	{`01`, invalid}, {`-01`, invalid}, {`+1`, invalid}, {`.5`, invalid}, {`1.`, invalid}, {`1.e2`, invalid}, {`1e`, invalid},
	{`1e+`, invalid}, {`-`, invalid}, {`--1`, invalid}, {`1x`, invalid}, {`0x10`, invalid}, {`NaN`, invalid}, {`Infinity`, invalid},

	// nesting
	{strings.Repeat("[", 64) + strings.Repeat("]", 64), accept},
	{strings.Repeat("[", 65) + strings.Repeat("]", 65), tooDeep},
	{strings.Repeat(`{"a":`, 63) + `[1]` + strings.Repeat("}", 63), accept},
	{strings.Repeat(`{"a":`, 64) + `[1]` + strings.Repeat("}", 64), tooDeep},
	{strings.Repeat("[", 64) + strings.Repeat("]", 63), invalid},

	// member limits
	{wideObject(64, 0), accept}, {wideObject(65, 0), tooWide},
	{wideObject(4, 3), accept}, {wideObject(5, 5), tooWide}, // 5 levels of 64 keys: over 256 open at once
}

// wideObject is an object of n members "k0".."k<n-1>" whose last value is
// another such object, nested depth times.
func wideObject(n, depth int) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k` + strconv.Itoa(i) + `":`)
		if i == n-1 && depth > 0 {
			b.WriteString(wideObject(64, depth-1))
		} else {
			b.WriteString(strconv.Itoa(i))
		}
	}
	b.WriteByte('}')
	return b.String()
}

func TestAppendCanonical(t *testing.T) {
	for _, tc := range canonicalCases {
		if ok := checkCanonical(t, tc.in); ok != (tc.want == accept) {
			t.Errorf("AppendCanonical(%.80q) ok = %v, want %v (%s)", tc.in, ok, !ok, tc.want)
		}
		// A decline for one of AppendCanonical's own reasons is of a
		// document goja takes (except for overflow, which goja's
		// JSON.parse refuses too), so the rule, not the grammar, declines it.
		if _, parsed := gojaCanonical(tc.in); parsed != (tc.want != invalid && tc.want != overflow) {
			t.Errorf("goja's JSON.parse(%.80q) succeeds: %v, but the table says %q", tc.in, parsed, tc.want)
		}
		if tc.want != accept {
			continue
		}
		// an accepted document is accepted again as its own output, which
		// is then unchanged
		out, _ := AppendCanonical(nil, []byte(tc.in))
		if again, ok := AppendCanonical(nil, out); !ok || string(again) != string(out) {
			t.Errorf("AppendCanonical(%q) = %q, ok %v, want it unchanged", out, again, ok)
		}
	}
}

// TestAppendCanonicalEdits tries each table input with a byte removed or
// with a byte that matters put in at each place: accepted or declined,
// never different from goja.
func TestAppendCanonicalEdits(t *testing.T) {
	inserts := []string{"", " ", "\"", "\\", ",", ":", "[", "]", "{", "}", "0", "-", ".", "e", "u", "a", "\x00", "\x80"}
	for _, tc := range canonicalCases {
		s := tc.in
		if len(s) > 200 {
			continue
		}
		for i := 0; i <= len(s); i++ {
			if i < len(s) {
				checkCanonical(t, s[:i]+s[i+1:])
			}
			for _, in := range inserts {
				checkCanonical(t, s[:i]+in+s[i:])
			}
		}
	}
}

// TestAppendCanonicalDstGrows: the output goes after what dst holds, in
// dst's array when it has room and in a new one when not.
func TestAppendCanonicalDstGrows(t *testing.T) {
	src := []byte(`{"a": [1, 2.50, "x"]}`)
	roomy := make([]byte, 3, 64)
	copy(roomy, "abc")
	if out, ok := AppendCanonical(roomy, src); !ok || string(out) != `abc{"a":[1,2.5,"x"]}` || &out[0] != &roomy[0] {
		t.Errorf("AppendCanonical with room = %q, %v", out, ok)
	}
	tight := []byte("abc")
	if out, ok := AppendCanonical(tight, src); !ok || string(out) != `abc{"a":[1,2.5,"x"]}` || string(tight) != "abc" {
		t.Errorf("AppendCanonical without room = %q, %v", out, ok)
	}
	if out, ok := AppendCanonical(tight, []byte(`{"a":1,"a":2}`)); ok || len(out) != 3 || &out[0] != &tight[0] {
		t.Errorf("AppendCanonical declining = %q, %v, want dst as given", out, ok)
	}
}

func TestAppendJSNumber(t *testing.T) {
	for _, tc := range []struct {
		f    float64
		want string
	}{
		{0, "0"}, {math.Copysign(0, -1), "0"}, {1, "1"}, {-1, "-1"}, {1.5, "1.5"}, {-0.5, "-0.5"},
		{100000, "100000"}, {1e20, "100000000000000000000"}, {1e21, "1e+21"}, {-1e21, "-1e+21"},
		{123456789012345678901, "123456789012345680000"}, {1 << 53, "9007199254740992"},
		{1<<53 + 2, "9007199254740994"}, {1 << 60, "1152921504606847000"},
		{0.000001, "0.000001"}, {0.0000015, "0.0000015"}, {1e-7, "1e-7"}, {1.5e-7, "1.5e-7"}, {-1.5e-7, "-1.5e-7"},
		{0.1, "0.1"}, {0.30000000000000004, "0.30000000000000004"}, {123.456, "123.456"}, {1.5e300, "1.5e+300"},
		{math.MaxFloat64, "1.7976931348623157e+308"}, {math.SmallestNonzeroFloat64, "5e-324"},
		{2.2250738585072014e-308, "2.2250738585072014e-308"}, {1e100, "1e+100"},
		{math.NaN(), "NaN"}, {math.Inf(1), "Infinity"}, {math.Inf(-1), "-Infinity"},
	} {
		if got := string(AppendJSNumber([]byte("x"), tc.f)); got != "x"+tc.want {
			t.Errorf("AppendJSNumber(%v) = %q, want %q", tc.f, got, "x"+tc.want)
		}
		if want := gojaNumber(tc.f); want != tc.want {
			t.Errorf("goja's String(%v) = %q, the table says %q", tc.f, want, tc.want)
		}
	}
}

// TestAppendJSNumberAsGoja compares AppendJSNumber with goja's String(x)
// for float64 values of every kind.
func TestAppendJSNumberAsGoja(t *testing.T) {
	check := func(f float64) {
		t.Helper()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return
		}
		if got, want := string(AppendJSNumber(nil, f)), gojaNumber(f); got != want {
			t.Errorf("AppendJSNumber(%b) = %q, goja writes %q", f, got, want)
		}
	}
	// boundaries and their neighbours
	for _, f := range []float64{
		1e21, 1e-6, 1e-7, 1e-5, 1e20, 1e22, 1 << 53, 1<<53 + 2, 1 << 63, 1 << 64, 999999999999999999999,
		math.MaxFloat64, math.SmallestNonzeroFloat64, 2.2250738585072014e-308, math.MaxInt64, math.MinInt64,
	} {
		for _, g := range []float64{f, math.Nextafter(f, 0), math.Nextafter(f, math.Inf(1))} {
			check(g)
			check(-g)
		}
	}
	// powers of ten and of two, with their neighbours
	for e := -324; e <= 308; e++ {
		f, _ := strconv.ParseFloat("1e"+strconv.Itoa(e), 64)
		check(f)
		check(math.Nextafter(f, 0))
		check(math.Nextafter(f, math.Inf(1)))
	}
	for e := -1074; e <= 1023; e++ {
		check(math.Ldexp(1, e))
		check(math.Ldexp(3, e-1))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	n := 200000
	if testing.Short() {
		n = 20000
	}
	for range n {
		check(math.Float64frombits(rng.Uint64()))                    // any bits
		check(float64(rng.Int64N(1<<62)) * float64(1-2*rng.IntN(2))) // integers beyond 2^53
		check(float64(rng.IntN(1e6)) / 1e3)                          // money-like decimals
		f, _ := strconv.ParseFloat(strconv.Itoa(rng.IntN(1e9))+"e"+strconv.Itoa(rng.IntN(60)-30), 64)
		check(f) // short decimals at every scale
	}
}

// FuzzAppendCanonical: accepted text is goja's, and what goja's
// JSON.parse refuses is declined.
func FuzzAppendCanonical(f *testing.F) {
	for _, tc := range canonicalCases {
		f.Add(tc.in)
	}
	f.Add(patientJSON)
	f.Fuzz(func(t *testing.T, s string) {
		checkCanonical(t, s)
	})
}

// patientJSON is a FHIR Patient of about 1 KB as a job forwards it.
const patientJSON = `{"resourceType":"Patient","id":"example-3f2a9c","meta":{"versionId":"3","lastUpdated":"2024-05-14T09:21:37.512Z","profile":["http://hl7.org/fhir/StructureDefinition/Patient"]},` +
	`"identifier":[{"use":"usual","type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"MR"}]},"system":"urn:oid:1.2.36.146.595.217.0.1","value":"12345"}],` +
	`"active":true,"name":[{"use":"official","family":"Chalmers","given":["Peter","James"]},{"use":"usual","given":["Jim"]}],` +
	`"telecom":[{"system":"phone","value":"(03) 5555 6473","use":"work","rank":1},{"system":"email","value":"peter.chalmers@example.org"}],` +
	`"gender":"male","birthDate":"1974-12-25","deceasedBoolean":false,` +
	`"address":[{"use":"home","type":"both","text":"534 Erewhon St\nPeasantVille, Rainbow, Vic  3999","line":["534 Erewhon St"],"city":"PleasantVille","district":"Rainbow","state":"Vic","postalCode":"3999","period":{"start":"1974-12-25"}}],` +
	`"extension":[{"url":"http://example.org/fhir/StructureDefinition/weight","valueQuantity":{"value":72.5,"unit":"kg","system":"http://unitsofmeasure.org","code":"kg"}},` +
	`{"url":"http://example.org/fhir/StructureDefinition/score","valueDecimal":0.000125},{"url":"http://example.org/fhir/StructureDefinition/nickname","valueString":"Jos\u00e9 \"Jim\" O\u2019Brien"}],` +
	`"managingOrganization":{"reference":"Organization/1","display":"Gastroenterology @ Acme Hospital"}}`

func TestPatientJSON(t *testing.T) {
	if !checkCanonical(t, patientJSON) {
		t.Fatal("AppendCanonical declines the benchmark's Patient")
	}
	if !checkCanonical(t, indented(patientJSON)) {
		t.Fatal("AppendCanonical declines the benchmark's indented Patient")
	}
}

// indented is s with a newline and two spaces after each comma and brace:
// a document as a person or a pretty-printer writes it.
func indented(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		if s[i] == '"' {
			j := StringEnd([]byte(s), i)
			b.WriteString(s[i+1 : j])
			i = j - 1
			continue
		}
		switch s[i] {
		case ',', '{', '[':
			b.WriteString("\n  ")
		case ':':
			b.WriteByte(' ')
		}
	}
	return b.String()
}

func BenchmarkAppendCanonical(b *testing.B) {
	for _, bc := range []struct{ name, doc string }{
		{"compact", patientJSON},
		{"indented", indented(patientJSON)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			src := []byte(bc.doc)
			dst := make([]byte, 0, 2*len(src))
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				var ok bool
				if dst, ok = AppendCanonical(dst[:0], src); !ok {
					b.Fatal("declined")
				}
			}
		})
	}
}
