package redact

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/jobmediator/jobmediator/internal/jsonvalue"
	"github.com/jobmediator/jobmediator/internal/urlenc"
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
	// keys are shared until one side adds some
	c.AddKeys("cloneKey")
	base.AddKeys("baseKey")
	if base.SensitiveKey("cloneKey") || c.SensitiveKey("baseKey") || !c.SensitiveKey("clone_key") || !base.SensitiveKey("BASE-KEY") {
		t.Fatal("sensitive keys leaked between a redactor and its clone")
	}
}

// TestSharedFormsStayPerRedactor: redactors registering the same secret
// share its computed forms (one set, computed once), and registering it
// again on every run does not grow what each String call searches.
func TestSharedFormsStayPerRedactor(t *testing.T) {
	a, b := New(), New()
	a.AddValues("shared-secret", "only-in-a")
	b.AddValues("shared-secret")
	for i := 0; i < 3; i++ {
		b.AddValues("shared-secret")
	}
	if len(b.sets) != 1 || a.sets[0] != b.sets[0] {
		t.Fatalf("forms not shared or registered twice: a %d sets, b %d sets", len(a.sets), len(b.sets))
	}
	if b.String("only-in-a") != "only-in-a" || a.String("only-in-a") != Mask {
		t.Fatal("a secret of one redactor reached another")
	}
	if b.String("x shared-secret y") != "x *** y" {
		t.Fatal("shared secret not masked")
	}
}

// TestEveryEncoding masks a secret in each form it takes on its way out,
// including inside longer encoded text, and leaves nothing of it readable.
func TestEveryEncoding(t *testing.T) {
	const secret = `p#ss w/rd+"q'~*(x)` // characters every encoder treats differently
	r := New()
	r.AddValues(secret)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	urlB64 := func(s string) string { return base64.URLEncoding.EncodeToString([]byte(s)) }
	cases := map[string]string{
		"plain":                     "pw=" + secret,
		"encodeURIComponent":        "pw=" + urlenc.URIComponent(secret),
		"form (+)":                  "a=1&pw=" + urlenc.Form(secret) + "&b=2",
		"Go QueryEscape":            "pw=" + url.QueryEscape(secret),
		"jQuery.param (+)":          "pw=" + strings.ReplaceAll(urlenc.URIComponent(secret), "%20", "+"),
		"path escape":               "/x/" + url.PathEscape(secret) + "/y",
		"lower-case hex":            "pw=" + strings.ToLower(urlenc.URIComponent(secret)),
		"JSON-escaped":              `{"msg":"` + jsonEscape(secret, false) + `"}`,
		"JSON-escaped twice":        `{"body":"{\"pw\":\"` + jsonEscape(jsonEscape(secret, false), false) + `\"}"}`,
		"JSON with HTML escapes":    jsonEscape(secret, true),
		"base64":                    b64(secret),
		"base64 url alphabet":       urlB64(secret),
		"base64 inside a blob (+0)": b64(secret + `","user":"ada"}`),
		"base64 inside a blob (+1)": b64(`{` + secret + `"}`),
		"base64 inside a blob (+2)": b64(`{"` + secret + `"}`),
		"base64 of user:password":   "Basic " + b64("ada:"+secret),
	}
	for name, in := range cases {
		got := r.String(in)
		if !strings.Contains(got, Mask) {
			t.Errorf("%s: %q not masked: %q", name, in, got)
		}
		for _, form := range []string{secret, "p#ss", "w/rd", "(x)"} {
			if strings.Contains(got, form) {
				t.Errorf("%s: %q still shows %q", name, got, form)
			}
		}
	}
	// Short secrets are not looked for in base64 (6 characters would mask
	// ordinary words); ordinary text is left alone.
	if got := r.String("nothing to see: cGFzc3dvcmQ= and p#s"); got != "nothing to see: cGFzc3dvcmQ= and p#s" {
		t.Errorf("unrelated text changed: %q", got)
	}
}

func TestOverlappingSecretsLeaveNothing(t *testing.T) {
	r := New()
	r.AddValues("abcdXY", "XYefgh", "zzzz")
	for in, want := range map[string]string{
		"[abcdXYefgh]":     "[***]",
		"[abcdXY][XYefgh]": "[***][***]",
		"abcdXYzzzz!":      "***!",
		"zzzzz":            "***", // matches at 0 and 1 overlap
		"plain text":       "plain text",
	} {
		if got := r.String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	r := New("nationalId")
	r.AddValues("s3cr#t-pass")
	c := FromSnapshot(r.Snapshot())
	if !c.SensitiveKey("national_id") || c.String("x s3cr%23t-pass y") != "x *** y" {
		t.Errorf("snapshot lost keys or values: %+v", r.Snapshot())
	}
}

// TestJSONStreams: JSON redacts in one pass with the same rules as Value
// (the decoded results agree), keeps key order and layout, and leaves a
// document without secrets byte for byte as it was.
func TestJSONStreams(t *testing.T) {
	r := New()
	r.AddValues("hunter22", `q"uo\te`)
	for _, doc := range []string{
		`{"z":1,"a":{"password":"hunter22","n":[1,2,{"token":{"inner":"x","secret":[1,2]}}]},"note":"pw is hunter22!"}`,
		`[{"apiKey":12345},{"apiKey":null},{"apiKey":true},{"m":"\u0068unter22"},{"e":"say \"q\\\"uo\\\\te\""}]`,
		` { "spaced" : [ 1 , "hunter22" , { } , [ ] ] , "password" : { "nested" : "hunter22" } } `,
		`"just hunter22"`, `42`, `null`, `{"Pass-Word":"x","PASSWORD":["a"]}`,
		`{"html":"<b>&amp;</b>","unicode":"日本 🙂","escapes":"\n\t\/"}`,
	} {
		got := r.JSON([]byte(doc))
		var a, b any
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatalf("%s: output %s is not JSON: %v", doc, got, err)
		}
		_ = json.Unmarshal([]byte(doc), &b)
		wantB, _ := json.Marshal(r.Value(b))
		gotB, _ := json.Marshal(a)
		if string(gotB) != string(wantB) {
			t.Errorf("%s:\n got %s\nwant %s", doc, gotB, wantB)
		}
		if strings.Contains(string(got), "hunter22") || strings.Contains(string(got), `uo\\te`) {
			t.Errorf("%s: secret left in %s", doc, got)
		}
	}
	clean := `{"z":1,"a":[true,false,null,-1.5e3,"x\u00e9"],"b":"<&>"}`
	if got := string(r.JSON([]byte(clean))); got != clean {
		t.Errorf("a document without secrets changed: %s", got)
	}
	if got := string(r.JSON([]byte(`{"password":"x"} trailing`))); got != `{"password":"x"} trailing` {
		t.Errorf("non-JSON is text: %s", got)
	}
}

// TestSensitiveKeyForms: names match case-insensitively and ignoring -, _,
// spaces and dots, ASCII or not, short or long.
func TestSensitiveKeyForms(t *testing.T) {
	r := New("nationalId", "clé_secrète")
	for key, want := range map[string]bool{
		"password": true, "Password": true, "PASS_WORD": true, "x-api-key": true, "X-Api-Key": true,
		"Authorization": true, "access.token": true, "national id": true, "NATIONAL_ID": true,
		"Clé-Secrète": true, "CLÉ SECRÈTE": true, "username": false, "Content-Type": false,
		strings.Repeat("a", 100) + "password": false, "": false,
	} {
		if got := r.SensitiveKey(key); got != want {
			t.Errorf("SensitiveKey(%q) = %v, want %v", key, got, want)
		}
	}
}

func BenchmarkSensitiveKey(b *testing.B) {
	r := New()
	b.ReportAllocs()
	for b.Loop() {
		_ = r.SensitiveKey("Content-Type")
	}
}

// TestFingerprint: equal knowledge, equal fingerprint, in any order of
// registration; any new key or secret changes it, including secrets past
// the form cache, whose sets are never shared.
func TestFingerprint(t *testing.T) {
	base := New()
	a, b := base.Clone(), base.Clone()
	a.AddValues("first-secret", "second-secret")
	b.AddValues("second-secret", "first-secret")
	if a.Fingerprint() != b.Fingerprint() {
		t.Fatal("same secrets in another order changed the fingerprint")
	}
	if a.Fingerprint() == base.Fingerprint() {
		t.Fatal("added secrets left the fingerprint as it was")
	}
	fp := a.Fingerprint()
	a.AddKeys("nationalId")
	if a.Fingerprint() == fp || base.SensitiveKey("nationalId") {
		t.Fatal("a new sensitive key left the fingerprint as it was, or reached the base")
	}
	uncached := func() *Redactor {
		r := New()
		r.sets = append(r.sets, newFormSet(forms("not-in-the-cache")))
		return r
	}
	if one, two := uncached(), uncached(); one.Fingerprint() == two.Fingerprint() {
		t.Fatal("two uncached form sets share a fingerprint: a reused address could hide a new secret")
	}
}

// TestJSONWithoutIsWithoutKeyThenJSON: one pass gives what dropping the
// key (jsonvalue.WithoutKey) and then redacting gave.
func TestJSONWithoutIsWithoutKeyThenJSON(t *testing.T) {
	r := New()
	r.AddValues("s3cr3t-value")
	for _, doc := range []string{
		``, `null`, `"configuration"`, `[{"configuration":1}]`, `not json`, `{"configuration":1`, `{"a":1} x`,
		`{}`, `{"configuration":{"password":"p"}}`, ` { "configuration" : [1, 2] } `,
		`{"configuration":1,"a":2}`, `{"a":1,"configuration":2}`, `{"a":1,"configuration":2,"b":"s3cr3t-value"}`,
		`{"a":{"configuration":1},"configuration":2,"configuration":3,"token":"t"}`,
		`{"config\u0075ration":1,"x\n":"y","configurationx":2,"Configuration":3}`,
		` { "data" : { "b" : 1 , "password" : "p" } , "configuration" : { "k" : "\"}" } , "z" : [ 1 , "s3cr3t-value" ] } `,
		`{"data":{"resourceType":"Patient","id":"p-1"},"references":[],"configuration":{"username":"demo","password":"demo-secret"},"response":{"statusCode":201}}`,
	} {
		// and each with one byte left out (mostly not JSON, some still)
		variants := []string{doc}
		for i := range doc {
			variants = append(variants, doc[:i]+doc[i+1:])
		}
		for _, d := range variants {
			for _, key := range []string{"configuration", ""} {
				want := r.JSON([]byte(d)) // "" drops nothing (WithoutKey would drop "")
				if key != "" {
					want = r.JSON(jsonvalue.WithoutKey(json.RawMessage(d), key))
				}
				if got := r.JSONWithout([]byte(d), key); string(got) != string(want) {
					t.Errorf("JSONWithout(%s, %q) = %s, want %s", d, key, got, want)
				}
			}
		}
	}
}
