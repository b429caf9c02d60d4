package jsonvalue

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// validCases are documents and near-documents at every corner of the
// grammar; TestValidMatchesStdlib also tries each with every byte removed
// and with bytes that matter put in at every place.
var validCases = []string{
	``, ` `, `null`, `true`, `false`, `nul`, `nulll`, `tru`, `truex`, `fals`, `True`,
	`0`, `-0`, `01`, `-01`, `1`, `12`, `-`, `--1`, `+1`, `1.`, `1.5`, `.5`, `1.5e3`, `1e`, `1e+`, `1E-2`, `1e+2`, `1.e2`, `0.0e00`, `-0.5E+10`, `1x`, `1 2`,
	`""`, `"`, `"a`, `"abc"`, `"\""`, `"\\"`, `"\/"`, `"\b\f\n\r\t"`, `"\x"`, `"\u00e9"`, `"\u00E9"`, `"\u00g9"`, `"\u00"`, `"\u"`, `"\`, "\"\t\"", "\"\x01\"", "\"\x1f\"", "\"\x7f\"",
	"\"\xff\xfe\"", "\"é€😀\"", `"\ud83d\ude00"`, `"\ud83d"`,
	`[]`, `[`, `]`, `[1]`, `[1,]`, `[,1]`, `[1 2]`, `[1,2]`, `[ 1 , 2 ]`, `[[[]]]`, `[[]`, `[]]`, `[{}]`, `[{]`, `[}`, `{]`,
	`{}`, `{`, `}`, `{"a":1}`, `{"a":1,}`, `{,}`, `{"a"}`, `{"a":}`, `{"a" 1}`, `{a:1}`, `{1:1}`, `{"a":1 "b":2}`, `{"a":1,"b":[true,false,null]}`,
	` { "a" : [ 1 , { "b" : "c" } ] } `, "\t\n\r{}\r\n\t", `{"a":{"b":{"c":{}}}}`, `{"a":{"b":{"c":{}}}`, `{"":""}`, `{"a":1}}`, `{"a":1}{}`, `[]x`,
	`{"data":{"resourceType":"Patient","id":"p-1","name":[{"family":"Doe","given":["Jane"]}],"gender":"female","birthDate":"1990-01-01"},"openhim":{"transactionId":"6a1b2c3d4e5f60718293a4b5"}}`,
}

func TestValidMatchesStdlib(t *testing.T) {
	check := func(s string) {
		t.Helper()
		if got, want := Valid([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("Valid(%q) = %v, json.Valid says %v", s, got, want)
		}
	}
	inserts := []string{"", " ", "\"", "\\", ",", ":", "[", "]", "{", "}", "0", "-", ".", "e", "u", "a", "\x00", "\x80"}
	for _, s := range validCases {
		check(s)
		for i := 0; i <= len(s); i++ {
			if i < len(s) {
				check(s[:i] + s[i+1:])
			}
			for _, in := range inserts {
				check(s[:i] + in + s[i:])
			}
		}
	}
	// encoding/json refuses more than 10,000 open arrays and objects
	for _, n := range []int{9999, 10000, 10001} {
		check(strings.Repeat("[", n) + strings.Repeat("]", n))
		check(strings.Repeat(`{"a":`, n-1) + `{}` + strings.Repeat("}", n-1))
		check(strings.Repeat("[", n) + strings.Repeat("]", n-1))
	}
}

func FuzzValid(f *testing.F) {
	for _, s := range validCases {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := Valid(b), json.Valid(b); got != want {
			t.Errorf("Valid(%q) = %v, json.Valid says %v", b, got, want)
		}
	})
}

func BenchmarkValid(b *testing.B) {
	doc := []byte(`{"data":{"id":"rec-1","status":"created"},"references":[{"resourceType":"Patient","id":"p-1","name":[{"family":"Doe","given":["Jane"]}],"gender":"female","birthDate":"1990-01-01"}],"response":{"url":"http://127.0.0.1:40123/records","method":"POST","statusCode":201,"statusMessage":"Created","headers":{"content-type":"application/json","content-length":"34"},"duration":1.5e-3}}`)
	for _, v := range []struct {
		name string
		fn   func([]byte) bool
	}{{"jsonvalue", Valid}, {"encoding-json", json.Valid}} {
		b.Run(v.name, func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				if !v.fn(doc) {
					b.Fatal("invalid")
				}
			}
		})
	}
}

func TestValidNested(t *testing.T) {
	for _, tc := range []struct {
		in    string
		depth int
		want  bool
	}{
		{`[[1]]`, 2, true}, {`[[1]]`, 1, false}, {`[[]]`, 1, false}, {`[{"a":[]}]`, 3, true}, {`[{"a":[]}]`, 2, false},
		{`"[[["`, 0, true}, {`1`, 0, true}, {`[]`, 0, false}, {`[[1]`, 5, false},
		{strings.Repeat("[", 10001) + strings.Repeat("]", 10001), 20000, false},
	} {
		if got := ValidNested([]byte(tc.in), tc.depth); got != tc.want {
			t.Errorf("ValidNested(%s, %d) = %v, want %v", tc.in, tc.depth, got, tc.want)
		}
	}
}

func TestCompact(t *testing.T) {
	for _, s := range append(validCases, " { \"a b\" : [ 1 ,\t2 ] ,\n\"c\":\"\\\" x \" } ", "[ ]", " 1 ") {
		if !json.Valid([]byte(s)) {
			continue
		}
		var want bytes.Buffer
		if err := json.Compact(&want, []byte(s)); err != nil {
			t.Fatal(err)
		}
		if got := Compact([]byte(s)); string(got) != want.String() {
			t.Errorf("Compact(%q) = %q, json.Compact writes %q", s, got, want.String())
		}
	}
	in := []byte(`{"a":[1,"x y"]}`)
	if got := Compact(in); &got[0] != &in[0] {
		t.Error("Compact copied a compact document")
	}
}
