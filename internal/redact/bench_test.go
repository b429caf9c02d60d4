package redact

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkJSONLargeObject: redacting the 8 MB, 500,000-key state of
// issue 11 (run history stores input and output of every run).
func BenchmarkJSONLargeObject(b *testing.B) {
	r := New()
	r.AddValues("s3cr#t-pass", "another-secret-value")
	var sb strings.Builder
	sb.WriteByte('{')
	for i := 0; i < 500000; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `"k%07d":%d`, i, i)
	}
	sb.WriteByte('}')
	doc := []byte(sb.String())
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		_ = r.JSON(doc)
	}
}
