package redact

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

func TestStringAndEncodedForms(t *testing.T) {
	r := New()
	r.AddValues("p@ss word!", "ab") // "ab" is too short to scrub everywhere
	for _, tc := range []struct{ in, want string }{
		{"login p@ss word! now", "login *** now"},
		{"q=p%40ss+word%21", "q=***"},
		{"path/p@ss%20word%21", "path/***"},
		{"about abc", "about abc"},
	} {
		if got := r.String(tc.in); got != tc.want {
			t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestHeader(t *testing.T) {
	r := New()
	r.AddValues("hunter22")
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:hunter22"))
	h := http.Header{
		"Authorization":  {basic},
		"X-Custom-Basic": {basic},
		"X-Api-Key":      {"k-123456"},
		"Cookie":         {"session=abc"},
		"X-Note":         {"pw hunter22"},
		"Content-Type":   {"application/json"},
	}
	got := r.Header(h)
	want := map[string]string{
		"Authorization": "Basic ***", "X-Custom-Basic": "Basic ***", "X-Api-Key": "***",
		"Cookie": "***", "X-Note": "pw ***", "Content-Type": "application/json",
	}
	for k, v := range want {
		if got.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, got.Get(k), v)
		}
	}
	if h.Get("Authorization") != basic {
		t.Fatal("Header modified its input")
	}
}

func TestURL(t *testing.T) {
	r := New()
	r.AddValues("tok-98765")
	for _, tc := range []struct{ in, want string }{
		{"https://u:pw@host/x", "https://u:***@host/x"},
		{"https://host/x?token=abc&q=1", "https://host/x?q=1&token=%2A%2A%2A"},
		{"https://host/x?q=tok-98765", "https://host/x?q=***"},
	} {
		if got := r.URL(tc.in); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestJSONAndSecretsFrom(t *testing.T) {
	r := New("pin")
	r.AddSecretsFrom(map[string]any{
		"username": "demo", "password": "very-secret", "nested": map[string]any{"apiToken": "tok-abcdef"},
	})
	in := `{"user":"demo","password":"x","pin":"1234","note":"uses very-secret and tok-abcdef","list":[{"token":"zz"}],"n":1.50}`
	out := string(r.JSON([]byte(in)))
	for _, leak := range []string{"very-secret", "tok-abcdef", `"x"`, "1234", `"zz"`} {
		if strings.Contains(out, leak) {
			t.Errorf("leaked %s in %s", leak, out)
		}
	}
	if !strings.Contains(out, `"n":1.50`) || !strings.Contains(out, `"user":"demo"`) {
		t.Errorf("non-secret content changed: %s", out)
	}
	if got := string(r.JSON([]byte("not json very-secret"))); got != "not json ***" {
		t.Errorf("text fallback: %q", got)
	}
}

func TestBasicCredentialFromConfiguration(t *testing.T) {
	r := New()
	r.AddSecretsFrom(map[string]any{"username": "demo", "password": "demo-secret"})
	echoed := `{"auth":"Basic ` + base64.StdEncoding.EncodeToString([]byte("demo:demo-secret")) + `"}`
	if got := r.String(echoed); strings.Contains(got, "ZGVtbzpkZW1vLXNlY3JldA") {
		t.Fatalf("base64 user:password leaked: %s", got)
	}
}

func TestBodyForm(t *testing.T) {
	r := New()
	got := string(r.Body("application/x-www-form-urlencoded", []byte("user=a&password=b")))
	if got != "password=%2A%2A%2A&user=a" {
		t.Errorf("form: %q", got)
	}
}

func TestCloneIsIndependent(t *testing.T) {
	base := New()
	c := base.Clone()
	c.AddValues("only-in-clone")
	if base.String("only-in-clone") != "only-in-clone" {
		t.Fatal("clone leaked values into base")
	}
	if c.String("only-in-clone") != Mask {
		t.Fatal("clone lost value")
	}
}
