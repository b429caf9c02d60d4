package http

import "testing"

// TestURLJoinAsLanguageHTTP: the native URL rules give what http.js's
// splitUrl/posixJoin and URLSearchParams-style encoding gave; expected values
// were printed by those JavaScript functions in Node 20.
func TestURLJoinAsLanguageHTTP(t *testing.T) {
	for _, c := range [][3]string{
		{"http://h:1", "/records", "http://h:1/records"},
		{"http://h:1/api", "things", "http://h:1/api/things"},
		{"http://h:1/api/", "/things/", "http://h:1/api/things/"},
		{"https://H.example/api/v1?x=1", "a/../b?y=2#frag", "https://H.example/api/v1/b?x=1&y=2"},
		{"http://h/a/b", "../../../c", "http://h/c"},
		{"http://h", "", "http://h/"},
		{"http://h/api?k=v", "", "http://h/api?k=v"},
		{"http://h/api", "./x/./y/", "http://h/api/x/y/"},
		{"HTTP://h.x", "p?", "HTTP://h.x/p"},
	} {
		if got := joinURL(c[0], c[1]); got != c[2] {
			t.Errorf("join(%q, %q) = %q, want %q", c[0], c[1], got, c[2])
		}
	}
	if got := appendQuery("http://h/p?a=1#f", []string{"b=2", "c=3"}); got != "http://h/p?a=1&b=2&c=3#f" {
		t.Errorf("appendQuery = %q", got)
	}
}
