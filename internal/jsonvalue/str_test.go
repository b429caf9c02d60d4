package jsonvalue

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestAppendStringAsEncodingJSON: byte for byte what encoding/json writes,
// with and without HTML escaping.
func TestAppendStringAsEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "plain", `q"uote \ back`, "nl\n cr\r tab\t bs\b ff\f", "\x00\x01\x1f\x7f", "<b>&amp;</b>",
		"é ü ß ភាសាខ្មែរ 😀", "\u2028\u2029", "bad \xff utf8 \xc3", "x\u0000y",
	} {
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
}
