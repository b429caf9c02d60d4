package e2e

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/sim/openhim"
)

const (
	clientID   = "e2e-client"
	clientPass = "e2e-client-pass"
	upstreamPW = "upstream-secret-pw"
)

// mediatorWithCore starts the OpenHIM simulator, an upstream, and the real
// jobmediator binary registering with the simulator; it waits until the
// mediator has registered, installed its default channel and is ready.
func mediatorWithCore(t *testing.T) (*openhim.Core, *records, *proc) {
	t.Helper()
	return mediatorWithCoreEnv(t, nil)
}

// mediatorWithCoreEnv is mediatorWithCore with extra settings.
func mediatorWithCoreEnv(t *testing.T, extra map[string]string) (*openhim.Core, *records, *proc) {
	t.Helper()
	return mediatorWithCoreTLS(t, extra, nil, nil)
}

// mediatorWithCoreTLS is mediatorWithCoreEnv with the mediator serving
// HTTPS (client trusts it) and core calling secured routes with routeTLS
// (its client certificate); nil client serves plain HTTP.
func mediatorWithCoreTLS(t *testing.T, extra map[string]string, client *http.Client, routeTLS *tls.Config) (*openhim.Core, *records, *proc) {
	t.Helper()
	core := openhim.New(openhim.Options{DisablePolling: true, RouteTLS: routeTLS})
	if err := core.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(core.Close)
	core.AddClient(openhim.Client{ClientID: clientID, Name: "e2e", Password: clientPass, Roles: []string{"jobmediator"}})
	up := newRecords(t)
	// Our own retry queue is pushed out of the way here: these tests are
	// about what OpenHIM sees and reruns.
	opts := filepath.Join(t.TempDir(), "jobmediator.yaml")
	os.WriteFile(opts, []byte("workflows:\n  hello-upstream:\n    path: /hello\n    retry: {max_attempts: 0}\n"), 0o644)
	env := map[string]string{
		"JM_PROJECT":         "../examples/hello-upstream",
		"JM_OPTIONS":         opts,
		"JM_CREDENTIALS":     exampleCredentials(t, up.srv.URL, upstreamPW),
		"OPENHIM_URL":        core.APIURL(),
		"OPENHIM_USERNAME":   openhim.RootEmail,
		"OPENHIM_PASSWORD":   openhim.RootPassword,
		"MEDIATOR_HOST":      "127.0.0.1",
		"HEARTBEAT_INTERVAL": "1s",
	}
	for k, v := range extra {
		env[k] = v
	}
	var p *proc
	if client != nil {
		p = startTLS(t, env, client)
	} else {
		p = start(t, env)
	}
	waitFor(t, "registration, default channel and readiness", 20*time.Second, func() bool {
		_, registered := core.Mediator("urn:mediator:jobmediator")
		return registered && readyStatus(p) == http.StatusOK && channelNamed(core, "hello-upstream") != ""
	})
	return core, up, p
}

func channelNamed(core *openhim.Core, workflow string) string {
	for _, ch := range core.Channels() {
		if name, _ := ch["name"].(string); strings.HasSuffix(name, workflow) {
			id, _ := ch["_id"].(string)
			return id
		}
	}
	return ""
}

// route sends a client request through core's router.
func route(t *testing.T, core *openhim.Core, path, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, core.RouterURL()+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(clientID, clientPass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func lastTransaction(t *testing.T, core *openhim.Core) openhim.Transaction {
	t.Helper()
	core.Wait()
	txs := core.Transactions()
	if len(txs) == 0 {
		t.Fatal("core stored no transaction")
	}
	return txs[len(txs)-1]
}

// TestRoutedThroughOpenHIM is the vertical slice: OpenHIM routes a
// transaction to the mediator, the job calls the upstream, and core records
// the transaction with the mediator's orchestrations, all secrets redacted.
func TestRoutedThroughOpenHIM(t *testing.T) {
	core, up, p := mediatorWithCore(t)
	resp, body := route(t, core, "/hello", `{"name":"Ana"}`)
	if resp.StatusCode != 200 || !strings.Contains(body, `"stored":true`) {
		t.Fatalf("client got %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("X-OpenHIM-TransactionID") == "" {
		t.Fatal("core did not add X-OpenHIM-TransactionID to the client response")
	}
	tx := lastTransaction(t, core)
	if tx.Status != "Successful" {
		t.Fatalf("transaction status %q: %+v", tx.Status, tx)
	}
	if len(tx.Orchestrations) != 2 {
		t.Fatalf("want the mediator's orchestration plus core's own, got %d", len(tx.Orchestrations))
	}
	if name := tx.Orchestrations[0]["name"]; name != "post-to-upstream: POST /records" {
		t.Fatalf("first orchestration %v", name)
	}
	if tx.Properties["workflow"] != "hello-upstream" || tx.Properties["run_id"] == nil {
		t.Fatalf("properties %v", tx.Properties)
	}
	if up.count() != 1 || up.got[0]["name"] != "Ana" {
		t.Fatalf("upstream got %v", up.got)
	}
	whole, _ := json.Marshal(core.Transactions())
	for _, secret := range []string{upstreamPW, "dXBzdHJlYW0tc2VjcmV0LXB3", clientPass} {
		if bytes.Contains(whole, []byte(secret)) {
			t.Fatalf("secret %q stored in OpenHIM: %s", secret, whole)
		}
	}
	if strings.Contains(p.Logs(), upstreamPW) || strings.Contains(p.Logs(), openhim.RootPassword) {
		t.Fatal("secret in the mediator's logs")
	}
	// Prometheus sees the run, the route and the registration.
	mresp, err := http.Get(p.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	scrape, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	for _, want := range []string{
		`jobmediator_runs_total{status="success",trigger="webhook",workflow="hello-upstream"} 1`,
		`jobmediator_http_requests_total{code="200",method="POST",route="/hello"} 1`,
		`jobmediator_openhim_registered 1`,
		`jobmediator_queue_messages{state="dead"} 0`,
	} {
		if !strings.Contains(string(scrape), want) {
			t.Errorf("/metrics lacks %s:\n%s", want, scrape)
		}
	}
	if bytes.Contains(scrape, []byte(upstreamPW)) {
		t.Fatal("secret in /metrics")
	}
	// The registration carried a console switch and the credential fields.
	med, _ := core.Mediator("urn:mediator:jobmediator")
	defs, _ := json.Marshal(med["configDefs"])
	if !bytes.Contains(defs, []byte("enabled_hello")) || !bytes.Contains(defs, []byte(`"password"`)) {
		t.Fatalf("configDefs lack the workflow switch or a password field: %s", defs)
	}
	// The credential's console fields come from the http adaptor's spec:
	// access_token, which the credentials file lacks, is offered as a
	// password with its doc.
	var parsed []struct {
		Param    string `json:"param"`
		Template []struct {
			Param, Type, Description string
		} `json:"template"`
	}
	_ = json.Unmarshal(defs, &parsed)
	offered := ""
	for _, d := range parsed {
		for _, item := range d.Template {
			if strings.HasPrefix(d.Param, "credential_") && item.Param == "access_token" {
				offered = item.Type + ": " + item.Description
			}
		}
	}
	if !strings.HasPrefix(offered, "password: Bearer token") {
		t.Errorf("access_token offered as %q: %s", offered, defs)
	}
	// /readyz shows the default channels core holds.
	rresp, err := http.Get(p.URL() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var ready struct {
		Checks struct {
			OpenHIM struct {
				Channels      string `json:"channels"`
				ChannelStates []struct{ Name, State string }
			} `json:"openhim"`
		} `json:"checks"`
	}
	_ = json.NewDecoder(rresp.Body).Decode(&ready)
	rresp.Body.Close()
	if st := ready.Checks.OpenHIM; st.Channels != "installed" || len(st.ChannelStates) == 0 || st.ChannelStates[0].State != "installed" {
		t.Errorf("/readyz openhim channels: %+v", st)
	}
}

// TestConsoleConfigAppliesWithoutRestart: a credential changed in the
// OpenHIM console reaches the next run; a workflow switched off answers 503.
func TestConsoleConfigAppliesWithoutRestart(t *testing.T) {
	core, up, p := mediatorWithCore(t)
	med, _ := core.Mediator("urn:mediator:jobmediator")
	cfg, _ := med["config"].(map[string]any)
	var credParam, enableParam string
	for k := range cfg {
		switch {
		case strings.HasPrefix(k, "credential_"):
			credParam = k
		case strings.HasPrefix(k, "enabled_"):
			enableParam = k
		}
	}
	if credParam == "" || enableParam == "" {
		t.Fatalf("registration config lacks params: %v", cfg)
	}
	put := func(v map[string]any) {
		b, _ := json.Marshal(v)
		req, _ := http.NewRequest(http.MethodPut, core.APIURL()+"/mediators/urn:mediator:jobmediator/config", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth(openhim.RootEmail, openhim.RootPassword)
		r, err := http.DefaultClient.Do(req)
		if err != nil || r.StatusCode != 200 {
			rb := []byte{}
			if r != nil {
				rb, _ = io.ReadAll(r.Body)
			}
			t.Fatalf("PUT config: %v %v %s", err, r, rb)
		}
		r.Body.Close()
	}
	next := map[string]any{}
	for k, v := range cfg {
		next[k] = v
	}
	next[credParam] = map[string]any{"password": "rotated-in-console"}
	put(next)
	want := "Basic " + b64("demo:rotated-in-console")
	waitFor(t, "the console password to be used", 15*time.Second, func() bool {
		route(t, core, "/hello", `{"n":1}`)
		up.mu.Lock()
		defer up.mu.Unlock()
		return up.auth[len(up.auth)-1] == want
	})
	if !strings.Contains(p.Logs(), "config updated from OpenHIM console") || strings.Contains(p.Logs(), "rotated-in-console") {
		t.Fatal("config change must be logged once, without its values")
	}
	next[enableParam] = false
	put(next)
	waitFor(t, "the workflow to be switched off", 15*time.Second, func() bool {
		resp, _ := route(t, core, "/hello", `{"n":2}`)
		return resp.StatusCode == http.StatusServiceUnavailable
	})
}

// TestRerunAfterUpstreamRecovers: route → upstream fails → rerun from the
// console after recovery → one record upstream, two transactions linked.
func TestRerunAfterUpstreamRecovers(t *testing.T) {
	core, up, _ := mediatorWithCore(t)
	up.fail(true)
	resp, _ := route(t, core, "/hello", `{"name":"Ben"}`)
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("upstream 503 must reach the client as 502, got %d", resp.StatusCode)
	}
	orig := lastTransaction(t, core)
	if orig.Status != "Failed" || orig.Error == nil || !orig.AutoRetry {
		t.Fatalf("transient failure must be Failed with error (auto-retry eligible): %+v", orig)
	}
	up.fail(false)
	task, err := core.Rerun(orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.WaitTask(task, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	child := lastTransaction(t, core)
	parent, _ := core.Transaction(orig.ID)
	if child.ID == orig.ID || child.ParentID != orig.ID || child.Status != "Successful" {
		t.Fatalf("child %+v", child)
	}
	if !parent.WasRerun || len(parent.ChildIDs) != 1 || parent.ChildIDs[0] != child.ID {
		t.Fatalf("parent not linked to child: %+v", parent)
	}
	if child.Properties["rerun_of"] != orig.ID {
		t.Fatalf("mediator did not link the rerun: %v", child.Properties)
	}
	if up.count() != 1 || up.got[0]["name"] != "Ben" {
		t.Fatalf("upstream must hold exactly one record, got %v", up.got)
	}
}

// TestOpenHIMDownAtBoot: the daemon serves while core is unreachable, keeps
// retrying registration, and registers once core appears.
func TestOpenHIMDownAtBoot(t *testing.T) {
	port := freePort(t)
	up := newRecords(t)
	p := start(t, map[string]string{
		"JM_PROJECT":         "../examples/hello-upstream",
		"JM_CREDENTIALS":     exampleCredentials(t, up.srv.URL, upstreamPW),
		"OPENHIM_URL":        fmt.Sprintf("http://127.0.0.1:%d", port),
		"OPENHIM_USERNAME":   openhim.RootEmail,
		"OPENHIM_PASSWORD":   openhim.RootPassword,
		"HEARTBEAT_INTERVAL": "1s",
	})
	r, err := http.Get(p.URL() + "/readyz")
	if err != nil || r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("not ready while core is down: %v %v", err, r)
	}
	r.Body.Close()
	resp, err := http.Post(p.URL()+"/hello", "application/json", strings.NewReader(`{"x":1}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("must keep serving while core is down: %v %v", err, resp)
	}
	resp.Body.Close()
	core := openhim.New(openhim.Options{DisablePolling: true, APIAddr: fmt.Sprintf("127.0.0.1:%d", port)})
	if err := core.Start(); err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	waitFor(t, "registration once core is up", 90*time.Second, func() bool {
		_, ok := core.Mediator("urn:mediator:jobmediator")
		return ok
	})
}
