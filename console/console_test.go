package console

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/store"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// ops records run-now requests and writes a run, as the daemon's channels do.
type ops struct {
	st    store.Store
	mu    sync.Mutex
	calls []string
}

func (o *ops) RunNow(ctx context.Context, wf string, state json.RawMessage) (RunOutcome, error) {
	o.mu.Lock()
	o.calls = append(o.calls, wf+" "+string(state))
	o.mu.Unlock()
	r := &store.Run{Workflow: wf, Trigger: "manual", Status: store.RunSuccess, Input: state, Started: time.Now(), Finished: time.Now()}
	if err := o.st.CreateRun(ctx, r); err != nil {
		return RunOutcome{}, err
	}
	return RunOutcome{RunID: r.ID, Status: "success"}, nil
}

const testToken = "automation-token-123"

type fixture struct {
	t     *testing.T
	c     *Console
	st    store.Store
	srv   *httptest.Server
	clock *clock
	ops   *ops
	out   *bytes.Buffer
	red   *redact.Redactor
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p, err := config.LoadProject("../examples/hello-upstream")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, st: st, clock: &clock{t: time.Now().UTC()}, ops: &ops{st: st}, out: &bytes.Buffer{}, red: redact.New()}
	f.c, err = New(Options{Store: st, Project: p, Ops: f.ops, Redactor: f.red, APITokens: []string{testToken},
		AdminPassword: "admin-password-1", BcryptCost: bcrypt.MinCost, Now: f.clock.Now, FirstRunOut: f.out,
		LoginFailures: 3, LoginWindow: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(f.c.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	f    *fixture
	c    *http.Client
	csrf string
}

func (f *fixture) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{f: f, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (f *fixture) addUser(name string, role store.Role) {
	f.t.Helper()
	hash, _ := HashPassword(name+"-password", bcrypt.MinCost)
	if err := f.st.CreateUser(context.Background(), &store.User{Username: name, PasswordHash: hash, Role: role}); err != nil {
		f.t.Fatal(err)
	}
}

func (b *browser) login(user, pw string) *http.Response {
	b.f.t.Helper()
	resp, err := b.c.PostForm(b.f.srv.URL+"/console/login", url.Values{"username": {user}, "password": {pw}})
	if err != nil {
		b.f.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusSeeOther {
		b.get("/console/") // picks up the CSRF token
	}
	return resp
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]*)">`)

func (b *browser) get(path string) (int, string) {
	b.f.t.Helper()
	resp, err := b.c.Get(b.f.srv.URL + path)
	if err != nil {
		b.f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if m := csrfMeta.FindSubmatch(body); m != nil && len(m[1]) > 0 {
		b.csrf = string(m[1])
	}
	return resp.StatusCode, string(body)
}

func (b *browser) post(path string, form url.Values, withToken bool) (int, string) {
	b.f.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if withToken {
		form.Set("csrf_token", b.csrf)
	}
	resp, err := b.c.PostForm(b.f.srv.URL+path, form)
	if err != nil {
		b.f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body) + " " + resp.Header.Get("Location")
}

func (b *browser) api(method, path, body string, hdr map[string]string) (int, string) {
	b.f.t.Helper()
	req, _ := http.NewRequest(method, b.f.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.f.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

func TestLoginContract(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	code, page := b.get("/console/login")
	if code != 200 || !strings.Contains(page, `name="username"`) || !strings.Contains(page, `name="password"`) || !strings.Contains(page, `<form method="post" action="/console/login"`) {
		t.Fatalf("login page %d:\n%s", code, page)
	}
	// Not logged in: pages send you to the login, with the way back.
	resp, err := b.c.Get(f.srv.URL + "/console/runs?status=failed")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 303 || !strings.HasPrefix(resp.Header.Get("Location"), "/console/login?next=") {
		t.Fatalf("anonymous page: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp = b.login("admin", "admin-password-1")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login = %d", resp.StatusCode)
	}
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == SessionCookie {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Secure || ck.Expires.IsZero() {
		t.Fatalf("session cookie = %+v", ck)
	}
	for _, p := range []string{"/console/", "/console/runs", "/console/workflows", "/console/workflows/hello-upstream", "/console/dead", "/console/audit", "/console/users", "/console/settings"} {
		code, page := b.get(p)
		if code != 200 {
			t.Fatalf("%s = %d\n%s", p, code, page)
		}
		if m := csrfMeta.FindStringSubmatch(page); m == nil || len(m[1]) < 20 {
			t.Fatalf("%s has no csrf-token meta", p)
		}
	}
	// Logout ends the session server-side: the old cookie is worthless.
	if code, _ := b.post("/console/logout", nil, true); code != 303 {
		t.Fatalf("logout = %d", code)
	}
	req, _ := http.NewRequest("GET", f.srv.URL+"/api/me", nil)
	req.AddCookie(&http.Cookie{Name: SessionCookie, Value: ck.Value})
	r2, _ := http.DefaultClient.Do(req)
	r2.Body.Close()
	if r2.StatusCode != 401 {
		t.Fatalf("the logged-out cookie still works: %d", r2.StatusCode)
	}
}

func TestSecureCookieUnderTLS(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewTLSServer(f.c.Handler())
	defer srv.Close()
	c := srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.PostForm(srv.URL+"/console/login", url.Values{"username": {"admin"}, "password": {"admin-password-1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cs := resp.Cookies(); len(cs) != 1 || !cs[0].Secure || !cs[0].HttpOnly {
		t.Fatalf("cookies under TLS: %+v", cs)
	}
}

func TestFirstRunAdminGenerated(t *testing.T) {
	st, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, _ := config.LoadProject("../examples/hello-upstream")
	var out bytes.Buffer
	c, _ := New(Options{Store: st, Project: p, BcryptCost: bcrypt.MinCost, FirstRunOut: &out})
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`username admin, password (\S+) `).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no generated password printed: %q", out.String())
	}
	u, err := st.GetUser(context.Background(), "admin")
	if err != nil || u.Role != store.RoleAdmin || bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(m[1])) != nil {
		t.Fatalf("admin = %+v, %v", u, err)
	}
	out.Reset()
	if err := c.Start(context.Background()); err != nil || out.Len() != 0 {
		t.Fatalf("second start printed %q (%v)", out.String(), err)
	}
}

func TestCSRF(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	b.login("admin", "admin-password-1")
	if code, _ := b.post("/console/workflows/hello-upstream/pause", nil, false); code != 403 {
		t.Fatalf("pause without token = %d", code)
	}
	if f.c.Paused("hello-upstream") {
		t.Fatal("a refused request paused the workflow")
	}
	if code, _ := b.post("/console/workflows/hello-upstream/pause", url.Values{"csrf_token": {"wrong"}}, false); code != 403 {
		t.Fatalf("pause with a wrong token = %d", code)
	}
	if code, body := b.post("/console/workflows/hello-upstream/pause", nil, true); code != 303 || !f.c.Paused("hello-upstream") {
		t.Fatalf("pause with token = %d %s", code, body)
	}
	user := `{"username":"ops1","password":"ops1-password","role":"operator"}`
	if code, body := b.api("POST", "/api/users", user, nil); code != 403 {
		t.Fatalf("POST /api/users with a session, no X-CSRF-Token = %d %s", code, body)
	}
	if code, body := b.api("POST", "/api/users", user, map[string]string{CSRFHeader: b.csrf}); code != 201 {
		t.Fatalf("POST /api/users with token = %d %s", code, body)
	}
	// The bearer token needs no CSRF token (no cookie is involved).
	anon := f.browser()
	if code, body := anon.api("POST", "/api/users", `{"username":"v2","password":"v2-password","role":"viewer"}`,
		map[string]string{"Authorization": "Bearer " + testToken}); code != 201 {
		t.Fatalf("POST /api/users with bearer = %d %s", code, body)
	}
	if code, _ := anon.api("GET", "/api/users", "", map[string]string{"Authorization": "Bearer wrong"}); code != 401 {
		t.Fatalf("wrong bearer = %d", code)
	}
	// Every mutating action is in the audit log: who, what, from where.
	entries, _ := f.st.ListAudit(context.Background(), store.AuditFilter{Limit: 100})
	var saw []string
	for _, e := range entries {
		saw = append(saw, fmt.Sprintf("%s %s %s %v %s", e.Actor, e.Action, e.Target, e.OK, e.Addr))
	}
	all := strings.Join(saw, "\n")
	for _, want := range []string{"admin workflow.pause hello-upstream true 127.0.0.1", "admin user.create ops1 true 127.0.0.1", "token user.create v2 true 127.0.0.1", "admin login admin true"} {
		if !strings.Contains(all, want) {
			t.Errorf("audit lacks %q:\n%s", want, all)
		}
	}
}

func TestRoles(t *testing.T) {
	f := newFixture(t)
	f.addUser("viewer1", store.RoleViewer)
	f.addUser("op1", store.RoleOperator)
	failed := &store.Run{Workflow: "hello-upstream", Trigger: "webhook", Status: store.RunFailed, Started: time.Now(), Error: "upstream said 500",
		Input: json.RawMessage(`{"data":{"n":1}}`)}
	if err := f.st.CreateRun(context.Background(), failed); err != nil {
		t.Fatal(err)
	}
	v := f.browser()
	if r := v.login("viewer1", "viewer1-password"); r.StatusCode != 303 {
		t.Fatalf("viewer login %d", r.StatusCode)
	}
	code, page := v.get("/console/runs/" + failed.ID)
	if code != 200 || strings.Contains(page, "Retry this run") || !strings.Contains(page, "upstream said 500") {
		t.Fatalf("viewer's run page %d (must show the run, without the retry button):\n%s", code, page)
	}
	if _, page := v.get("/console/workflows/hello-upstream"); strings.Contains(page, "Run now") || strings.Contains(page, ">Pause<") {
		t.Fatal("viewer sees run/pause buttons")
	}
	if _, page := v.get("/console/"); strings.Contains(page, `href="/console/users"`) {
		t.Fatal("viewer's navigation offers Users")
	}
	for _, c := range []struct{ path string }{{"/console/runs/" + failed.ID + "/retry"}, {"/console/workflows/hello-upstream/run"}, {"/console/dead/x/retry"}, {"/console/dead/retry"}, {"/console/users"}} {
		if code, _ := v.post(c.path, url.Values{"input": {`{"data":{}}`}, "username": {"x"}, "password": {"xxxxxxxxx"}, "role": {"admin"}}, true); code != 403 {
			t.Errorf("viewer POST %s = %d, want 403", c.path, code)
		}
	}
	if code, _ := v.get("/console/users"); code != 403 {
		t.Errorf("viewer GET /console/users = %d", code)
	}
	if code, _ := v.api("GET", "/api/users", "", nil); code != 403 {
		t.Errorf("viewer GET /api/users = %d", code)
	}
	if len(f.ops.calls) != 0 {
		t.Fatalf("a viewer started runs: %v", f.ops.calls)
	}
	// An operator runs and retries, but does not manage users.
	o := f.browser()
	o.login("op1", "op1-password")
	code, loc := o.post("/console/workflows/hello-upstream/run", url.Values{"input": {`{"data":{"from":"console"}}`}}, true)
	if code != 303 || !strings.Contains(loc, "/console/runs/") {
		t.Fatalf("operator run now = %d %s", code, loc)
	}
	if code, loc := o.post("/console/runs/"+failed.ID+"/retry", nil, true); code != 303 || !strings.Contains(loc, "/console/runs/") {
		t.Fatalf("operator retry = %d %s", code, loc)
	}
	if len(f.ops.calls) != 2 || f.ops.calls[0] != `hello-upstream {"data":{"from":"console"}}` || f.ops.calls[1] != `hello-upstream {"data":{"n":1}}` {
		t.Fatalf("runs started: %q", f.ops.calls)
	}
	if code, _ := o.get("/console/users"); code != 403 {
		t.Errorf("operator GET /console/users = %d", code)
	}
	// A bad input is refused before anything runs.
	if code, _ := o.post("/console/workflows/hello-upstream/run", url.Values{"input": {`[1,2`}}, true); code != 400 || len(f.ops.calls) != 2 {
		t.Fatalf("bad input = %d, calls %d", code, len(f.ops.calls))
	}
}

func TestSessionFixation(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	u, _ := url.Parse(f.srv.URL)
	planted := "attacker-chosen-session-value"
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: SessionCookie, Value: planted, Path: "/"}})
	b.login("admin", "admin-password-1")
	got := cookieValue(b, u)
	if got == "" || got == planted {
		t.Fatalf("session id after login = %q (must be a new one)", got)
	}
	// A session the browser already had is replaced at login, not reused.
	b.login("admin", "admin-password-1")
	second := cookieValue(b, u)
	if second == got {
		t.Fatal("a second login kept the session id")
	}
	if _, err := f.st.GetSession(context.Background(), sessionID(got), f.clock.Now()); err == nil {
		t.Fatal("the session replaced at login still exists")
	}
	if _, err := f.st.GetSession(context.Background(), sessionID(planted), f.clock.Now()); err == nil {
		t.Fatal("the planted id became a session")
	}
	// Sessions expire.
	f.clock.Advance(9 * time.Hour)
	if code, _ := b.api("GET", "/api/me", "", nil); code != 401 {
		t.Fatalf("expired session: %d", code)
	}
}

func cookieValue(b *browser, u *url.URL) string {
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == SessionCookie {
			return c.Value
		}
	}
	return ""
}

func TestLoginThrottled(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	for i := 0; i < 3; i++ {
		if r := b.login("admin", "wrong-password"); r.StatusCode != 401 {
			t.Fatalf("failure %d = %d", i, r.StatusCode)
		}
	}
	// Locked now, even with the right password.
	resp, _ := b.c.PostForm(f.srv.URL+"/console/login", url.Values{"username": {"admin"}, "password": {"admin-password-1"}})
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("4th attempt = %d (Retry-After %q)", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	f.clock.Advance(61 * time.Second)
	if r := b.login("admin", "admin-password-1"); r.StatusCode != 303 {
		t.Fatalf("after the window = %d", r.StatusCode)
	}
}

// flushCounter records how much had been written at each flush.
type flushCounter struct {
	*httptest.ResponseRecorder
	flushedAt []int
}

func (f *flushCounter) Flush() {
	f.flushedAt = append(f.flushedAt, f.Body.Len())
	f.ResponseRecorder.Flush()
}

func TestExportStreams(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	for i := 0; i < 450; i++ {
		trig := "webhook"
		if i%3 == 0 {
			trig = "cron"
		}
		r := &store.Run{ID: fmt.Sprintf("run%04d", i), Workflow: "hello-upstream", Trigger: trig, Status: store.RunSuccess,
			Started: t0.Add(time.Duration(i) * time.Second), Error: "=cmd|' /C calc'!A0"}
		if err := f.st.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		f.st.AppendLogs(ctx, r.ID, []store.LogLine{{Time: r.Started, Level: "info", Message: fmt.Sprintf("line of %s", r.ID)}})
	}
	h := f.c.Handler()
	do := func(target string) *flushCounter {
		rec := &flushCounter{ResponseRecorder: httptest.NewRecorder()}
		req := httptest.NewRequest("GET", target, nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		h.ServeHTTP(rec, req)
		return rec
	}
	rec := do("/api/runs/export?format=csv")
	rows, err := csv.NewReader(bytes.NewReader(rec.Body.Bytes())).ReadAll()
	if err != nil || len(rows) != 451 || rows[0][0] != "id" || rows[1][0] != "run0449" || rows[450][0] != "run0000" {
		t.Fatalf("csv: %d rows, err %v", len(rows), err)
	}
	if rows[1][8] != "'=cmd|' /C calc'!A0" {
		t.Fatalf("a formula cell went out as is: %q", rows[1][8])
	}
	if len(rec.flushedAt) < 4 || rec.flushedAt[0] >= rec.Body.Len() || rec.flushedAt[0] == 0 {
		t.Fatalf("not streamed: flushes at %v of %d bytes", rec.flushedAt, rec.Body.Len())
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") || !strings.Contains(rec.Header().Get("Content-Disposition"), "attachment") {
		t.Fatalf("headers: %v", rec.Header())
	}
	// NDJSON, filtered by trigger (checked run by run) and time.
	rec = do("/api/runs/export?format=ndjson&trigger=cron&since=" + url.QueryEscape(t0.Add(300*time.Second).Format(time.RFC3339)))
	sc := bufio.NewScanner(rec.Body)
	n := 0
	for sc.Scan() {
		var r store.Run
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.Trigger != "cron" || r.Started.Before(t0.Add(300*time.Second)) {
			t.Fatalf("line %d: %s (%v)", n, sc.Text(), err)
		}
		n++
	}
	if n != 50 { // i in [300,449] with i%3==0
		t.Fatalf("ndjson cron runs since +300s = %d, want 50", n)
	}
	// Log lines, by text in the logs.
	rec = do("/api/logs/export?format=csv&q=" + url.QueryEscape("of run0007"))
	rows, _ = csv.NewReader(bytes.NewReader(rec.Body.Bytes())).ReadAll()
	if len(rows) != 2 || rows[1][0] != "run0007" || rows[1][5] != "line of run0007" {
		t.Fatalf("logs export: %v", rows)
	}
	if rec := do("/api/runs/export?format=xml"); rec.Code != 400 {
		t.Fatalf("format=xml = %d", rec.Code)
	}
}

func TestRunsPageFiltersAndPaging(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	t0 := time.Now().UTC().Add(-time.Hour)
	for i := 0; i < 60; i++ {
		st := store.RunSuccess
		if i%10 == 0 {
			st = store.RunFailed
		}
		f.st.CreateRun(ctx, &store.Run{ID: fmt.Sprintf("r%03d", i), Workflow: "hello-upstream", Trigger: "webhook", Status: st,
			Started: t0.Add(time.Duration(i) * time.Second), TransactionID: fmt.Sprintf("tx%03d", i)})
	}
	b := f.browser()
	b.login("admin", "admin-password-1")
	_, page := b.get("/console/runs")
	if c := strings.Count(page, `data-run="`); c != pageSize || !strings.Contains(page, "before=r010") {
		t.Fatalf("first page has %d runs, next link to r010: %v", c, strings.Contains(page, "before=r010"))
	}
	_, page = b.get("/console/runs?before=r010")
	if c := strings.Count(page, `data-run="`); c != 10 || strings.Contains(page, "Older runs") {
		t.Fatalf("second page has %d runs", c)
	}
	_, page = b.get("/console/runs?status=failed")
	if c := strings.Count(page, `data-status="failed"`); c != 6 || strings.Count(page, `data-run="`) != 6 {
		t.Fatalf("failed filter: %d", c)
	}
	_, page = b.get("/console/runs?transaction=tx042")
	if !strings.Contains(page, `data-run="r042"`) || strings.Count(page, `data-run="`) != 1 {
		t.Fatal("transaction filter")
	}
	if code, _ := b.get("/console/runs?status=bogus"); code != 400 {
		t.Fatalf("bad status = %d", code)
	}
	_, page = b.get("/console/")
	if !strings.Contains(page, "<svg") || !strings.Contains(page, "Runs per hour (UTC)") || !strings.Contains(page, "failed (6)") {
		t.Fatalf("dashboard lacks the chart and table:\n%s", page)
	}
}

func TestLiveEventsAndShutdown(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	b.login("admin", "admin-password-1")
	resp, err := b.c.Get(f.srv.URL + "/console/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, ct)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// Let the stream take its first look, then finish a run.
	time.Sleep(1500 * time.Millisecond)
	run := &store.Run{Workflow: "hello-upstream", Status: store.RunSuccess, Started: time.Now()}
	if err := f.st.CreateRun(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
	for got := false; !got; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("stream ended early")
			}
			if l == "event: change" {
				got = true
			}
		case <-deadline:
			t.Fatal("no change event after a run finished")
		}
	}
	f.c.Shutdown()
	deadline = time.After(3 * time.Second)
	for {
		select {
		case _, ok := <-lines:
			if !ok {
				return // the stream ended with the server's shutdown
			}
		case <-deadline:
			t.Fatal("the stream outlived Shutdown")
		}
	}
}

func TestFlashIsNotFromTheURL(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	b.login("admin", "admin-password-1")
	if _, page := b.get("/console/?flash=Your+password+expired"); strings.Contains(page, "password expired") {
		t.Fatal("a crafted link put words on the page")
	}
	b.post("/console/workflows/hello-upstream/pause", nil, true)
	_, page := b.get("/console/workflows/hello-upstream")
	if !strings.Contains(page, "Workflow paused") {
		t.Fatal("no message after pausing")
	}
	if _, page := b.get("/console/workflows/hello-upstream"); strings.Contains(page, "Workflow paused:") {
		t.Fatal("the message showed twice")
	}
}

// Authorize is how the operator API (channels/api) admits requests.
func TestAuthorizeForTheOperatorAPI(t *testing.T) {
	f := newFixture(t)
	f.addUser("viewer1", store.RoleViewer)
	f.addUser("op1", store.RoleOperator)
	var hits []string
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		r, ok := f.c.Authorize(w, r)
		if !ok {
			return
		}
		hits = append(hits, who(r).User+" "+r.Method)
		f.c.Audit(r, "dead.retry", "m1", "", true)
		w.WriteHeader(204)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	f.srv = srv
	cases := []struct {
		user, method string
		csrf         bool
		want         int
	}{
		{"viewer1", "GET", false, 204},
		{"viewer1", "POST", true, 403}, // role
		{"op1", "POST", false, 403},    // CSRF
		{"op1", "POST", true, 204},
		{"", "GET", false, 401},
	}
	for _, c := range cases {
		b := f.browser()
		if c.user != "" {
			cookie, s, err := f.c.login(context.Background(), httptest.NewRequest("POST", "/", nil), c.user, c.user+"-password")
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(srv.URL)
			b.c.Jar.SetCookies(u, []*http.Cookie{{Name: SessionCookie, Value: cookie, Path: "/"}})
			b.csrf = s.CSRF
		}
		hdr := map[string]string{}
		if c.csrf {
			hdr[CSRFHeader] = b.csrf
		}
		if code, body := b.api(c.method, "/api/dead/m1/requeue", "", hdr); code != c.want {
			t.Errorf("%s %s csrf=%v = %d %s, want %d", c.user, c.method, c.csrf, code, body, c.want)
		}
	}
	if strings.Join(hits, ",") != "viewer1 GET,op1 POST" {
		t.Fatalf("admitted: %v", hits)
	}
	entries, _ := f.st.ListAudit(context.Background(), store.AuditFilter{})
	if len(entries) == 0 || entries[0].Actor != "op1" || entries[0].Action != "dead.retry" || entries[0].Addr != "127.0.0.1" {
		t.Fatalf("audit: %+v", entries[0])
	}
}

// deadLetter puts a message for wf in the dead letters.
func deadLetter(t *testing.T, st store.Store, id, wf, reason string) {
	t.Helper()
	ctx := context.Background()
	if err := st.Enqueue(ctx, &store.Message{ID: id, Kind: store.KindRetry, Workflow: wf, Payload: json.RawMessage(`{"data":{}}`), Due: time.Now().Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	if err := st.DeadLetter(ctx, id, "", reason); err != nil {
		t.Fatal(err)
	}
}

func TestDeadLettersRetry(t *testing.T) {
	f := newFixture(t)
	deadLetter(t, f.st, "m1", "hello-upstream", "upstream refused: connection refused")
	deadLetter(t, f.st, "m2", "hello-upstream", "upstream said 503")
	deadLetter(t, f.st, "m3", "other", "upstream refused: connection refused")
	b := f.browser()
	b.login("admin", "admin-password-1")
	_, page := b.get("/console/dead?q=refused")
	if !strings.Contains(page, "Retry all 2 shown") || strings.Contains(page, "503") {
		t.Fatalf("filtered dead letters:\n%s", page)
	}
	// Bulk retry by filter: workflow and error text.
	if code, _ := b.post("/console/dead/retry", url.Values{"workflow": {"hello-upstream"}, "q": {"refused"}}, true); code != 303 {
		t.Fatalf("bulk retry = %d", code)
	}
	status := func(id string) store.MessageStatus {
		m, err := f.st.GetMessage(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return m.Status
	}
	if status("m1") != store.MsgPending || status("m2") != store.MsgDead || status("m3") != store.MsgDead {
		t.Fatalf("after bulk retry: m1 %s, m2 %s, m3 %s", status("m1"), status("m2"), status("m3"))
	}
	if code, _ := b.post("/console/dead/m3/retry", nil, true); code != 303 || status("m3") != store.MsgPending {
		t.Fatalf("single retry = %d, m3 %s", code, status("m3"))
	}
	if code, _ := b.post("/console/dead/m3/retry", nil, true); code != 409 {
		t.Fatalf("retrying a message that is no longer dead = %d", code)
	}
	entries, _ := f.st.ListAudit(context.Background(), store.AuditFilter{})
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action+":"+e.Target+":"+fmt.Sprint(e.OK))
	}
	if got := strings.Join(actions, " "); !strings.Contains(got, "dead.retry:m3:false dead.retry:m3:true dead.retry_bulk:hello-upstream:true") {
		t.Fatalf("audit: %s", got)
	}
}

func TestUsersAndPasswords(t *testing.T) {
	f := newFixture(t)
	admin := f.browser()
	admin.login("admin", "admin-password-1")
	if code, _ := admin.post("/console/users", url.Values{"username": {"ops"}, "password": {"short"}, "role": {"operator"}}, true); code != 400 {
		t.Fatalf("short password accepted: %d", code)
	}
	if code, _ := admin.post("/console/users", url.Values{"username": {"ops"}, "password": {"ops-password"}, "role": {"root"}}, true); code != 400 {
		t.Fatalf("bad role accepted: %d", code)
	}
	if code, _ := admin.post("/console/users", url.Values{"username": {"ops"}, "password": {"ops-password"}, "role": {"operator"}}, true); code != 303 {
		t.Fatalf("add user = %d", code)
	}
	ops := f.browser()
	if r := ops.login("ops", "ops-password"); r.StatusCode != 303 {
		t.Fatalf("new user login = %d", r.StatusCode)
	}
	// An admin sets another user's password: their sessions end.
	if code, _ := admin.post("/console/users/ops/password", url.Values{"password": {"ops-password-2"}}, true); code != 303 {
		t.Fatalf("admin sets password = %d", code)
	}
	if code, _ := ops.api("GET", "/api/me", "", nil); code != 401 {
		t.Fatalf("the session survived a password change: %d", code)
	}
	ops.login("ops", "ops-password-2")
	// Users change their own password with the current one, not others'.
	if code, _ := ops.post("/console/users/admin/password", url.Values{"password": {"hijacked-pw"}}, true); code != 400 {
		t.Fatalf("operator set the admin's password: %d", code)
	}
	if code, _ := ops.post("/console/users/ops/password", url.Values{"current": {"wrong"}, "password": {"ops-password-3"}}, true); code != 400 {
		t.Fatalf("own password changed without the current one: %d", code)
	}
	if code, _ := ops.post("/console/users/ops/password", url.Values{"current": {"ops-password-2"}, "password": {"ops-password-3"}}, true); code != 303 {
		t.Fatalf("own password change = %d", code)
	}
	if r := ops.login("ops", "ops-password-3"); r.StatusCode != 303 {
		t.Fatal("the new password does not work")
	}
	// Nobody removes themselves; removing a user ends their sessions.
	if code, _ := admin.post("/console/users/admin/delete", nil, true); code != 400 {
		t.Fatalf("admin removed themselves: %d", code)
	}
	if code, _ := admin.post("/console/users/ops/delete", nil, true); code != 303 {
		t.Fatalf("remove user = %d", code)
	}
	if code, _ := ops.api("GET", "/api/me", "", nil); code != 401 {
		t.Fatalf("a removed user's session works: %d", code)
	}
	// The API never shows a hash.
	if _, body := admin.api("GET", "/api/users", "", nil); strings.Contains(body, "$2a$") || strings.Contains(body, "asswordHash") {
		t.Fatalf("/api/users shows hashes: %s", body)
	}
}

// The dashboard reuses its statistics only while no run has arrived.
func TestDashboardSeesNewRuns(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	b.login("admin", "admin-password-1")
	add := func(st store.RunStatus) {
		if err := f.st.CreateRun(context.Background(), &store.Run{Workflow: "hello-upstream", Status: st, Started: time.Now(), Error: "boom"}); err != nil {
			t.Fatal(err)
		}
	}
	add(store.RunFailed)
	if _, page := b.get("/console/"); !strings.Contains(page, "failed (1)") {
		t.Fatal("first failure not counted")
	}
	add(store.RunFailed)
	add(store.RunSuccess)
	if _, page := b.get("/console/"); !strings.Contains(page, "failed (2)") || !strings.Contains(page, "success (1)") {
		t.Fatal("the dashboard kept stale statistics after new runs")
	}
}

// An unknown user's login compares against dummyHash: a well-formed hash at
// the default cost, so that the compare costs what a stored password's does.
func TestDummyHashCostsWhatAPasswordCosts(t *testing.T) {
	if cost, err := bcrypt.Cost(dummyHash); err != nil || cost != bcrypt.DefaultCost {
		t.Fatalf("dummyHash cost %d (%v), want %d", cost, err, bcrypt.DefaultCost)
	}
	if err := bcrypt.CompareHashAndPassword(dummyHash, []byte("not-a-real-password")); err != bcrypt.ErrMismatchedHashAndPassword {
		t.Fatalf("compare: %v, want a mismatch", err)
	}
}
