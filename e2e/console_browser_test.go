package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var updateScreenshot = flag.Bool("update-console-png", false, "write the dashboard screenshot to docs/console.png")

// consoleSecret is the credential password of the workflow the console
// tests drive; the job tries to log it and keep it in its state, and no
// page, API answer or export may show it in any encoding.
const consoleSecret = "Cons0le-s3cret/pw+42"

// The browser tests' project: hello-upstream's shape, with a job that tries
// to leak its credential, and no automatic retries (a failure stays failed
// until an operator retries it).
const consoleProject = `name: console-e2e
credentials:
  upstream:
    name: upstream
    owner: ops@example.org
workflows:
  intake:
    name: intake
    jobs:
      forward:
        name: forward
        adaptor: '@openfn/language-http@7'
        credential: upstream
        body: |
          fn(state => {
            console.log('forwarding with password ' + state.configuration.password);
            state.leak = state.configuration.password;
            return state;
          });
          post('/records', $.data);
    triggers:
      webhook:
        type: webhook
        enabled: true
    edges:
      webhook->forward:
        source_trigger: webhook
        target_job: forward
        condition_type: always
        enabled: true
  nightly:
    name: nightly
    jobs:
      tally:
        name: tally
        adaptor: '@openfn/language-common@3'
        body: |
          fn(state => ({ ...state, runs: (state.runs || 0) + 1 }));
    triggers:
      cron: {type: cron, enabled: true, cron_expression: '30 2 1 1 *'}
    edges:
      cron->tally: {source_trigger: cron, target_job: tally, condition_type: always, enabled: true}
`

const consoleOptions = `workflows:
  intake:
    path: /intake
    retry: {max_attempts: 0}
`

// upstreamSim is the records API: it fails while failing is set and keeps
// what it was sent.
type upstreamSim struct {
	failing atomic.Bool
	mu      sync.Mutex
	bodies  []string
}

func (u *upstreamSim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.bodies = append(u.bodies, string(b))
	u.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if u.failing.Load() {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"error":"records store unavailable"}`)
		return
	}
	io.WriteString(w, `{"id":"rec-1","status":"stored"}`)
}

func (u *upstreamSim) received(s string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, b := range u.bodies {
		if strings.Contains(b, s) {
			return true
		}
	}
	return false
}

// chromium finds Debian's headless Chromium (installed by .ci/run).
func chromium(t *testing.T) string {
	for _, p := range []string{"/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Fatal("Chromium is not installed: apt-get install chromium chromium-driver (.ci/run does it)")
	return ""
}

// browserCtx starts a fresh headless Chromium with its own profile.
func browserCtx(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first action starts the browser; its context must not time out
	// (that would end the browser), so the deadline is a watchdog.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx, chromedp.Navigate("about:blank")) }()
	var err error
	select {
	case err = <-started:
	case <-time.After(30 * time.Second):
		err = fmt.Errorf("no answer within 30s")
	}
	if err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return ctx
}

// step runs browser actions with a deadline.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		html, _ := chromedp.Run(hctx, chromedp.OuterHTML(chromedp.CSS("html")))
		t.Fatalf("%s: %v\npage:\n%s", what, err, html)
	}
}

func pageHTML(t *testing.T, ctx context.Context) string {
	t.Helper()
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	html, err := chromedp.Run(hctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		t.Fatal(err)
	}
	return html
}

func screenshot(t *testing.T, ctx context.Context, name string) []byte {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(t.ArtifactDir(), name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	return png
}

// accessible checks what a keyboard and screen-reader user needs on the
// page: a language, every form control labelled, every button named, the
// chart described, and Tab reaching the skip link first.
func accessible(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	problems, err := chromedp.Run(actx, chromedp.Evaluate[[]string](`(() => {
		const out = [];
		if (!document.documentElement.lang) out.push("no lang on <html>");
		for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
			if (el.labels.length === 0 && !el.getAttribute("aria-label")) out.push("unlabelled " + el.outerHTML.slice(0, 80));
		}
		for (const b of document.querySelectorAll("button")) {
			if (!(b.textContent.trim() || b.getAttribute("aria-label"))) out.push("nameless button");
		}
		for (const svg of document.querySelectorAll("svg")) {
			if (svg.getAttribute("role") !== "img" || !svg.querySelector("title")) out.push("svg without role=img and title");
		}
		return out;
	})()`))
	if err != nil {
		t.Fatalf("%s: accessibility check: %v", path, err)
	}
	if len(problems) > 0 {
		t.Fatalf("%s: %s", path, strings.Join(problems, "; "))
	}
	if _, err := chromedp.Run(actx, chromedp.Evaluate[bool](`(document.activeElement && document.activeElement.blur(), true)`)); err != nil {
		t.Fatalf("%s: blur: %v", path, err)
	}
	if err := chromedp.Do(actx, chromedp.KeyEvent("\t")); err != nil {
		t.Fatalf("%s: Tab: %v", path, err)
	}
	first, err := chromedp.Run(actx, chromedp.Evaluate[string](`document.activeElement ? document.activeElement.className + " " + document.activeElement.textContent : ""`))
	if err != nil || !strings.Contains(first, "Skip to content") {
		t.Fatalf("%s: the first Tab focuses %q, not the skip link (%v)", path, first, err)
	}
	chromedp.Run(actx, chromedp.Evaluate[bool](`(document.activeElement.blur(), true)`))
}

// collector keeps everything the console showed, for the secret grep.
type collector struct {
	mu    sync.Mutex
	items map[string]string
}

func (c *collector) add(name, body string) {
	c.mu.Lock()
	c.items[name] += body
	c.mu.Unlock()
}

// leaks lists where any encoding of a secret shows up.
func (c *collector) leaks(secrets ...string) []string {
	var forms []string
	for _, s := range secrets {
		js, _ := json.Marshal(s)
		forms = append(forms, s, strings.Trim(string(js), `"`), url.QueryEscape(s), url.PathEscape(s),
			base64.StdEncoding.EncodeToString([]byte(s)), base64.RawURLEncoding.EncodeToString([]byte(s)))
	}
	var out []string
	for name, body := range c.items {
		for _, f := range forms {
			if strings.Contains(body, f) {
				out = append(out, fmt.Sprintf("%s contains %q", name, f))
			}
		}
	}
	return out
}

func TestConsoleInBrowser(t *testing.T) {
	up := &upstreamSim{}
	up.failing.Store(true)
	upSrv := httptest.NewServer(up)
	defer upSrv.Close()

	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "project.yaml"), []byte(consoleProject), 0o644))
	must(os.WriteFile(filepath.Join(dir, "jobmediator.yaml"), []byte(consoleOptions), 0o644))
	creds := fmt.Sprintf("upstream:\n  baseUrl: %s\n  username: svc\n  password: %q\n", upSrv.URL, consoleSecret)
	must(os.WriteFile(filepath.Join(dir, "credentials.yaml"), []byte(creds), 0o600))
	const token = "console-e2e-token"
	p := start(t, map[string]string{"JM_PROJECT": dir, "JM_CREDENTIALS": filepath.Join(dir, "credentials.yaml"), "JM_API_TOKEN": token})

	// The first-run admin's password is printed once.
	var adminPW string
	waitFor(t, "the first-run admin password in the log", 10*time.Second, func() bool {
		m := regexp.MustCompile(`username admin, password (\S+) `).FindStringSubmatch(p.Logs())
		if m != nil {
			adminPW = m[1]
		}
		return m != nil
	})
	if !strings.Contains(p.Logs(), `"console":"http://localhost:`) {
		t.Fatalf("the log does not say where the console is:\n%s", p.Logs())
	}

	// A request while the upstream is down: a failed run.
	resp, err := http.Post(p.URL()+"/intake", "application/json", strings.NewReader(`{"patient":"p-001"}`))
	must(err)
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Fatalf("request with the upstream down answered %d", resp.StatusCode)
	}
	up.failing.Store(false)

	seen := &collector{items: map[string]string{}}
	ctx := browserCtx(t)
	base := p.URL()

	// Log in as the first-run admin.
	step(t, ctx, "log in",
		chromedp.Navigate(base+"/console/login"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "admin"),
		chromedp.SendKeys(chromedp.ID("password"), adminPW),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("h-chart")),
	)
	// The dashboard shows the failure; open it from there.
	html := pageHTML(t, ctx)
	seen.add("page /console/", html)
	nextTick := fmt.Sprintf("nightly</a>: %d-01-01 02:30:00Z", time.Now().UTC().Year()+1)
	if time.Now().UTC().Before(time.Date(time.Now().UTC().Year(), 1, 1, 2, 30, 0, 0, time.UTC)) {
		nextTick = fmt.Sprintf("nightly</a>: %d-01-01 02:30:00Z", time.Now().UTC().Year())
	}
	if !strings.Contains(html, nextTick) {
		t.Fatalf("dashboard lacks the next cron tick %q:\n%s", nextTick, html)
	}
	if !strings.Contains(html, `href="/console/workflows/intake"`) || !strings.Contains(html, "failed (1)") {
		t.Fatalf("dashboard does not show the failed run:\n%s", html)
	}
	png := screenshot(t, ctx, "01-dashboard-failed")
	_ = png
	step(t, ctx, "open the failed run",
		chromedp.Click(chromedp.CSS(`#h-failing ~ table a[href^="/console/runs/"]`)),
		chromedp.WaitVisible(chromedp.ID("h-orch")),
	)
	html = pageHTML(t, ctx)
	seen.add("page failed run", html)
	for _, want := range []string{`id="run-status">failed<`, "/records", "→ <span class=\"code\">500</span>", "records store unavailable", "forwarding with password", "p-001"} {
		if !strings.Contains(html, want) {
			t.Fatalf("run page lacks %q:\n%s", want, html)
		}
	}
	screenshot(t, ctx, "02-failed-run")

	// Retry it: the run goes again and succeeds.
	// The console waits up to 10 s for the run and shows it; a slower run
	// (a loaded machine) lands on the live runs list, where it appears.
	step(t, ctx, "retry",
		chromedp.Submit(chromedp.ID("retry")),
		chromedp.WaitVisible(chromedp.CSS(`#run-status.st-success, tr[data-trigger="manual"][data-status="success"]`)),
	)
	html = pageHTML(t, ctx)
	seen.add("page retried run", html)
	if !up.received("p-001") {
		t.Fatalf("retry did not reach the upstream:\n%s", html)
	}
	screenshot(t, ctx, "03-retried-run")

	// The runs list refreshes by itself when a run finishes elsewhere.
	step(t, ctx, "runs list", chromedp.Navigate(base+"/console/runs"), chromedp.WaitVisible(chromedp.CSS("table.runs")))
	before := strings.Count(pageHTML(t, ctx), "data-run=")
	resp, err = http.Post(p.URL()+"/intake", "application/json", strings.NewReader(`{"patient":"p-live"}`))
	must(err)
	resp.Body.Close()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`document.querySelectorAll("tr[data-run]").length > %d`, before),
		chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		t.Fatalf("the runs list did not update live: %v", err)
	}
	html = pageHTML(t, ctx)
	seen.add("page /console/runs", html)
	screenshot(t, ctx, "04-runs-live")

	// Run the workflow on demand with an input.
	step(t, ctx, "run now",
		chromedp.Navigate(base+"/console/workflows/intake"),
		chromedp.WaitVisible(chromedp.ID("input")),
		chromedp.SetValue(chromedp.ID("input"), `{"data":{"patient":"p-on-demand"}}`),
		chromedp.Submit(chromedp.ID("input")),
		chromedp.WaitVisible(chromedp.CSS(`#run-status, tr[data-trigger="manual"]`)),
	)
	waitFor(t, "the on-demand run to reach the upstream with its input", 30*time.Second, func() bool { return up.received("p-on-demand") })
	seen.add("page on-demand run", pageHTML(t, ctx))

	api := func(method, path, body string) string {
		req, _ := http.NewRequest(method, p.URL()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		must(err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s = %d %s", method, path, resp.StatusCode, b)
		}
		seen.add("api "+method+" "+path, string(b))
		return string(b)
	}
	waitFor(t, "four runs in the history", 30*time.Second, func() bool {
		return strings.Count(api("GET", "/api/runs?workflow=intake", ""), `"workflow":"intake"`) == 4
	})
	// Export CSV with the browser's session.
	ectx, ecancel := context.WithTimeout(ctx, 20*time.Second)
	defer ecancel()
	csv, err := chromedp.Run(ectx, chromedp.Evaluate[string](`fetch("/console/export?format=csv&workflow=intake").then(r => r.text())`, chromedp.EvalAwaitPromise))
	must(err)
	if !strings.HasPrefix(csv, "id,workflow,trigger,status") || strings.Count(csv, "\n") != 5 || !strings.Contains(csv, ",failed,") || !strings.Contains(csv, ",manual,") {
		t.Fatalf("CSV export:\n%s", csv)
	}
	seen.add("export csv", csv)

	// The operator API takes the session too, with the page's CSRF token
	// on changes (403 without it).
	codes, err := chromedp.Run(ectx, chromedp.Evaluate[string](`(async () => {
		const tok = document.querySelector('meta[name="csrf-token"]').content;
		const body = JSON.stringify({state: {data: {patient: "p-api"}}});
		const hdr = {"Content-Type": "application/json"};
		const without = await fetch("/api/workflows/intake/run", {method: "POST", headers: hdr, body});
		const withTok = await fetch("/api/workflows/intake/run", {method: "POST", headers: {...hdr, "X-CSRF-Token": tok}, body});
		const runs = await fetch("/api/runs?workflow=intake");
		return without.status + " " + withTok.status + " " + runs.status;
	})()`, chromedp.EvalAwaitPromise))
	must(err)
	if codes != "403 200 200" || !up.received("p-api") {
		t.Fatalf("operator API with the session: %s (want 403 200 200)", codes)
	}

	// Every other page, for the secret grep and the dashboard picture.
	for _, path := range []string{"/console/runs", "/console/workflows/intake", "/console/workflows", "/console/dead", "/console/audit", "/console/users", "/console/settings", "/console/"} {
		step(t, ctx, path, chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS("main h1")))
		seen.add("page "+path, pageHTML(t, ctx))
		accessible(t, ctx, path)
	}
	png = screenshot(t, ctx, "05-dashboard")
	if *updateScreenshot {
		must(os.WriteFile("../docs/console.png", png, 0o644))
	}

	// A viewer sees the same pages without the buttons.
	api("POST", "/api/users", `{"username":"vera","password":"vera-viewer-pw","role":"viewer"}`)
	// The admin logs out; the viewer logs in in the same browser.
	vctx := ctx
	step(t, vctx, "admin logs out, viewer logs in",
		chromedp.Click(chromedp.CSS(`form[action="/console/logout"] button`)),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "vera"),
		chromedp.SendKeys(chromedp.ID("password"), "vera-viewer-pw"),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("h-chart")),
	)
	runs := api("GET", "/api/runs?workflow=intake&status=failed", "")
	var list struct {
		Runs []struct{ ID string } `json:"runs"`
	}
	must(json.Unmarshal([]byte(runs), &list))
	if len(list.Runs) != 1 {
		t.Fatalf("failed runs: %s", runs)
	}
	for _, path := range []string{"/console/runs/" + list.Runs[0].ID, "/console/workflows/intake", "/console/dead"} {
		step(t, vctx, "viewer "+path, chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS("main h1")))
		html := pageHTML(t, vctx)
		seen.add("viewer page "+path, html)
		for _, button := range []string{`id="retry"`, `id="run-now"`, ">Pause<", `id="retry-all"`} {
			if strings.Contains(html, button) {
				t.Fatalf("viewer sees %s on %s", button, path)
			}
		}
	}
	screenshot(t, vctx, "06-viewer")
	step(t, vctx, "viewer users", chromedp.Navigate(base+"/console/users"), chromedp.WaitVisible(chromedp.CSS("main h1")))
	if html := pageHTML(t, vctx); !strings.Contains(html, "may not do this") {
		t.Fatalf("viewer sees the users page:\n%s", html)
	}

	// Secrets: no page, API answer or export shows the credential password.
	api("GET", "/api/runs", "")
	api("GET", "/api/runs/"+list.Runs[0].ID, "")
	api("GET", "/api/dead", "")
	api("GET", "/api/audit", "")
	api("GET", "/api/users", "")
	api("GET", "/api/runs/export?format=ndjson", "")
	api("GET", "/api/runs/export?format=csv", "")
	api("GET", "/api/logs/export?format=ndjson", "")
	api("GET", "/api/logs/export?format=csv", "")
	if logs := api("GET", "/api/logs/export?format=csv&q=forwarding", ""); strings.Count(logs, "forwarding with password") < 5 {
		t.Fatalf("the log export lacks the job's lines (the grep would be vacuous):\n%s", logs)
	}
	if leaks := seen.leaks(consoleSecret, "svc:"+consoleSecret); len(leaks) > 0 {
		t.Fatalf("the credential password leaked:\n%s", strings.Join(leaks, "\n"))
	}
	if len(seen.items) < 20 {
		t.Fatalf("only %d pages and answers were grepped", len(seen.items))
	}
}
