package urlenc

import "testing"

// Expected values printed by Node 20: encodeURIComponent(s) and
// new URLSearchParams({k: s}).toString().slice(2).
func TestAsJavaScript(t *testing.T) {
	for _, c := range []struct{ in, uri, form string }{
		{"a b", "a%20b", "a+b"},
		{"x!y'z(1)~*", "x!y'z(1)~*", "x%21y%27z%281%29%7E*"},
		{"é/ü?&=", "%C3%A9%2F%C3%BC%3F%26%3D", "%C3%A9%2F%C3%BC%3F%26%3D"},
		{"-_.*", "-_.*", "-_.*"},
	} {
		if got := URIComponent(c.in); got != c.uri {
			t.Errorf("URIComponent(%q) = %q, want %q", c.in, got, c.uri)
		}
		if got := Form(c.in); got != c.form {
			t.Errorf("Form(%q) = %q, want %q", c.in, got, c.form)
		}
	}
}
