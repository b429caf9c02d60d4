package jsonvalue

import (
	"bytes"
	"encoding/json"
	"testing"
)

// asEncodingJSON fails the test when AppendString(s) is not byte for byte
// what encoding/json writes, with and without HTML escaping.
func asEncodingJSON(t *testing.T, s string) {
	t.Helper()
	for _, html := range []bool{false, true} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(html)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if got := AppendString(nil, s, html); string(got) != string(bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
			t.Errorf("AppendString(%q, html %v) = %s, want %s", s, html, got, want.Bytes())
		}
	}
}

// TestAppendStringAsEncodingJSON: byte for byte what encoding/json writes.
func TestAppendStringAsEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "plain", `q"uote \ back`, "nl\n cr\r tab\t bs\b ff\f", "\x00\x01\x1f\x7f", "<b>&amp;</b>",
		"é ü ß ភាសាខ្មែរ 😀", "\u2028\u2029", "bad \xff utf8 \xc3", "x\u0000y",
	} {
		asEncodingJSON(t, s)
	}
}

// TestAppendStringEveryByte: each byte value alone between two letters.
func TestAppendStringEveryByte(t *testing.T) {
	for c := 0; c < 256; c++ {
		asEncodingJSON(t, string([]byte{'a', byte(c), 'b'}))
	}
}

// TestAppendJSString: JSON.stringify's quoting: the same ASCII escapes,
// U+2028/2029 and other non-ASCII text as they are, no HTML escaping.
func TestAppendJSString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{`q"uote \ back`, `"q\"uote \\ back"`},
		{"nl\n cr\r tab\t bs\b ff\f \x00\x1f\x7f", `"nl\n cr\r tab\t bs\b ff\f \u0000\u001f` + "\x7f" + `"`},
		{"<b>&</b>", `"<b>&</b>"`},
		{"é 😀 \u2028\u2029", "\"é 😀 \u2028\u2029\""},
	} {
		if got := string(AppendJSString(nil, tc.in)); got != tc.want {
			t.Errorf("AppendJSString(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func BenchmarkAppendString(b *testing.B) {
	s := `POST http://127.0.0.1:40123/records - 201 in 1ms {"resourceType":"Patient","id":"p-1"}`
	buf := make([]byte, 0, 256)
	for _, html := range []bool{false, true} {
		b.Run(map[bool]string{false: "plain", true: "html"}[html], func(b *testing.B) {
			b.SetBytes(int64(len(s)))
			for b.Loop() {
				buf = AppendString(buf[:0], s, html)
			}
		})
	}
}
