package config

import (
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/jobmediator/jobmediator/internal/redact"
)

func TestLoadCredentials(t *testing.T) {
	tests := []struct {
		file string
		key  string
		want map[string]any
	}{
		{"testdata/credentials/creds.yaml", "upstream", map[string]any{"baseUrl": "http://127.0.0.1:4010", "username": "demo", "password": "creds-yaml-secret"}},
		{"testdata/credentials/creds.yaml", "empty", map[string]any{}},
		{"testdata/credentials/creds.json", "pg", map[string]any{"host": "127.0.0.1", "port": 5432, "password": "pg-secret"}},
	}
	for _, tt := range tests {
		c, err := LoadCredentials(tt.file)
		if err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		got, ok := c.Get(tt.key)
		if !ok || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s %s = %#v, want %#v", tt.file, tt.key, got, tt.want)
		}
	}
	c, _ := LoadCredentials("testdata/credentials/creds.yaml")
	if _, ok := c.Get("nope"); ok {
		t.Error("unknown key found")
	}
	if strings.Join(c.Keys(), ",") != "dhis2,empty,upstream" || c.Len() != 3 {
		t.Errorf("keys = %v", c.Keys())
	}
	// Get returns a copy.
	v, _ := c.Get("dhis2")
	v["nested"].(map[string]any)["auth"].(map[string]any)["token"] = "changed"
	v2, _ := c.Get("dhis2")
	if v2["nested"].(map[string]any)["auth"].(map[string]any)["token"] != "nested-secret-token" {
		t.Error("Get must return a deep copy")
	}
	if s := c.String(); strings.Contains(s, "secret") {
		t.Errorf("String leaks: %s", s)
	}
}

func TestCredentialsErrorsNeverShowValues(t *testing.T) {
	secrets := []string{"broken-scalar-secret", "broken-list-secret", "dup-secret", "json-broken-secret", "unterminated-secret"}
	tests := []struct {
		file string
		want []string
	}{
		{"testdata/credentials/broken.yaml", []string{
			"testdata/credentials/broken.yaml:1: upstream: want an object, got a string",
			"testdata/credentials/broken.yaml:2: list: want an object, got a list",
			"testdata/credentials/broken.yaml:3: upstream: duplicate key (first defined at line 1)",
		}},
		{"testdata/credentials/broken.json", []string{"testdata/credentials/broken.json:1: cannot parse: invalid JSON"}},
		{"testdata/credentials/broken-syntax.yaml", []string{"testdata/credentials/broken-syntax.yaml"}},
		{"testdata/credentials/missing.yaml", []string{"credentials file not found"}},
	}
	for _, tt := range tests {
		_, err := LoadCredentials(tt.file)
		if err == nil {
			t.Fatalf("%s loaded", tt.file)
		}
		msg := err.Error()
		for _, w := range tt.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: error %q lacks %q", tt.file, msg, w)
			}
		}
		for _, s := range secrets {
			if strings.Contains(msg, s) {
				t.Errorf("%s: error leaks %q: %s", tt.file, s, msg)
			}
		}
	}
}

func TestCredentialsMerge(t *testing.T) {
	base := NewCredentials(map[string]map[string]any{
		"upstream": {"baseUrl": "http://file", "username": "demo", "password": "file-secret"},
		"other":    {"token": "other-token"},
	})
	merged := base.Merge(map[string]map[string]any{
		"upstream": {"password": "console-secret", "username": "", "extra": nil},
		"console":  {"apiKey": "console-only"},
	})
	up, _ := merged.Get("upstream")
	want := map[string]any{"baseUrl": "http://file", "username": "demo", "password": "console-secret"}
	if !reflect.DeepEqual(up, want) {
		t.Errorf("merged upstream = %v, want %v (console wins per field, empty values ignored)", up, want)
	}
	if c, ok := merged.Get("console"); !ok || c["apiKey"] != "console-only" {
		t.Errorf("console-only credential = %v", c)
	}
	if o, _ := merged.Get("other"); o["token"] != "other-token" {
		t.Error("untouched credential lost")
	}
	// The original is unchanged.
	if orig, _ := base.Get("upstream"); orig["password"] != "file-secret" {
		t.Error("Merge modified its receiver")
	}
	if _, ok := base.Get("console"); ok {
		t.Error("Merge added to its receiver")
	}
}

func TestCredentialsSecretValues(t *testing.T) {
	c, err := LoadCredentials("testdata/credentials/creds.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := c.SecretValues()
	want := []string{"creds-yaml-secret", "d2pat_creds-yaml-token", "nested-secret-token"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SecretValues = %v, want %v", got, want)
	}
	// Extra sensitive keys (jobmediator.yaml sensitive_keys).
	got = c.SecretValues("pins")
	if !contains(got, "1234") {
		t.Errorf("extra key not honoured: %v", got)
	}
	j, _ := LoadCredentials("testdata/credentials/creds.json")
	if got := j.SecretValues(); !reflect.DeepEqual(got, []string{"json-secret-token", "pg-secret"}) {
		t.Errorf("json SecretValues = %v", got)
	}
}

// A field an adaptor declares secret is a secret even when its name does
// not look like one (postgresql's TLS private key), and it is scrubbed in
// every form the redactor knows.
func TestCredentialsSecretValuesFromSpecs(t *testing.T) {
	pem := "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
	c := NewCredentials(map[string]map[string]any{
		"db": {"host": "db.local", "user": "u", "key": pem, "cert": "public-cert-pem"},
	})
	got := c.SecretValues()
	if !contains(got, pem) || contains(got, "public-cert-pem") || contains(got, "db.local") {
		t.Fatalf("SecretValues = %q", got)
	}
	r := redact.New()
	r.AddValues(got...)
	b, _ := json.Marshal(map[string]string{"echo": "tls failed with key " + pem})
	for _, leaked := range []string{string(b), "key=" + url.QueryEscape(pem)} {
		if out := r.String(leaked); strings.Contains(out, "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC") {
			t.Errorf("key leaked: %s", out)
		}
	}
}
