package http_test

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/testpki"
)

// TestTLSOptions: tls / agentOptions / configuration.tls reach a real
// handshake: a private CA is trusted through ca, a client certificate is
// presented through cert+key (the server requires one), and
// rejectUnauthorized: false skips verification — for http ≥6 and ≤5.
func TestTLSOptions(t *testing.T) {
	ca, err := testpki.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.Server("upstream", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.Client("leaf 3")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who := ""
		if len(r.TLS.PeerCertificates) > 0 {
			who = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"client":%q}`, who)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{server.TLS}, ClientCAs: ca.Pool(), ClientAuth: tls.VerifyClientCertIfGiven}
	srv.StartTLS()
	defer srv.Close()
	mtls := map[string]any{"ca": string(ca.PEM), "cert": string(client.CertPEM), "key": string(client.KeyPEM)}
	for _, tc := range []struct {
		name, adaptor, job string
		conf               map[string]any
		want               string // client CN seen by the server, or an error substring
		compat             config.Compat
	}{
		{"7: configuration.tls with a client certificate", "http@7", `get('/who');`, map[string]any{"baseUrl": srv.URL, "tls": mtls}, "leaf 3", config.CompatLightning},
		{"7: tls option, CA only", "http@7", `get('/who', { tls: { ca: $.configuration.ca } });`, map[string]any{"baseUrl": srv.URL, "ca": string(ca.PEM)}, "", config.CompatLightning},
		{"6: agentOptions (deprecated) still applied", "http@6", `get('/who', { agentOptions: { rejectUnauthorized: false } });`, map[string]any{"baseUrl": srv.URL}, "", config.CompatLightning},
		{"7: untrusted server refused", "http@7", `get('/who');`, map[string]any{"baseUrl": srv.URL}, "certificate", config.CompatLightning},
		{"5: agentOptions with a client certificate", "http@5", `get('/who', { agentOptions: state.configuration.mtls });`, map[string]any{"baseUrl": srv.URL, "mtls": mtls}, "leaf 3", config.CompatLegacy},
		{"5: untrusted server refused", "http@5", `get('/who');`, map[string]any{"baseUrl": srv.URL}, "certificate", config.CompatLegacy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := runHTTP(t, tc.adaptor, tc.job, tc.compat, tc.conf)
			if tc.want == "certificate" {
				if out.res.Error == nil || !strings.Contains(out.res.Error.Message, "certificate") {
					t.Fatalf("want a certificate error, got %+v", out.res.Error)
				}
				return
			}
			if out.res.Error != nil {
				t.Fatalf("%+v", out.res.Error)
			}
			data, _ := out.state["data"].(map[string]any)
			if data["client"] != tc.want {
				t.Fatalf("server saw client %v, want %q", data["client"], tc.want)
			}
			// the key never appears in what the run leaves behind
			for _, ex := range out.ex {
				if strings.Contains(ex.Request.Body+fmt.Sprint(ex.Request.Header), "PRIVATE KEY") {
					t.Fatalf("private key in the recorded request")
				}
			}
		})
	}
}

// TestFormBodies: contentType 'form' (≥6, common's encodeFormBody) and
// formData (≤5) send multipart/form-data, one part per key (null skipped,
// objects as JSON); form (≤5) sends application/x-www-form-urlencoded.
func TestFormBodies(t *testing.T) {
	srv := upstream(t)
	conf := map[string]any{"baseUrl": srv.URL}
	for _, tc := range []struct {
		name, adaptor, job string
		compat             config.Compat
		ctype              string
		parts              []string
	}{
		{"7 contentType form", "http@7", `post('/f', { name: 'Ada', meta: { a: 1 }, skip: null, n: 3 }, { contentType: 'form', headers: { 'Content-Type': 'application/json' } });`,
			config.CompatLightning, "multipart/form-data; boundary=", []string{`name="name"` + "\r\n\r\nAda\r\n", `name="meta"` + "\r\n\r\n{\"a\":1}\r\n", `name="n"` + "\r\n\r\n3\r\n"}},
		{"5 formData", "http@5", `post('/f', { formData: { name: 'Ada', n: 3 } });`,
			config.CompatLegacy, "multipart/form-data; boundary=", []string{`name="name"` + "\r\n\r\nAda\r\n", `name="n"` + "\r\n\r\n3\r\n"}},
		{"5 form", "http@5", `post('/f', { form: { name: 'Ada Lovelace', 'a&b': 'x=y' } });`,
			config.CompatLegacy, "application/x-www-form-urlencoded", []string{"name=Ada+Lovelace&a%26b=x%3Dy"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := runHTTP(t, tc.adaptor, tc.job, tc.compat, conf)
			if out.res.Error != nil {
				t.Fatalf("%+v", out.res.Error)
			}
			data, _ := out.state["data"].(map[string]any)
			ct, _ := data["contentType"].(string)
			body, _ := data["body"].(string)
			if !strings.HasPrefix(ct, tc.ctype) {
				t.Fatalf("content type %q", ct)
			}
			for _, p := range tc.parts {
				if !strings.Contains(body, p) {
					t.Errorf("body lacks %q:\n%s", p, body)
				}
			}
			if strings.Contains(body, "skip") {
				t.Errorf("a null field was sent")
			}
			if strings.HasPrefix(ct, "multipart") && !strings.HasSuffix(body, "--"+strings.TrimPrefix(ct, "multipart/form-data; boundary=")+"--\r\n") {
				t.Errorf("multipart body not closed by its boundary:\n%s", body)
			}
		})
	}
}

// TestUtilNamespace: language-http ≥6's util: request is the operation
// behind get/post, encode/decode are base64 with JSON, getTLSOptions picks
// tls, agentOptions, then configuration.tls.
func TestUtilNamespace(t *testing.T) {
	srv := upstream(t)
	out := runHTTP(t, "http@7", `
util.request('GET', '/u', { query: { a: 1 } });
fn(state => ({
  ...state,
  path: state.data.path,
  enc: util.encode({ x: 1 }),
  dec: util.decode(util.encode({ x: 1 })),
  uuidOK: /^[0-9a-f-]{36}$/.test(util.uuid()),
  tls: [util.getTLSOptions(state, { tls: 't' }), util.getTLSOptions(state, { agentOptions: 'a' }), util.getTLSOptions(state, {})],
  types: util.CONTENT_TYPES,
}));`, config.CompatLightning, map[string]any{"baseUrl": srv.URL, "tls": "c"})
	if out.res.Error != nil {
		t.Fatalf("%+v", out.res.Error)
	}
	st := out.state
	if st["path"] != "/u" || st["enc"] != "eyJ4IjoxfQ==" || st["uuidOK"] != true {
		t.Errorf("util: %v %v %v", st["path"], st["enc"], st["uuidOK"])
	}
	if d, _ := st["dec"].(map[string]any); d["x"] != float64(1) {
		t.Errorf("decode: %v", st["dec"])
	}
	if got := fmt.Sprint(st["tls"]); got != "[t a c]" {
		t.Errorf("getTLSOptions: %s", got)
	}
	if ct, _ := st["types"].(map[string]any); ct["xml"] != "application/xml" {
		t.Errorf("CONTENT_TYPES: %v", st["types"])
	}
}
