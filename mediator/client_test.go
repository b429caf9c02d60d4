package mediator

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// captureLogger records every log line (debug included) as text.
func captureLogger() (*logrus.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	l := logrus.New()
	l.SetOutput(&buf)
	l.SetLevel(logrus.DebugLevel)
	l.SetFormatter(&logrus.TextFormatter{DisableColors: true, DisableTimestamp: true})
	return l, &buf
}

func newTestClient(t *testing.T, url string, mutate func(*ClientOptions)) (*Client, *bytes.Buffer) {
	t.Helper()
	l, buf := captureLogger()
	o := ClientOptions{APIURL: url, Username: rootEmail, Password: rootPassword, Logger: l, Timeout: 5 * time.Second}
	if mutate != nil {
		mutate(&o)
	}
	c, err := NewClient(o)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c, buf
}

// readVector parses testdata's token-auth-test-vector.txt ("name = value").
func readVector(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../testdata/shared/openhim/token-auth-test-vector.txt")
	if err != nil {
		t.Fatalf("test vector missing (it ships in testdata/shared): %v", err)
	}
	out := map[string]string{}
	var last string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		v = strings.TrimSpace(v)
		if i := strings.Index(v, "   ("); i > 0 {
			v = strings.TrimSpace(v[:i])
		}
		if k == "" { // continuation line: the computed value of the previous key
			out[last+" value"] = v
			continue
		}
		out[k] = v
		last = k
	}
	return out
}

func TestTokenMatchesTestVector(t *testing.T) {
	v := readVector(t)
	hash := PasswordHash(v["passport.salt"], v["user.password"])
	if hash != v["passwordHash value"] {
		t.Fatalf("password hash = %s, want %s", hash, v["passwordHash value"])
	}
	ts, err := time.Parse(time.RFC3339, v["auth-ts"])
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ salt, want string }{
		{v["auth-salt (A)"], v["auth-token (A) value"]},
		{v["auth-salt (B)"], v["auth-token (B)"]}, // on one line in the file
	} {
		h := TokenHeaders(v["user.email"], hash, tc.salt, ts)
		if h["auth-ts"] != "2024-01-01T00:00:00.000Z" {
			t.Errorf("auth-ts = %q, want ISO UTC with ms and Z", h["auth-ts"])
		}
		if h["auth-token"] != tc.want {
			t.Errorf("salt %s: token = %s, want %s", tc.salt, h["auth-token"], tc.want)
		}
		if h["auth-username"] != rootEmail || h["auth-salt"] != tc.salt {
			t.Errorf("headers = %v", h)
		}
	}
	// A non-UTC clock must still produce the Z form.
	h := TokenHeaders(rootEmail, hash, "s", ts.In(time.FixedZone("SAST", 2*3600)))
	if h["auth-ts"] != "2024-01-01T00:00:00.000Z" {
		t.Errorf("auth-ts in another zone = %q", h["auth-ts"])
	}
}

func TestBasicHeaderMatchesTestVector(t *testing.T) {
	core := newFakeCore(t)
	srv := core.start()
	c, _ := newTestClient(t, srv.URL, nil)
	if _, err := c.About(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := core.requests()[0].Header.Get("Authorization")
	if got != "Basic cm9vdEBvcGVuaGltLm9yZzpvcGVuaGltLXBhc3N3b3Jk" {
		t.Fatalf("Authorization = %q", got)
	}
}

// schemesOf says which auth schemes a request carried.
func schemesOf(r recordedReq) []string {
	var s []string
	if r.Header.Get("Authorization") != "" {
		s = append(s, "basic")
	}
	for k := range r.Header {
		if strings.HasPrefix(strings.ToLower(k), "auth-") {
			s = append(s, "token")
			break
		}
	}
	return s
}

func TestAuthModes(t *testing.T) {
	tests := []struct {
		name        string
		mode        string
		basic       bool
		token       bool
		wantErr     error
		wantSchemes []string // per request path sequence, "-" for unauthenticated
		wantActive  string
	}{
		{"auto uses basic and never asks /authenticate", AuthAuto, true, true, nil,
			[]string{"GET /about basic", "GET /about basic"}, AuthBasic},
		{"auto falls back to token on 401 and caches it", AuthAuto, false, true, nil,
			[]string{"GET /about basic", "GET /authenticate/root@openhim.org -", "GET /about token", "GET /about token"}, AuthToken},
		{"auto with both refused reports 401", AuthAuto, false, false, ErrUnauthorized,
			[]string{"GET /about basic", "GET /authenticate/root@openhim.org -", "GET /about basic", "GET /authenticate/root@openhim.org -"}, AuthBasic},
		{"basic only does not try token", AuthBasic, false, true, ErrUnauthorized,
			[]string{"GET /about basic", "GET /about basic"}, AuthBasic},
		{"token only", AuthToken, false, true, nil,
			[]string{"GET /authenticate/root@openhim.org -", "GET /about token", "GET /about token"}, AuthToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			core := newFakeCore(t)
			core.basicEnabled, core.tokenEnabled = tc.basic, tc.token
			srv := core.start()
			c, logs := newTestClient(t, srv.URL, func(o *ClientOptions) { o.AuthMode = tc.mode })
			for i := 0; i < 2; i++ {
				a, err := c.About(context.Background())
				if tc.wantErr != nil {
					if !errors.Is(err, tc.wantErr) {
						t.Fatalf("call %d: err = %v, want %v", i, err, tc.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				if a.CurrentCoreVersion != "8.5.0" || a.ServerTimezone != "Africa/Johannesburg" {
					t.Fatalf("about = %+v", a)
				}
			}
			var got []string
			for _, r := range core.requests() {
				s := schemesOf(r)
				if len(s) > 1 {
					t.Fatalf("request %s %s carried both schemes", r.Method, r.Path)
				}
				label := "-"
				if len(s) == 1 {
					label = s[0]
				}
				got = append(got, r.Method+" "+r.Path+" "+label)
			}
			if strings.Join(got, "\n") != strings.Join(tc.wantSchemes, "\n") {
				t.Fatalf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.wantSchemes, "\n"))
			}
			if c.AuthScheme() != tc.wantActive {
				t.Errorf("active scheme = %s, want %s", c.AuthScheme(), tc.wantActive)
			}
			assertNoSecrets(t, logs.String())
		})
	}
}

func TestTokenFreshPerRequest(t *testing.T) {
	core := newFakeCore(t)
	core.basicEnabled = false
	srv := core.start()
	c, _ := newTestClient(t, srv.URL, func(o *ClientOptions) { o.AuthMode = AuthToken })
	for i := 0; i < 3; i++ {
		if _, err := c.About(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	salts := map[string]bool{}
	for _, r := range core.requests() {
		if r.Path != "/about" {
			continue
		}
		ts := r.Header.Get("auth-ts")
		if !strings.HasSuffix(ts, "Z") || len(ts) != len("2024-01-01T00:00:00.000Z") {
			t.Errorf("auth-ts %q is not ISO UTC with ms", ts)
		}
		salts[r.Header.Get("auth-salt")] = true
	}
	if len(salts) != 3 {
		t.Errorf("auth-salt reused: %v", salts)
	}
	if n := core.count("GET", "/authenticate/root@openhim.org"); n != 1 {
		t.Errorf("salt fetched %d times, want once", n)
	}
}

func TestTokenCorrectsClockSkew(t *testing.T) {
	core := newFakeCore(t)
	core.basicEnabled = false
	core.clockOffset = time.Minute // core's clock is a minute ahead of ours
	srv := core.start()
	c, _ := newTestClient(t, srv.URL, func(o *ClientOptions) { o.AuthMode = AuthToken })
	if _, err := c.About(context.Background()); err != nil {
		t.Fatalf("token auth with a skewed clock: %v", err)
	}
}

func TestTokenRefetchesSaltOnce(t *testing.T) {
	core := newFakeCore(t)
	core.basicEnabled = false
	srv := core.start()
	c, _ := newTestClient(t, srv.URL, func(o *ClientOptions) { o.AuthMode = AuthToken })
	if _, err := c.About(context.Background()); err != nil {
		t.Fatal(err)
	}
	core.mu.Lock()
	core.salt = "new-salt-after-password-reset" // same password, new salt
	core.mu.Unlock()
	if _, err := c.About(context.Background()); err != nil {
		t.Fatalf("after salt change: %v", err)
	}
	if n := core.count("GET", "/authenticate/root@openhim.org"); n != 2 {
		t.Errorf("/authenticate called %d times, want 2", n)
	}
}

func TestForbiddenIsNotAnAuthFailure(t *testing.T) {
	core := newFakeCore(t)
	core.forbidden = true
	srv := core.start()
	c, logs := newTestClient(t, srv.URL, nil)
	err := c.Register(context.Background(), validRegistration())
	if !errors.Is(err, ErrForbidden) || errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrForbidden", err)
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 403 || !strings.Contains(ae.Body, "not an admin") {
		t.Fatalf("APIError = %+v", ae)
	}
	msg := err.Error()
	if !strings.Contains(msg, "authenticated, but user root@openhim.org is not permitted") || strings.Contains(msg, "credentials") {
		t.Errorf("403 message = %q", msg)
	}
	if got := len(core.requests()); got != 1 {
		t.Errorf("403 led to %d requests, want 1 (no token retry)", got)
	}
	assertNoSecrets(t, msg+logs.String())
}

func TestUnauthorizedMessage(t *testing.T) {
	core := newFakeCore(t)
	srv := core.start()
	const wrong = "Wr0ng-Secret-Pass"
	c, logs := newTestClient(t, srv.URL, func(o *ClientOptions) { o.Password = wrong })
	_, err := c.About(context.Background())
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "credentials or auth scheme not accepted") {
		t.Errorf("401 message = %q", err)
	}
	all := err.Error() + logs.String()
	for _, s := range []string{wrong, base64.StdEncoding.EncodeToString([]byte(rootEmail + ":" + wrong)), PasswordHash(rootSalt, wrong)} {
		if strings.Contains(all, s) {
			t.Fatalf("secret %q leaked into %q", s, all)
		}
	}
}

// assertNoSecrets fails if the root password or anything derived from it
// appears in s.
func assertNoSecrets(t *testing.T, s string) {
	t.Helper()
	for _, secret := range []string{rootPassword, base64.StdEncoding.EncodeToString([]byte(rootEmail + ":" + rootPassword)),
		PasswordHash(rootSalt, rootPassword)} {
		if strings.Contains(s, secret) {
			t.Fatalf("secret %q leaked into:\n%s", secret, s)
		}
	}
}

func TestSecretsNeverInErrorsOrLogs(t *testing.T) {
	// Core echoes the password in an error body (a misbehaving proxy, say):
	// the client must not pass it on.
	core := newFakeCore(t)
	srv := core.start()
	c, logs := newTestClient(t, srv.URL, nil)
	err := c.UpdateTransaction(context.Background(), "000000000000000000000000", TransactionUpdate{Status: "Failed"})
	if err == nil {
		t.Fatal("expected 500")
	}
	// Transport failure with the password in the URL's user info.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	c2, logs2 := newTestClient(t, "http://"+rootEmail+":"+rootPassword+"@"+addr, func(o *ClientOptions) { o.Username, o.Password = "", "" })
	_, err2 := c2.About(context.Background())
	if err2 == nil {
		t.Fatal("expected connection refused")
	}
	var te *TransportError
	if !errors.As(err2, &te) {
		t.Fatalf("err = %T %v, want TransportError", err2, err2)
	}
	assertNoSecrets(t, err.Error()+err2.Error()+logs.String()+logs2.String()+c2.URL())
}

func TestErrorBodyRedacted(t *testing.T) {
	c, _ := newTestClient(t, "http://127.0.0.1:1", nil)
	e := c.apiError("op", 500, []byte("boom: password was "+rootPassword))
	if strings.Contains(e.Error(), rootPassword) || !strings.Contains(e.Body, "boom") {
		t.Fatalf("error = %q", e.Error())
	}
}

func TestNewClientRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		o    ClientOptions
		want string
	}{
		{"no url", ClientOptions{Username: "u", Password: "p"}, "API URL is required"},
		{"bad scheme", ClientOptions{APIURL: "ftp://core", Username: "u", Password: "p"}, "scheme must be http or https"},
		{"no host", ClientOptions{APIURL: "https://", Username: "u", Password: "p"}, "no host"},
		{"query", ClientOptions{APIURL: "https://core:8080/?x=1", Username: "u", Password: "p"}, "query"},
		{"no user", ClientOptions{APIURL: "https://core:8080", Password: "p"}, "username is required"},
		{"no password", ClientOptions{APIURL: "https://core:8080", Username: "u"}, "password is required"},
		{"bad mode", ClientOptions{APIURL: "https://core:8080", Username: "u", Password: "p", AuthMode: "cookie"}, "auth mode"},
		{"negative timeout", ClientOptions{APIURL: "https://core:8080", Username: "u", Password: "p", Timeout: -1}, "timeout"},
		{"bad tls mode", ClientOptions{APIURL: "https://core:8080", Username: "u", Password: "p", TLS: "maybe"}, "unknown TLS mode"},
		{"missing CA file", ClientOptions{APIURL: "https://core:8080", Username: "u", Password: "p", CAFile: "/nonexistent/ca.pem"}, "reading CA file"},
		{"pinned without anchor", ClientOptions{APIURL: "https://core:8080", Username: "u", Password: "p", TLS: TLSPinned}, "needs a CA file or a certificate pin"},
		{"bad pin", ClientOptions{APIURL: "https://core:8080", Username: "u", Password: "p", TLS: TLSPinned, PinSHA256: "abc"}, "TLS pin"},
		{"pin without pinned", ClientOptions{APIURL: "https://core:8080", Username: "u", Password: "p", PinSHA256: strings.Repeat("ab", 32)}, "needs TLS mode pinned"},
		{"password in a bad url", ClientOptions{APIURL: "http://u:" + rootPassword + "@core:80:80", Username: "u", Password: "p"}, "not a valid URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewClient(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
			assertNoSecrets(t, err.Error())
		})
	}
}

func TestAPIURLPrefixAndUserInfo(t *testing.T) {
	core := newFakeCore(t)
	srv := core.start()
	// A path prefix is kept; user info becomes the credentials.
	u := strings.Replace(srv.URL, "http://", "http://"+strings.Replace(rootEmail, "@", "%40", 1)+":"+rootPassword+"@", 1)
	c, err := NewClient(ClientOptions{APIURL: u + "/"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(c.URL(), rootPassword) {
		t.Fatalf("URL() leaks the password: %s", c.URL())
	}
	if _, err := c.About(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p := core.requests()[0].Path; p != "/about" {
		t.Errorf("path = %s", p)
	}
}

func TestRegister(t *testing.T) {
	t.Run("201 with a stray body is success", func(t *testing.T) {
		core := newFakeCore(t)
		srv := core.start()
		c, _ := newTestClient(t, srv.URL, nil)
		if err := c.Register(context.Background(), validRegistration()); err != nil {
			t.Fatal(err)
		}
		r := core.requests()[0]
		if r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("content type = %q (core needs application/json)", r.Header.Get("Content-Type"))
		}
		var sent map[string]any
		if err := json.Unmarshal([]byte(r.Body), &sent); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"urn", "version", "name", "endpoints"} {
			if sent[k] == nil {
				t.Errorf("sent registration lacks %s", k)
			}
		}
		for _, k := range []string{"_uptime", "_lastHeartbeat", "_configModifiedTS", "Revision", "Params"} {
			if _, ok := sent[k]; ok {
				t.Errorf("sent registration has internal field %s", k)
			}
		}
	})
	t.Run("400 from core is an APIError with core's text", func(t *testing.T) {
		core := newFakeCore(t)
		srv := core.start()
		c, _ := newTestClient(t, srv.URL, nil)
		// Validate would catch a missing name; send through the raw path.
		status, body, err := c.do(context.Background(), "register", "POST", "/mediators", []byte(`{"urn":"u","version":"1.0.0"}`))
		if err != nil || status != 400 {
			t.Fatalf("status %d err %v", status, err)
		}
		e := c.apiError("register", status, body)
		if !strings.Contains(e.Error(), "HTTP 400") || !strings.Contains(e.Error(), "name: Path `name` is required") {
			t.Errorf("error = %q", e.Error())
		}
	})
	t.Run("invalid document is refused before sending", func(t *testing.T) {
		core := newFakeCore(t)
		srv := core.start()
		c, _ := newTestClient(t, srv.URL, nil)
		reg := validRegistration()
		reg.Version = "0.8"
		err := c.Register(context.Background(), reg)
		if err == nil || !strings.Contains(err.Error(), `version "0.8" is not semver`) {
			t.Fatalf("err = %v", err)
		}
		if len(core.requests()) != 0 {
			t.Error("an invalid registration was sent")
		}
	})
}

func TestHeartbeatBodies(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantOK  bool
		wantCfg map[string]any
	}{
		{"empty", "", false, nil},
		{"OK text", "OK", false, nil},
		{"stray basic text", "User Authenticated Successfully", false, nil},
		{"config json", `{"upstreamUrl":"http://upstream:8080/fhir","enabled":false,"batchSize":250}`, true,
			map[string]any{"upstreamUrl": "http://upstream:8080/fhir", "enabled": false, "batchSize": 250.0}},
		{"empty object is a config", `{}`, true, map[string]any{}},
		{"json array is not", `[1,2]`, false, nil},
		{"json string is not", `"x"`, false, nil},
		{"broken json is not", `{"a":`, false, nil},
		{"bom and whitespace", "\xef\xbb\xbf {\"a\":\"b\"}\n", true, map[string]any{"a": "b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			core := newFakeCore(t)
			core.registered["urn:test"] = validRegistration()
			core.hbBodies = []string{tc.body}
			srv := core.start()
			c, _ := newTestClient(t, srv.URL, nil)
			cfg, ok, err := c.Heartbeat(context.Background(), "urn:test", 1500*time.Millisecond, false)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tc.wantOK)
			}
			if tc.wantOK {
				gb, _ := json.Marshal(cfg)
				wb, _ := json.Marshal(tc.wantCfg)
				if !bytes.Equal(gb, wb) {
					t.Errorf("cfg = %s, want %s", gb, wb)
				}
			} else if cfg != nil {
				t.Errorf("cfg = %v, want nil", cfg)
			}
		})
	}
}

func TestHeartbeatRequest(t *testing.T) {
	core := newFakeCore(t)
	core.registered["urn:mediator:a b"] = validRegistration()
	srv := core.start()
	c, _ := newTestClient(t, srv.URL, nil)
	if _, _, err := c.Heartbeat(context.Background(), "urn:mediator:a b", 50250*time.Millisecond, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Heartbeat(context.Background(), "urn:mediator:a b", time.Second, true); err != nil {
		t.Fatal(err)
	}
	reqs := core.requests()
	if reqs[0].Path != "/mediators/urn:mediator:a%20b/heartbeat" {
		t.Errorf("path = %s (urn must be percent-encoded)", reqs[0].Path)
	}
	if reqs[0].Body != `{"uptime":50.25}` {
		t.Errorf("plain heartbeat body = %s", reqs[0].Body)
	}
	if reqs[1].Body != `{"uptime":1,"config":true}` {
		t.Errorf("forced heartbeat body = %s", reqs[1].Body)
	}
}

func TestHeartbeatErrors(t *testing.T) {
	core := newFakeCore(t)
	core.registered["urn:x"] = validRegistration()
	core.hbStatus = []int{404, 500}
	srv := core.start()
	c, _ := newTestClient(t, srv.URL, nil)
	_, _, err := c.Heartbeat(context.Background(), "urn:x", time.Second, false)
	if !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("404: err = %v, want ErrNotRegistered", err)
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 404 {
		t.Errorf("404 is not an APIError: %v", err)
	}
	_, _, err = c.Heartbeat(context.Background(), "urn:x", time.Second, false)
	if !errors.As(err, &ae) || ae.Status != 500 || errors.Is(err, ErrNotRegistered) {
		t.Errorf("500: err = %v", err)
	}
	if _, _, err := c.Heartbeat(context.Background(), "", time.Second, false); err == nil || !strings.Contains(err.Error(), "urn is required") {
		t.Errorf("empty urn: %v", err)
	}
}

func TestInstallChannels(t *testing.T) {
	core := newFakeCore(t)
	reg := BuildRegistration(testIdentity(), testChannels(), nil, nil)
	core.registered[reg.URN] = reg
	srv := core.start()
	c, _ := newTestClient(t, srv.URL, nil)
	ctx := context.Background()
	if err := c.InstallChannels(ctx, reg.URN, nil); err != nil {
		t.Fatalf("first install: %v", err)
	}
	if b := core.requests()[0].Body; b != "[]" {
		t.Errorf("body = %s, want [] (all defaults)", b)
	}
	err := c.InstallChannels(ctx, reg.URN, []string{reg.DefaultChannelConfig[0].Name})
	if !errors.Is(err, ErrChannelExists) {
		t.Fatalf("second install: %v, want ErrChannelExists", err)
	}
	if !strings.Contains(err.Error(), "already exists") {
		t.Errorf("message = %q", err)
	}
	err = c.InstallChannels(ctx, reg.URN, []string{"Something Wrong"})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 400 {
		t.Errorf("unknown name: %v", err)
	}
	if err := c.InstallChannels(ctx, "urn:unknown", nil); !errors.Is(err, ErrNotRegistered) {
		t.Errorf("unknown urn: %v", err)
	}
}

func TestTransactions(t *testing.T) {
	core := newFakeCore(t)
	srv := core.start()
	c, _ := newTestClient(t, srv.URL, nil)
	ctx := context.Background()
	id := NewObjectID()
	good := Transaction{ID: id, Status: "Successful", ChannelID: "6592a6c1f0e1b2a3c4d5e6aa",
		Request: TransactionRequest{Method: "GET", Path: "/pull", Timestamp: Timestamp(time.Now())}}
	if err := c.CreateTransaction(ctx, good); err != nil {
		t.Fatal(err)
	}
	upd := TransactionUpdate{Status: "Completed", Push: &TransactionPush{Orchestrations: PushEach{Each: []Orchestration{{Name: "async"}}}}}
	if err := c.UpdateTransaction(ctx, id, upd); err != nil {
		t.Fatal(err)
	}
	reqs := core.requests()
	if reqs[0].Method != "POST" || reqs[0].Path != "/transactions" || !strings.Contains(reqs[0].Body, id) {
		t.Errorf("create = %+v", reqs[0])
	}
	if reqs[1].Method != "PUT" || reqs[1].Path != "/transactions/"+id || !strings.Contains(reqs[1].Body, `"$push"`) {
		t.Errorf("update = %+v", reqs[1])
	}
	err := c.UpdateTransaction(ctx, "000000000000000000000000", TransactionUpdate{Status: "Failed"})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 500 {
		t.Errorf("unknown id: %v", err)
	}

	bad := []struct {
		name string
		tx   Transaction
		want string
	}{
		{"no id", Transaction{Status: "Successful", Request: TransactionRequest{Timestamp: "2024-01-01T00:00:00Z"}}, `"_id" is required`},
		{"bad id", Transaction{ID: "xyz", Status: "Successful", Request: TransactionRequest{Timestamp: "2024-01-01T00:00:00Z"}}, "24-hex"},
		{"bad status", Transaction{ID: id, Status: "Success", Request: TransactionRequest{Timestamp: "2024-01-01T00:00:00Z"}}, `"status" must be one of`},
		{"no request timestamp", Transaction{ID: id, Status: "Failed"}, `"request.timestamp" is required`},
	}
	before := len(core.requests())
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			err := c.CreateTransaction(ctx, tc.tx)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if err := c.UpdateTransaction(ctx, "nope", upd); err == nil || !strings.Contains(err.Error(), "ObjectId") {
		t.Errorf("bad id: %v", err)
	}
	if err := c.UpdateTransaction(ctx, id, TransactionUpdate{}); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty update: %v", err)
	}
	if err := c.UpdateTransaction(ctx, id, TransactionUpdate{Status: "Done"}); err == nil || !strings.Contains(err.Error(), "status") {
		t.Errorf("bad status: %v", err)
	}
	if n := len(core.requests()); n != before {
		t.Errorf("invalid transactions reached core (%d requests)", n-before)
	}
}

func TestAboutRejectsNonCoreAnswer(t *testing.T) {
	core := newFakeCore(t)
	srv := core.start()
	c, _ := newTestClient(t, srv.URL+"/nothing-here", nil)
	_, err := c.About(context.Background())
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 404 {
		t.Fatalf("err = %v", err)
	}
}

func TestRequestTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// Accept and never answer.
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
		}
	}()
	c, _ := newTestClient(t, "http://"+ln.Addr().String(), func(o *ClientOptions) { o.Timeout = 50 * time.Millisecond })
	_, err = c.About(context.Background())
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err = %v, want a timeout", err)
	}
}

func TestNewObjectID(t *testing.T) {
	seen := map[string]bool{}
	now := time.Now()
	for i := 0; i < 1000; i++ {
		id := NewObjectID()
		if !IsObjectID(id) || strings.ToLower(id) != id {
			t.Fatalf("%q is not a lower-case 24-hex id", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
	}
	id := newObjectID(time.Unix(0x6592a6c1, 0))
	if !strings.HasPrefix(id, "6592a6c1") {
		t.Errorf("id %s does not start with the timestamp", id)
	}
	a, b := newObjectID(now), newObjectID(now.Add(2*time.Second))
	if a >= b {
		t.Errorf("ids do not sort by time: %s >= %s", a, b)
	}
	for _, s := range []string{"", "123", "zz0000000000000000000000", "6592a6c1f0e1b2a3c4d5e7000"} {
		if IsObjectID(s) {
			t.Errorf("IsObjectID(%q) = true", s)
		}
	}
}
