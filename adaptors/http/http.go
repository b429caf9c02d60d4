// Package http is Job Mediator's language-http: get/post/put/patch/del and
// request with the state semantics of two OpenFn generations, chosen by the
// job's adaptor version:
//
//   - ≤5 (axios era, e.g. @openfn/language-http@5.0.4, the UNICEF Cambodia
//     jobs): (path, params, callback); response body in state.data (non-JSON
//     text as {body}), references appended, Basic auth from
//     configuration.username on every request, baseUrl joining, query/qs/
//     params as axios serialises them, keepCookie with __cookie/__headers and
//     a per-run cookie jar, transformResponse, options.successCodes.
//   - ≥6 (undici era, default 7.3.2): (path, options) — 7.x post/put/patch
//     take (path, data, options) — returning {...state, data: body,
//     response: {url, method, statusCode, statusMessage, headers, duration}};
//     status ≥400 throws "<METHOD> to <url> returned <code>: <reason>" with
//     statusCode; errors map, query merging, parseAs, baseUrl origin checks,
//     Bearer/Basic auth only when configuration.baseUrl is set.
//
// Every request goes through the run's recorder client, so it becomes an
// orchestration with secrets redacted. TLS options (tls, agentOptions,
// configuration.tls: ca, cert+key, rejectUnauthorized, servername) are
// applied to a per-run transport; multipart bodies (contentType "form",
// formData) and urlencoded form (≤5) are encoded here; ≥6 has the util
// namespace.
//
// parseXML(body, script) works for 3.x–6.x as there: the body is parsed as
// cheerio 1.0.0-rc.10/rc.12 parses it (parse5's HTML5 tree, here
// golang.org/x/net/html; selectors by cascadia, xml.go) and the script gets
// a cheerio $ with the subset jobs use — $(selector[, context]),
// $(element), $.root(), .length, [i], .find, .children, .parent, .filter,
// .is, .first, .last, .eq, .get, .toArray, .each, .map, .text, .attr,
// .html and cheerio-tableparser's .parsetable (http.js lists it). 3–5 take
// the body as given, 6 expands it and takes a callback. 7.x hands cheerio
// {body: data}, so its script sees a document without elements and a
// script-less call leaves data.body = {body: data} with cheerio's links:
// reproduced. ≤2 (cheerio rc.2 on htmlparser2) fails with UNSUPPORTED.
// .html() serialises as cheerio does (the HTML spec's fragment
// serialisation, not html.Render's). Goldens: conformance corpus 146–149
// and 151, recorded in Node (6.4.3, 7.2.10, 4.0.0).
//
// Not implemented, each failing with a named error rather than being
// ignored: parseAs "stream", encrypted keys (passphrase, pfx). Also
// missing: the 3xx-without-maxRedirections error (redirects follow the
// underlying http.Client's policy).
package http

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"

	"github.com/dop251/goja"

	"github.com/jobmediator/jobmediator/adaptors"
	"github.com/jobmediator/jobmediator/adaptors/recorder"
)

//go:embed http.js
var source string

// Host returns the host functions: request performs one recorded HTTP call.
func Host(env *adaptors.Env) map[string]any {
	jar := func(run *adaptors.Run) *cookiejar.Jar {
		if run.Values == nil {
			return nil
		}
		if j, ok := run.Values["http.cookies"].(*cookiejar.Jar); ok {
			return j
		}
		j, _ := cookiejar.New(nil)
		run.Values["http.cookies"] = j
		return j
	}
	h := map[string]any{
		"request":       adaptors.HostRequestWith(env, httpRequest),
		"modernRequest": modernRequest(env, httpRequest),
		"cookies": func(raw string) string {
			j := jar(env.Run())
			u, err := url.Parse(raw)
			if j == nil || err != nil {
				return ""
			}
			var parts []string
			for _, c := range j.Cookies(u) {
				parts = append(parts, c.Name+"="+c.Value)
			}
			return strings.Join(parts, "; ")
		},
		"storeCookies": func(raw string, list []any) {
			j := jar(env.Run())
			u, err := url.Parse(raw)
			if j == nil || err != nil {
				return
			}
			h := http.Header{}
			for _, c := range list {
				h.Add("Set-Cookie", fmt.Sprint(c))
			}
			j.SetCookies(u, (&http.Response{Header: h}).Cookies())
		},
	}
	for k, f := range xmlHost(env) {
		h[k] = f
	}
	return h
}

// httpRequest is how language-http makes its calls (the VM's host
// functions and the native operations alike).
var httpRequest = adaptors.RequestOptions{
	BadURL:    func(raw string) string { return fmt.Sprintf("invalid URL %q: want an absolute http(s) URL", raw) },
	AnyScheme: true, SetCookie: true, Client: tlsClient,
}

// tlsClient applies a request's tls option (host.request's "tls": the
// request's tls, its agentOptions or configuration.tls, chosen in http.js).
func tlsClient(run *adaptors.Run, client *recorder.Client, tls goja.Value) (*recorder.Client, error) {
	t, ok := tls.(*goja.Object)
	if !ok || len(t.Keys()) == 0 {
		return client, nil
	}
	opts, _ := t.Export().(map[string]any)
	return withTLS(run, client, opts)
}

// withTLS returns client with a transport that applies Node-style TLS
// options (tls.connect / https.Agent names): ca (PEM, or a list of PEMs;
// replaces the system roots, as in Node), cert + key (PEM client
// certificate), rejectUnauthorized (false skips verification), servername.
// Transports are kept per run and option set, so connections are reused.
// Error messages never include the option values (a key is a secret).
func withTLS(run *adaptors.Run, client *recorder.Client, opts map[string]any) (*recorder.Client, error) {
	raw, _ := json.Marshal(opts)
	sum := sha256.Sum256(raw)
	key := "http.tls." + hex.EncodeToString(sum[:])
	var tr *http.Transport
	if run.Values != nil {
		tr, _ = run.Values[key].(*http.Transport)
	}
	if tr == nil {
		cfg, err := tlsConfig(opts)
		if err != nil {
			return nil, err
		}
		if base, ok := client.HTTP.Transport.(*http.Transport); ok && base != nil {
			tr = base.Clone()
		} else {
			tr = http.DefaultTransport.(*http.Transport).Clone()
		}
		tr.TLSClientConfig = cfg
		if run.Values != nil {
			run.Values[key] = tr
		}
	}
	hc := *client.HTTP
	hc.Transport = tr
	c := *client
	c.HTTP = &hc
	return &c, nil
}

func tlsConfig(opts map[string]any) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	for _, k := range []string{"passphrase", "pfx"} {
		if v, ok := opts[k]; ok && v != nil && v != "" {
			return nil, fmt.Errorf("TLS option %q is not supported by Job Mediator: use an unencrypted PEM cert and key", k)
		}
	}
	if ca, ok := opts["ca"]; ok && ca != nil {
		var pems []string
		switch t := ca.(type) {
		case string:
			pems = []string{t}
		case []any:
			for _, x := range t {
				if s, ok := x.(string); ok {
					pems = append(pems, s)
				}
			}
		}
		pool := x509.NewCertPool()
		added := false
		for _, p := range pems {
			if pool.AppendCertsFromPEM([]byte(p)) {
				added = true
			}
		}
		if !added {
			return nil, fmt.Errorf("TLS option ca holds no PEM certificate")
		}
		cfg.RootCAs = pool
	}
	certPEM, hasCert := opts["cert"].(string)
	keyPEM, hasKey := opts["key"].(string)
	switch {
	case hasCert && hasKey:
		pair, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
		if err != nil {
			return nil, fmt.Errorf("TLS options cert and key are not a PEM certificate and its unencrypted private key")
		}
		cfg.Certificates = []tls.Certificate{pair}
	case hasCert || hasKey:
		return nil, fmt.Errorf("TLS options cert and key go together: give both")
	}
	if v, ok := opts["rejectUnauthorized"].(bool); ok && !v {
		cfg.InsecureSkipVerify = true
	}
	if sn, ok := opts["servername"].(string); ok && sn != "" {
		cfg.ServerName = sn
	}
	return cfg, nil
}

func init() {
	adaptors.Register(&adaptors.Definition{
		Name:     "http",
		Doc:      "HTTP requests: http ≤5 (axios era) and ≥6 (undici era) semantics by version",
		Default:  "7.3.2",
		Supports: func(v adaptors.Version) bool { return v.Major >= 1 && v.Major <= 7 },
		Source:   func(adaptors.Version) string { return source },
		Host:     Host,
		Native:   native,
	})
}
