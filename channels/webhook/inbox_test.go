package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/jobmediator/jobmediator/channels/internal/chantest"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/store"
	"github.com/jobmediator/jobmediator/workflow"
)

// Inbox secrets: each would be a disaster in a log line or run history.
var inboxCreds = map[string]map[string]any{
	"key-new": {"key": "ak-NEW-4f1d9c2b7e"},
	"key-old": {"key": "ak-OLD-0a8e3d5c1f"},
	"login":   {"username": "partner", "password": "pw-Partner-77q"},
	"signer":  {"secret": "hm-Signing-S3cret"},
	"signts":  {"secret": "hm-Timed-S3cret"},
}

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// inboxFixture serves /context with every inbox method, route auth for
// core, run history in a store and the log in a buffer.
func inboxFixture(t *testing.T, rl config.RateLimit) (*fixture, store.Store, *bytes.Buffer) {
	st := chantest.OpenStore(t, t.TempDir())
	t.Cleanup(func() { st.Close() })
	var logs bytes.Buffer
	log := logrus.New()
	log.SetOutput(&logs)
	log.SetLevel(logrus.TraceLevel)
	f := newFixture(t, func(o *testOptions) {
		o.RouteAuth = []config.RouteUser{{Username: "openhim", Password: "route-pw-core"}}
		o.Credential = func(name string) (map[string]any, bool) { c, ok := inboxCreds[name]; return c, ok }
		o.Logger = log
		o.Observer = &workflow.History{Store: st, Redactor: o.Redactor, Logger: log}
		o.Project = func(p *config.Project) {
			wf := p.Workflow("context")
			wf.Options.Inbox = []config.InboxMethod{
				{Type: "api_key", Credential: "key-new"}, {Type: "api_key", Credential: "key-old"},
				{Type: "basic", Credential: "login"},
				{Type: "hmac", Credential: "signer"},
				{Type: "hmac", Credential: "signts", TimestampHeader: "X-Timestamp", Tolerance: 5 * time.Minute},
			}
			wf.Options.RateLimit = rl
		}
	})
	return f, st, &logs
}

func TestInboxMethods(t *testing.T) {
	f, st, logs := inboxFixture(t, config.RateLimit{})
	body := `{"name":"x"}`
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	now := time.Now().Unix()
	ts := func(sec int64) (string, string) {
		s := strconv.FormatInt(sec, 10)
		return s, sign("hm-Timed-S3cret", []byte(s+"."+body))
	}
	freshTS, freshSig := ts(now)
	oldTS, oldSig := ts(now - 3600)
	cases := []struct {
		name    string
		headers map[string]string
		status  int
	}{
		{"nothing presented", nil, 401},
		{"api_key right (new)", map[string]string{"x-api-key": "ak-NEW-4f1d9c2b7e"}, 200},
		{"api_key right (old, rotating)", map[string]string{"x-api-key": "ak-OLD-0a8e3d5c1f"}, 200},
		{"api_key wrong", map[string]string{"x-api-key": "ak-guess"}, 404},
		{"basic right", map[string]string{"Authorization": basic("partner", "pw-Partner-77q")}, 200},
		{"basic wrong", map[string]string{"Authorization": basic("partner", "guess")}, 404},
		{"hmac right", map[string]string{"X-Signature-256": sign("hm-Signing-S3cret", []byte(body))}, 200},
		{"hmac wrong", map[string]string{"X-Signature-256": sign("nope", []byte(body))}, 404},
		{"hmac over another body", map[string]string{"X-Signature-256": sign("hm-Signing-S3cret", []byte(`{"name":"y"}`))}, 404},
		{"hmac with fresh timestamp", map[string]string{"X-Signature-256": freshSig, "X-Timestamp": freshTS}, 200},
		{"hmac replayed past tolerance", map[string]string{"X-Signature-256": oldSig, "X-Timestamp": oldTS}, 401},
		{"hmac timestamp moved forward", map[string]string{"X-Signature-256": oldSig, "X-Timestamp": freshTS}, 404},
		{"OpenHIM core by route auth", map[string]string{"Authorization": basic("openhim", "route-pw-core")}, 200},
		{"right key and a wrong one", map[string]string{"x-api-key": "ak-NEW-4f1d9c2b7e", "Authorization": basic("partner", "guess")}, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := f.do(call{path: "/context", contentType: "application/json", body: body, extra: c.headers})
			if w.Code != c.status {
				t.Fatalf("got %d %s, want %d", w.Code, w.Body, c.status)
			}
			switch c.status {
			case 200:
				var got seen
				if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
					t.Fatal(err)
				}
				for _, h := range []string{"authorization", "x-api-key", "x-signature-256"} {
					if _, in := got.Request.Headers[h]; in {
						t.Errorf("%s reached state.request", h)
					}
				}
			case 404:
				if strings.Contains(w.Body.String(), "auth") {
					t.Errorf("404 gives away that auth failed: %s", w.Body)
				}
			case 401:
				if w.Header().Get("WWW-Authenticate") == "" {
					t.Error("401 without a challenge")
				}
			}
		})
	}

	// Nothing of any inbox secret in the answers' history or the log, in
	// any encoding.
	runs, err := st.ListRuns(context.Background(), store.RunFilter{Limit: 100})
	if err != nil || len(runs) < 6 {
		t.Fatalf("history: %d runs, %v", len(runs), err)
	}
	var hist bytes.Buffer
	for _, r := range runs {
		full, _ := st.GetRun(context.Background(), r.ID)
		b, _ := json.Marshal(full)
		hist.Write(b)
	}
	for where, text := range map[string]string{"run history": hist.String(), "log": logs.String()} {
		for _, c := range inboxCreds {
			for _, v := range c {
				s := fmt.Sprint(v)
				if s == "partner" {
					continue // a user name is not a secret
				}
				for _, enc := range []string{s, url.QueryEscape(s), base64.StdEncoding.EncodeToString([]byte(s)), base64.StdEncoding.EncodeToString([]byte("partner:" + s))} {
					if strings.Contains(text, enc) {
						t.Errorf("%s holds an inbox secret (%q)", where, enc)
					}
				}
			}
		}
		if strings.Contains(text, "route-pw-core") {
			t.Errorf("%s holds the route password", where)
		}
	}
}

// Each client has its own bucket; over it, 429 with Retry-After. Core is
// never limited.
func TestInboxRateLimit(t *testing.T) {
	f, _, _ := inboxFixture(t, config.RateLimit{Requests: 2, Per: time.Hour})
	send := func(h map[string]string) *http.Response {
		w := f.do(call{path: "/context", contentType: "application/json", body: `{}`, extra: h})
		return w.Result()
	}
	newKey := map[string]string{"x-api-key": "ak-NEW-4f1d9c2b7e"}
	oldKey := map[string]string{"x-api-key": "ak-OLD-0a8e3d5c1f"}
	core := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("openhim:route-pw-core"))}
	for i := 0; i < 2; i++ {
		if r := send(newKey); r.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, r.StatusCode)
		}
	}
	r := send(newKey)
	if r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third request: %d", r.StatusCode)
	}
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 1800 {
		t.Errorf("Retry-After = %q", r.Header.Get("Retry-After"))
	}
	if r := send(oldKey); r.StatusCode != 200 {
		t.Errorf("another client was limited: %d", r.StatusCode)
	}
	for i := 0; i < 5; i++ {
		if r := send(core); r.StatusCode != 200 {
			t.Fatalf("core limited: %d", r.StatusCode)
		}
	}
}
