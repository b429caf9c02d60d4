package openhim

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSharedPollingChannel saves the shared polling channel as a console
// would and fires it: the route receives the request the shared capture
// shows.
func TestSharedPollingChannel(t *testing.T) {
	runAt := time.Date(2024, 1, 1, 2, 0, 0, 0, time.UTC)
	c := startCore(t, Options{DisablePolling: true, Now: func() time.Time { return runAt }})
	up := newUpstream(t, nil)
	ch := loadJSON(t, "channel-polling.json")
	host, port := up.hostPort()
	rt := ch["routes"].([]any)[0].(map[string]any)
	rt["host"], rt["port"] = host, port
	if r := root(t, c, "POST", "/channels", ch); r.status != 201 {
		t.Fatalf("POST /channels: %d %s", r.status, r.body)
	}
	var id string
	for _, saved := range c.Channels() {
		if saved["name"] == "Go Example Nightly Pull" {
			id = str(saved["_id"])
		}
	}
	if code, err := c.TriggerPolling(id); code != 200 || err != nil {
		t.Fatalf("trigger: %d %v", code, err)
	}
	capture, err := ReadAnnotated(sharedTestdata + "/request-to-mediator-polling.txt")
	if err != nil {
		t.Fatal(err)
	}
	line, want := capture.Head[0], map[string]string{}
	for _, name := range capture.HeaderNames() {
		want[name], _ = capture.Header(name)
	}
	got := up.requests()
	if len(got) != 1 || line != got[0].Method+" "+got[0].URI+" HTTP/1.1" {
		t.Fatalf("requests %+v, want %q", got, line)
	}
	// Ids are made up in the capture; they must be ours here.
	want["channel-id"] = id
	want["x-openhim-transactionid"] = lastTx(t, c).ID
	delete(want, "host")       // set by the HTTP client from the route
	delete(want, "connection") // Node-version dependent, says the capture
	for k, v := range want {
		if g := got[0].Header.Get(k); g != v {
			t.Errorf("header %s = %q, want %q", k, g, v)
		}
	}
	if got[0].Body != "" {
		t.Errorf("a poll has no body: %q", got[0].Body)
	}
}

// TestSharedTaskCreate posts the shared POST /tasks body, with its made-up
// transaction ids replaced by real ones.
func TestSharedTaskCreate(t *testing.T) {
	c := startCore(t, Options{})
	up := newUpstream(t, nil)
	mustAddChannel(t, c, publicChannel("c", "^/c$", route("p", up, true, nil)))
	body := loadJSON(t, "task-create.json")
	tids := body["tids"].([]any)
	for i := range tids {
		tids[i] = routedTx(t, c, up, "GET", "/c", "").ID
	}
	r := root(t, c, "POST", "/tasks", body)
	if r.status != 201 || !strings.Contains(r.body, "created task with id") {
		t.Fatalf("POST /tasks: %d %q", r.status, r.body)
	}
	task, err := c.WaitTask(r.body[strings.LastIndex(r.body, " ")+1:], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if task["status"] != "Completed" || task["batchSize"] != 2.0 || task["totalTransactions"] != float64(len(tids)) {
		t.Fatalf("task %v", task)
	}
	if n := len(up.requests()); n != 2*len(tids) {
		t.Fatalf("upstream saw %d requests, want the originals and one rerun each (%d)", n, 2*len(tids))
	}
}

// TestSimulatorMatchesCore85Captures: what the simulator sends a mediator
// for a routed request, its rerun and a polling trigger has the same
// request line and the same headers, with the same values, as a running
// core 8.5 sent in the shared captures (ids, ports and dates aside).
func TestSimulatorMatchesCore85Captures(t *testing.T) {
	caps, err := ReadCaptures(sharedTestdata + "/captured-requests-core-8.5.md")
	if err != nil {
		t.Fatal(err)
	}
	c := startCore(t, Options{DisablePolling: true})
	clientDoc := c.AddClient(Client{ClientID: "test-client", Password: "pw", Roles: []string{"test"}})
	up := newUpstream(t, nil)
	ch := publicChannel("capture", "^/test$", route("primary", up, true, map[string]any{"path": "/"}))
	ch["authType"], ch["allow"] = "private", []any{"test"}
	mustAddChannel(t, c, ch)
	// As curl sent it: Go's default transport would add Accept-Encoding,
	// which core forwards.
	req, _ := http.NewRequest("POST", c.RouterURL()+"/test?foo=bar", strings.NewReader(`{"hello":"world"}`))
	for k, v := range map[string]string{"Authorization": basicAuth("test-client", "pw"), "User-Agent": "curl/7.88.1",
		"Accept": "*/*", "Content-Type": "application/json", "X-Test-Header": "hello"} {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	orig := lastTx(t, c)
	task, err := c.Rerun(orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitTask(task, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	c.Wait()
	rerunTx, _ := c.Transaction(orig.ID)
	poll := mustAddChannel(t, c, pollingChannel("poll", up, "1 minute", map[string]any{"path": "/poll"}))
	if code, err := c.TriggerPolling(poll); code != 200 || err != nil {
		t.Fatalf("trigger: %d %v", code, err)
	}
	got := up.requests()
	if len(got) != 3 || len(rerunTx.ChildIDs) != 1 {
		t.Fatalf("upstream saw %d requests (want routed, rerun, poll); children %v", len(got), rerunTx.ChildIDs)
	}
	// What varies between runs: our ids, ports and the poll's date.
	ours := map[string]string{
		"x-openhim-transactionid": "", "x-forwarded-host": strings.TrimPrefix(c.RouterURL(), "http://"),
		"clientid": clientDoc, "parentid": orig.ID, "taskid": task, "channel-id": poll,
	}
	for i, want := range []Capture{caps[0], caps[1], caps[2]} {
		g := got[i]
		ours["x-openhim-transactionid"] = g.Header.Get("X-OpenHIM-TransactionID")
		if want.Head[0] != g.Method+" "+g.URI+" HTTP/1.1" {
			t.Errorf("%s: request line %q, core sent %q", want.Title, g.Method+" "+g.URI, want.Head[0])
		}
		names := map[string]bool{}
		for _, name := range want.HeaderNames() {
			names[name] = true
			switch name {
			case "host", "connection", "content-length": // set by the HTTP stack
				continue
			}
			v, _ := want.Header(name)
			if o, varies := ours[name]; varies {
				v = o
			}
			if name == "x-openhim-lastrunat" {
				if _, ok := parseJSDateIn(g.Header.Get(name), time.UTC); !ok {
					t.Errorf("%s: %s %q is not a JS Date.toString()", want.Title, name, g.Header.Get(name))
				}
				continue
			}
			if gv := g.Header.Get(name); gv != v {
				t.Errorf("%s: header %s = %q, core sent %q", want.Title, name, gv, v)
			}
		}
		for name := range g.Header {
			if l := strings.ToLower(name); !names[l] && l != "content-length" && l != "connection" {
				t.Errorf("%s: the simulator sent %s, core does not", want.Title, name)
			}
		}
	}
}
