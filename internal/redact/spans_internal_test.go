package redact

import (
	"encoding/base64"
	"math/rand"
	"slices"
	"testing"
)

// TestBase64SpansDirectFindsTheSame: searching the whole text for each
// base64 form finds exactly the spans searching inside base64 runs finds.
func TestBase64SpansDirectFindsTheSame(t *testing.T) {
	secrets := []string{"demo-secret", "s3cr#t-pass", "another-secret-value", "ab+/cd==ef"}
	r := New()
	r.AddValues(secrets...)
	var frags []string
	shortest := 0
	for _, fs := range r.sets {
		frags = append(frags, fs.b64...)
		frags = append(frags, fs.text...)
		if fs.shortestB64 > 0 && (shortest == 0 || fs.shortestB64 < shortest) {
			shortest = fs.shortestB64
		}
	}
	for _, s := range secrets {
		frags = append(frags, base64.StdEncoding.EncodeToString([]byte("user:"+s)), base64.URLEncoding.EncodeToString([]byte("x"+s+"yz")))
	}
	frags = append(frags, " ", "\"", "=", "-", "_", "+", "/", "abc", "Zm9v", ":", "{\"a\":\"", "é", "\xff")
	rng := rand.New(rand.NewSource(7))
	found := 0
	for n := 0; n < 5000; n++ {
		var b []byte
		for i := rng.Intn(12); i >= 0; i-- {
			f := frags[rng.Intn(len(frags))]
			if rng.Intn(4) == 0 && len(f) > 2 { // a piece of a form
				a := rng.Intn(len(f) - 1)
				f = f[a : a+1+rng.Intn(len(f)-a-1)]
			}
			b = append(b, f...)
		}
		s := string(b)
		cmp := func(a, b [2]int) int {
			if a[0] != b[0] {
				return a[0] - b[0]
			}
			return a[1] - b[1]
		}
		runs := r.base64Spans(s, shortest, nil)
		direct := r.base64SpansDirect(s, nil)
		slices.SortFunc(runs, cmp)
		slices.SortFunc(direct, cmp)
		if !slices.Equal(runs, direct) {
			t.Fatalf("%q: runs %v, direct %v", s, runs, direct)
		}
		if len(runs) > 0 {
			found++
		}
	}
	if found < 1000 {
		t.Fatalf("only %d of 5000 texts held a base64 form: the test proves little", found)
	}
}
