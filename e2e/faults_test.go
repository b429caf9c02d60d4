package e2e

// Fault tests through the real binary, as an operator runs it: bad input is
// answered with a clear error and loses nothing, a broken project is refused
// with file, line, field and fix, upstream timeouts and refusals are retried
// until delivered, and credentials never leak anywhere an operator (or
// OpenHIM) can read.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/sim/openhim"
)

// send makes one request and returns the status and body.
func faultSend(t *testing.T, method, url, contentType string, body io.Reader, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// errorOf decodes the {"error": {"message", "status", …}} body every
// rejection and failed run answers with.
func faultError(t *testing.T, body string) (message string, status int) {
	t.Helper()
	var v struct {
		Error struct {
			Message string `json:"message"`
			Status  int    `json:"status"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.Error.Message == "" {
		t.Fatalf("want a JSON error with a message, got %q (%v)", body, err)
	}
	return v.Error.Message, v.Error.Status
}

// runCLI runs a jobmediator sub-command to its end. The deadline only
// guards against a hang; commands here finish in well under a second.
func faultCLI(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "JM_DATA_DIR=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("jobmediator %v: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("jobmediator %v did not finish:\n%s%s", args, out.String(), errb.String())
	}
	return code, out.String(), errb.String()
}

// writeFiles writes name → content into a fresh directory.
func faultFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// faultProject is a one-job Lightning project: workflow "faulty", job
// "call-upstream" (line 8) with the given adaptor (line 10) and body (from
// line 13), a webhook trigger and any extra trigger lines.
func faultProject(adaptor, body, extraTriggers string) string {
	var indented strings.Builder
	for _, l := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
		indented.WriteString("          " + l + "\n")
	}
	return fmt.Sprintf(`name: faults
credentials:
  upstream: {name: upstream, owner: e2e@example.org}
workflows:
  faulty:
    name: faulty
    jobs:
      call-upstream:
        name: call upstream
        adaptor: '%s'
        credential: upstream
        body: |
%s    triggers:
      webhook: {type: webhook, enabled: true}
%s    edges:
      webhook->call-upstream: {source_trigger: webhook, target_job: call-upstream, condition_type: always, enabled: true}
`, adaptor, indented.String(), extraTriggers)
}

// TestServeRejectsBadInput: every request the mediator cannot accept gets
// its status and a message that says what is wrong; the upstream sees
// nothing, the daemon stays ready, and the next good request goes through.
// Routed through OpenHIM, core stores the mediator's answer with that status
// as a Completed transaction (no auto-retry).
func TestServeRejectsBadInput(t *testing.T) {
	cases := []struct {
		name, method, path, contentType string
		body                            func() io.Reader
		status                          int
		message                         string
	}{
		{"malformed JSON", "POST", "/hello", "application/json", faultText(`{"name": "Ana",`), 400, "request body is not valid JSON"},
		{"two JSON values", "POST", "/hello", "application/json", faultText(`{"a":1} {"b":2}`), 400, "not valid JSON: more than one value"},
		{"wrong content type", "POST", "/hello", "image/png", faultText("\x89PNG\r\n"), 415, `Content-Type "image/png" is not supported`},
		{"unparsable content type", "POST", "/hello", "application/json; charset", faultText(`{}`), 415, "invalid Content-Type"},
		{"unsupported charset", "POST", "/hello", "application/json; charset=iso-8859-1", faultText(`{}`), 415, `charset "iso-8859-1" is not supported`},
		{"oversize body", "POST", "/hello", "application/json", func() io.Reader { return strings.NewReader(faultBigJSON(2048)) }, 413,
			"request body is larger than the limit of 1024 bytes (BODY_SIZE_LIMIT=1kb)"},
		// A reader of unknown length is sent chunked: no Content-Length to trust.
		{"oversize body, chunked", "POST", "/hello", "application/json", func() io.Reader { return io.MultiReader(strings.NewReader(faultBigJSON(4096))) }, 413,
			"larger than the limit of 1024 bytes"},
		{"unknown path", "POST", "/nowhere", "application/json", faultText(`{}`), 404, "no workflow is served at /nowhere"},
		{"wrong method", "GET", "/hello", "", nil, 405, "method GET is not allowed on /hello"},
	}
	t.Run("direct", func(t *testing.T) {
		up := newRecords(t)
		p := start(t, map[string]string{
			"JM_PROJECT":      "../examples/hello-upstream",
			"JM_CREDENTIALS":  exampleCredentials(t, up.srv.URL, upstreamPW),
			"BODY_SIZE_LIMIT": "1kb",
		})
		for _, tc := range cases {
			var body io.Reader
			if tc.body != nil {
				body = tc.body()
			}
			status, got := faultSend(t, tc.method, p.URL()+tc.path, tc.contentType, body, nil)
			if status != tc.status {
				t.Errorf("%s: status %d, want %d: %s", tc.name, status, tc.status, got)
				continue
			}
			msg, st := faultError(t, got)
			if !strings.Contains(msg, tc.message) || st != tc.status {
				t.Errorf("%s: error %q (status %d), want it to say %q", tc.name, msg, st, tc.message)
			}
			if n := up.count(); n != 0 {
				t.Fatalf("%s: a rejected request reached the upstream (%d records)", tc.name, n)
			}
			if readyStatus(p) != http.StatusOK {
				t.Fatalf("%s: the daemon is not ready after rejecting a request", tc.name)
			}
		}
		// Loses nothing: the connection pool and the daemon still work.
		status, got := faultSend(t, "POST", p.URL()+"/hello", "application/json", faultText(`{"name":"after"}`)(), nil)
		if status != 200 || !strings.Contains(got, `"stored":true`) {
			t.Fatalf("good request after the bad ones: %d %s", status, got)
		}
		if up.count() != 1 || up.got[0]["name"] != "after" {
			t.Fatalf("upstream got %v, want only the good request", up.got)
		}
	})
	t.Run("routed through OpenHIM", func(t *testing.T) {
		core, up, p := mediatorWithCore(t)
		// The default limit is 10mb here (mediatorWithCore sets no
		// BODY_SIZE_LIMIT); core itself accepts the body.
		routed := []struct {
			name, contentType, body string
			status                  int
			message                 string
		}{
			{"malformed JSON", "application/json", `{"name":`, 400, "request body is not valid JSON"},
			{"wrong content type", "application/octet-stream", "\x00\x01", 415, `Content-Type "application/octet-stream" is not supported`},
			{"oversize body", "application/json", faultBigJSON(10<<20 + 1), 413, "larger than the limit of 10485760 bytes (BODY_SIZE_LIMIT=10mb)"},
		}
		for i, tc := range routed {
			req, _ := http.NewRequest(http.MethodPost, core.RouterURL()+"/hello", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.contentType)
			req.SetBasicAuth(clientID, clientPass)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("%s: client got %d, want %d: %.300s", tc.name, resp.StatusCode, tc.status, b)
				continue
			}
			if msg, _ := faultError(t, string(b)); !strings.Contains(msg, tc.message) {
				t.Errorf("%s: client got %q, want it to say %q", tc.name, msg, tc.message)
			}
			tx := lastTransaction(t, core)
			if n := len(core.Transactions()); n != i+1 {
				t.Fatalf("%s: core holds %d transactions, want %d", tc.name, n, i+1)
			}
			if tx.Status != "Completed" || tx.Error != nil || tx.AutoRetry {
				t.Errorf("%s: transaction %s, error %v, autoRetry %v: want Completed without error (retrying cannot help)", tc.name, tx.Status, tx.Error, tx.AutoRetry)
			}
			if st, _ := tx.Response["status"].(float64); int(st) != tc.status {
				t.Errorf("%s: transaction response status %v, want %d", tc.name, tx.Response["status"], tc.status)
			}
			if body, _ := tx.Response["body"].(string); !strings.Contains(body, `"status":`+fmt.Sprint(tc.status)) {
				t.Errorf("%s: transaction response body %.300q is not the mediator's %d error", tc.name, body, tc.status)
			} else if msg, _ := faultError(t, body); !strings.Contains(msg, tc.message) {
				t.Errorf("%s: transaction response says %q, want %q", tc.name, msg, tc.message)
			}
			if up.count() != 0 {
				t.Fatalf("%s: a rejected request reached the upstream", tc.name)
			}
		}
		if readyStatus(p) != http.StatusOK {
			t.Fatal("not ready after the rejections")
		}
		if resp, body := route(t, core, "/hello", `{"name":"after"}`); resp.StatusCode != 200 || up.count() != 1 {
			t.Fatalf("good request after the bad ones: %d %s, upstream %d records", resp.StatusCode, body, up.count())
		}
		if tx := lastTransaction(t, core); tx.Status != "Successful" {
			t.Fatalf("good request's transaction: %s", tx.Status)
		}
	})
}

func faultText(s string) func() io.Reader { return func() io.Reader { return strings.NewReader(s) } }

// faultBigJSON is a valid JSON object of at least n bytes.
func faultBigJSON(n int) string { return `{"pad":"` + strings.Repeat("x", n) + `"}` }

// TestServeRefusesBrokenProject: `serve` and `check` refuse a project whose
// job does not compile, names an adaptor we do not have, or has a cron
// expression that cannot fire; each says where (file, line, field) and what
// to do, and serve never listens.
func TestServeRefusesBrokenProject(t *testing.T) {
	good := "post('/records', $.data);"
	cases := []struct {
		name    string
		project string
		want    *regexp.Regexp // in both check's and serve's output
	}{
		{"job syntax error", faultProject("@openfn/language-http@7", "// forward the body\npost('/records', $.data;", ""),
			regexp.MustCompile(`project\.yaml:14:\d+: workflows\.faulty\.jobs\.call-upstream\.body: .*SyntaxError: Unexpected token ;? ?\(line 2, column \d+\) \(fix: correct the job source\)`)},
		{"unknown adaptor", faultProject("@openfn/language-nosuch@1", good, ""),
			regexp.MustCompile(`project\.yaml:10: workflows\.faulty\.jobs\.call-upstream\.adaptor: adaptor "@openfn/language-nosuch@1" is not available: known adaptors are .*http.* \(fix: `)},
		{"bad cron", faultProject("@openfn/language-http@7", good, "      hourly: {type: cron, cron_expression: '61 * * * *', enabled: true}\n"),
			regexp.MustCompile(`project\.yaml:16: workflows\.faulty\.triggers\.hourly\.cron_expression: minute field "61": 61 is out of range 0-59 \(fix: use 5 fields`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := faultFiles(t, map[string]string{
				"project.yaml":     tc.project,
				"credentials.yaml": "upstream: {baseUrl: http://127.0.0.1:9, username: demo, password: " + upstreamPW + "}\n",
			})
			env := map[string]string{"JM_PROJECT": dir, "JM_CREDENTIALS": filepath.Join(dir, "credentials.yaml")}
			code, out, errOut := faultCLI(t, env, "check")
			if code != 1 || !tc.want.MatchString(out) || !strings.Contains(out, "1 error(s)") {
				t.Errorf("check: exit %d, want 1 and a line matching %s\nstdout:\n%s\nstderr:\n%s", code, tc.want, out, errOut)
			}
			port := freePort(t)
			env["SERVER_PORT"] = fmt.Sprint(port)
			code, out, errOut = faultCLI(t, env, "serve")
			if code != 2 || !strings.Contains(errOut, "refusing to start") || !tc.want.MatchString(errOut) {
				t.Errorf("serve: exit %d, want 2, \"refusing to start\" and a line matching %s\nstdout:\n%s\nstderr:\n%s", code, tc.want, out, errOut)
			}
			if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
				c.Close()
				t.Errorf("something listens on %d after serve refused to start", port)
			}
			if strings.Contains(out+errOut, upstreamPW) {
				t.Errorf("a credential value in the output:\n%s%s", out, errOut)
			}
		})
	}
}

// faultGate wraps the records upstream: while hanging, requests block until
// the caller gives up (or the test ends); otherwise they reach the records
// handler.
func faultGate(t *testing.T, up *records, hanging *atomic.Bool) http.Handler {
	end := make(chan struct{})
	t.Cleanup(func() { close(end) }) // runs before the server's Close
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hanging.Load() {
			// Read the body first: only then does the server notice the
			// caller hanging up and end the request's context.
			io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-end:
			}
			return
		}
		up.srv.Config.Handler.ServeHTTP(w, r)
	})
}

// TestUpstreamTimeoutAndRefusal: an upstream that hangs past the workflow's
// timeout gives 504, one on a closed port 502, each with a message that
// says so; the message is queued for our retry and delivered exactly once
// when the upstream recovers.
func TestUpstreamTimeoutAndRefusal(t *testing.T) {
	cases := []struct {
		name          string
		status        int
		message, code string
		// upstream returns the base URL for the credential and a function
		// that makes the upstream healthy.
		upstream func(t *testing.T, up *records) (url string, heal func())
	}{
		{"hangs past the timeout", http.StatusGatewayTimeout, "took longer than the timeout", "ETIMEDOUT", func(t *testing.T, up *records) (string, func()) {
			var hanging atomic.Bool
			hanging.Store(true)
			srv := httptest.NewUnstartedServer(nil)
			t.Cleanup(srv.Close)
			srv.Config.Handler = faultGate(t, up, &hanging)
			srv.Start()
			return srv.URL, func() { hanging.Store(false) }
		}},
		{"connection refused", http.StatusBadGateway, "connection refused (ECONNREFUSED)", "ECONNREFUSED", func(t *testing.T, up *records) (string, func()) {
			addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			return "http://" + addr, func() {
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					t.Fatalf("bringing the upstream up on %s: %v", addr, err)
				}
				srv := httptest.NewUnstartedServer(up.srv.Config.Handler)
				srv.Listener.Close()
				srv.Listener = ln
				srv.Start()
				t.Cleanup(srv.Close)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up := newRecords(t)
			url, heal := tc.upstream(t, up)
			opts := faultFiles(t, map[string]string{"jobmediator.yaml": `workflows:
  hello-upstream:
    path: /hello
    timeout: 1s
    retry: {max_attempts: 20, initial_backoff: 200ms, max_backoff: 500ms}
`})
			p := start(t, map[string]string{
				"JM_PROJECT":     "../examples/hello-upstream",
				"JM_OPTIONS":     filepath.Join(opts, "jobmediator.yaml"),
				"JM_CREDENTIALS": exampleCredentials(t, url, upstreamPW),
				"JM_API_TOKEN":   "faults-token",
			})
			status, body := faultSend(t, "POST", p.URL()+"/hello", "application/json", faultText(`{"name":"Tim"}`)(), nil)
			if status != tc.status {
				t.Fatalf("client got %d, want %d: %s", status, tc.status, body)
			}
			if msg, _ := faultError(t, body); !strings.Contains(msg, tc.message) || !strings.Contains(body, `"code":"`+tc.code+`"`) {
				t.Fatalf("error %q does not say %q: %s", msg, tc.message, body)
			}
			if strings.Contains(body, upstreamPW) {
				t.Fatalf("credential in the answer: %s", body)
			}
			if up.count() != 0 {
				t.Fatalf("upstream stored %v before it recovered", up.got)
			}
			waitFor(t, "the retry to be queued", 10*time.Second, func() bool {
				return strings.Contains(p.Logs(), "transient failure queued for retry")
			})
			heal()
			waitFor(t, "delivery after the upstream recovers", 30*time.Second, func() bool { return up.count() > 0 })
			// Delivered once: the retry message is done once a run succeeded,
			// and that run is in the history.
			var runs []struct{ Status, Error string }
			waitFor(t, "the successful retry in the run history", 10*time.Second, func() bool {
				code, b := faultSend(t, "GET", p.URL()+"/api/runs?workflow=hello-upstream", "", nil, map[string]string{"Authorization": "Bearer faults-token"})
				var v struct {
					Runs []struct{ Status, Error string } `json:"runs"`
				}
				if code != 200 || json.Unmarshal([]byte(b), &v) != nil {
					return false
				}
				runs = v.Runs
				for _, r := range runs {
					if r.Status == "success" {
						return true
					}
				}
				return false
			})
			failed, succeeded := 0, 0
			for _, r := range runs {
				switch r.Status {
				case "success":
					succeeded++
				case "failed", "crashed":
					failed++
					if !strings.Contains(r.Error, tc.message) {
						t.Errorf("failed run's error %q does not say %q", r.Error, tc.message)
					}
				}
			}
			if succeeded != 1 || failed < 1 {
				t.Fatalf("run history: %d succeeded, %d failed (%+v); want 1 success after ≥1 failure", succeeded, failed, runs)
			}
			if up.count() != 1 || up.got[0]["name"] != "Tim" {
				t.Fatalf("upstream holds %v, want the one message once", up.got)
			}
			if readyStatus(p) != http.StatusOK {
				t.Fatal("not ready at the end")
			}
		})
	}
}

// echo is an upstream that fails with 500 and echoes what it was sent (the
// Authorization header and the body) in its error, as careless APIs do.
type faultEcho struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []string // Authorization + body of every request
}

func newFaultEcho(t *testing.T) *faultEcho {
	e := &faultEcho{}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		auth := r.Header.Get("Authorization")
		e.mu.Lock()
		e.seen = append(e.seen, auth+"\n"+r.URL.RawQuery+"\n"+string(body))
		e.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Echo-Authorization", auth)
		w.WriteHeader(http.StatusInternalServerError)
		json.NewEncoder(w).Encode(map[string]any{"error": "login service crashed", "authorization": auth, "received": string(body), "query": r.URL.RawQuery})
	}))
	t.Cleanup(e.srv.Close)
	return e
}

// TestSecretsNeverLeak: a job that logs its credential and sends it to an
// upstream that echoes it back in a 500; the password and base64(user:pass)
// appear nowhere an operator or OpenHIM can read: process logs at debug
// level, the client's answer (direct and routed), core's transactions and
// everything the mediator sent to core's API, the run history, and
// `jobmediator run` output for a job that throws the password.
func TestSecretsNeverLeak(t *testing.T) {
	for _, tc := range []struct{ name, password string }{
		{"plain password", "Pa55-w0rd-never-leak"},
		// Go's JSON escapes < > & (\u003c …): the secret must not get out
		// in an escaped form either.
		{"password with < > &", `p&ss<w0rd>-leak x`},
		// JSON escapes " and \: a log line or an upstream's error that
		// carries JSON text holds the escaped form (and twice escaped when
		// that text sits in a JSON string again).
		{`password with " and \`, `pass"w0rd\leak`},
		// URL-encoded differently by encodeURIComponent (%20, ~ kept), form
		// encoding (+) and Go (%7E), and base64'd by the job.
		{"password with # + space ~ '", `p#ss w0rd+leak~'s`},
	} {
		t.Run(tc.name, func(t *testing.T) { secretsNeverLeak(t, tc.password) })
	}
}

// escapedForms is s raw, inside a JSON string (as Go writes it, and as
// JavaScript's JSON.stringify does: no HTML escapes), inside a JSON string
// that was itself put in a JSON string, and query-escaped.
func escapedForms(s string) []string {
	jsonStr := func(s string) string { b, _ := json.Marshal(s); return string(b[1 : len(b)-1]) }
	js := jsEscape(s)
	uri := uriComponent(s)
	form := strings.ReplaceAll(uri, "%20", "+")
	forms := []string{s}
	for _, f := range []string{jsonStr(s), js, jsonStr(js), url.QueryEscape(s), uri, form, strings.ToLower(uri),
		b64(s), b64("x" + s + "y")[4:12], b64("xy" + s)[4:12], b64("xyz" + s)[4:12]} {
		if !slices.Contains(forms, f) {
			forms = append(forms, f)
		}
	}
	return forms
}

// uriComponent is JavaScript's encodeURIComponent: it keeps A-Z a-z 0-9
// - _ . ! ~ * ' ( ) and writes a space as %20.
func uriComponent(s string) string {
	return strings.NewReplacer("+", "%20", "%21", "!", "%7E", "~", "%2A", "*", "%27", "'", "%28", "(", "%29", ")").Replace(url.QueryEscape(s))
}

// jsEscape is s inside a string as JSON.stringify writes it (printable
// characters only).
func jsEscape(s string) string { return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) }

func secretsNeverLeak(t *testing.T, password string) {
	basic := b64("demo:" + password)
	secrets := append(escapedForms(password), basic)
	leaks := func(where, s string) {
		t.Helper()
		for _, sec := range secrets {
			if strings.Contains(s, sec) {
				t.Errorf("secret %q in %s:\n%.2000s", sec, where, s)
			}
		}
	}
	yamlPassword, _ := json.Marshal(password) // a JSON string is a YAML scalar
	up := newFaultEcho(t)
	creds := "upstream:\n  baseUrl: " + up.srv.URL + "\n  username: demo\n  password: " + string(yamlPassword) + "\n"
	job := `fn(state => { console.log('signing in as ' + state.configuration.username + ':' + state.configuration.password); return state; });
fn(state => { const pw = state.configuration.password;
  console.log('encoded ' + encodeURIComponent(pw) + ' form ' + encodeURIComponent(pw).replace(/%20/g, '+') +
    ' b64 ' + Buffer.from(pw).toString('base64') + ' ' + Buffer.from('x' + pw + 'y').toString('base64') + ' ' +
    Buffer.from('xy' + pw).toString('base64') + ' ' + Buffer.from('xyz' + pw).toString('base64'));
  return state; });
post(state => '/login?pw=' + encodeURIComponent(state.configuration.password), state => ({ username: state.configuration.username, password: state.configuration.password, record: state.data }));`
	dir := faultFiles(t, map[string]string{
		"project.yaml":     faultProject("@openfn/language-http@7", job, ""),
		"jobmediator.yaml": "workflows:\n  faulty:\n    path: /leak\n    retry: {max_attempts: 0}\n",
		"credentials.yaml": creds,
	})

	t.Run("serve", func(t *testing.T) {
		core := openhim.New(openhim.Options{DisablePolling: true})
		if err := core.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(core.Close)
		core.AddClient(openhim.Client{ClientID: clientID, Name: "e2e", Password: clientPass, Roles: []string{"jobmediator"}})
		p := start(t, map[string]string{
			"JM_PROJECT":         filepath.Join(dir, "project.yaml"),
			"JM_OPTIONS":         filepath.Join(dir, "jobmediator.yaml"),
			"JM_CREDENTIALS":     filepath.Join(dir, "credentials.yaml"),
			"JM_API_TOKEN":       "faults-token",
			"OPENHIM_URL":        core.APIURL(),
			"OPENHIM_USERNAME":   openhim.RootEmail,
			"OPENHIM_PASSWORD":   openhim.RootPassword,
			"MEDIATOR_HOST":      "127.0.0.1",
			"HEARTBEAT_INTERVAL": "1s",
		})
		waitFor(t, "registration and the /leak channel", 20*time.Second, func() bool {
			return readyStatus(p) == http.StatusOK && channelNamed(core, "faulty") != ""
		})

		status, direct := faultSend(t, "POST", p.URL()+"/leak", "application/json", faultText(`{"name":"Ana"}`)(), nil)
		if status != http.StatusBadGateway {
			t.Fatalf("direct call: %d %s, want 502 (upstream 500)", status, direct)
		}
		leaks("the direct answer", direct)
		resp, routed := route(t, core, "/leak", `{"name":"Ben"}`)
		if resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("routed call: %d %s, want 502", resp.StatusCode, routed)
		}
		leaks("the routed answer", routed)

		// Positive controls: the secrets really went out and came back, so
		// their absence below is the redactor's doing.
		up.mu.Lock()
		seen := strings.Join(up.seen, "\n")
		up.mu.Unlock()
		if len(up.seen) != 2 || !strings.Contains(seen, jsEscape(password)) || !strings.Contains(seen, "Basic "+basic) ||
			!strings.Contains(seen, "pw="+uriComponent(password)) {
			t.Fatalf("the echo upstream did not get the credential twice: %q", seen)
		}
		tx := lastTransaction(t, core)
		if tx.Status != "Failed" || len(tx.Orchestrations) < 1 {
			t.Fatalf("transaction %s with %d orchestrations", tx.Status, len(tx.Orchestrations))
		}
		orch, _ := json.Marshal(tx.Orchestrations[0])
		if !strings.Contains(string(orch), "login service crashed") || !strings.Contains(string(orch), "***") {
			t.Fatalf("the orchestration lacks the (masked) echo: %s", orch)
		}
		whole, _ := json.Marshal(core.Transactions())
		leaks("OpenHIM transactions", string(whole))
		var api strings.Builder
		for _, r := range core.Requests() {
			fmt.Fprintf(&api, "%s %s %v %s\n", r.Method, r.Path, r.Header, r.Body)
		}
		leaks("requests to OpenHIM's API", api.String())
		med, _ := core.Mediator("urn:mediator:jobmediator")
		mb, _ := json.Marshal(med)
		leaks("the mediator document in OpenHIM", string(mb))

		get := func(path string) string {
			code, b := faultSend(t, "GET", p.URL()+path, "", nil, map[string]string{"Authorization": "Bearer faults-token"})
			if code != 200 {
				t.Fatalf("GET %s: %d %s", path, code, b)
			}
			return b
		}
		list := get("/api/runs?workflow=faulty")
		leaks("GET /api/runs", list)
		var runs struct {
			Runs []struct{ ID, Status string } `json:"runs"`
		}
		json.Unmarshal([]byte(list), &runs)
		if len(runs.Runs) != 2 {
			t.Fatalf("want the two failed runs in the history, got %s", list)
		}
		for _, r := range runs.Runs {
			one := get("/api/runs/" + r.ID)
			leaks("GET /api/runs/"+r.ID, one)
			if !strings.Contains(one, "signing in as demo:***") {
				t.Errorf("run %s: the job's log line is missing or not masked: %.1500s", r.ID, one)
			}
		}
		if err := p.stop(t); err != nil {
			t.Fatal(err)
		}
		logs := p.Logs()
		if !strings.Contains(logs, "signing in as demo:***") || !strings.Contains(logs, `"level":"debug"`) {
			t.Fatalf("want debug logs with the job's masked log line:\n%s", logs)
		}
		leaks("the process logs", logs)
	})

	t.Run("run", func(t *testing.T) {
		state := faultFiles(t, map[string]string{
			"state.json": `{"configuration": {"username": "demo", "password": ` + string(yamlPassword) + `}, "data": {}}`,
			"job.js": `fn(state => { console.log('config', JSON.stringify(state.configuration)); return state; });
fn(state => { throw new Error('login refused for ' + state.configuration.username + ' with ' + state.configuration.password); });`,
		})
		for _, c := range []struct {
			name string
			args []string
			want []string
		}{
			{"a job that throws its password", []string{"run", filepath.Join(state, "job.js"), "-s", filepath.Join(state, "state.json")},
				[]string{"login refused for demo with ***", `config {"username":"demo","password":"***"}`}},
			{"a project whose upstream echoes it", []string{"run", filepath.Join(dir, "project.yaml"), "--credentials", filepath.Join(dir, "credentials.yaml")},
				[]string{"signing in as demo:***", "500"}},
		} {
			code, out, errOut := faultCLI(t, nil, c.args...)
			if code != 1 {
				t.Errorf("%s: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", c.name, code, out, errOut)
			}
			for _, w := range c.want {
				if !strings.Contains(out+errOut, w) {
					t.Errorf("%s: output lacks %q\nstdout:\n%s\nstderr:\n%s", c.name, w, out, errOut)
				}
			}
			leaks(c.name+": stdout", out)
			leaks(c.name+": stderr", errOut)
		}
	})
}
