package openhim

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// routedTx sends one request through a fresh public channel and returns the
// transaction.
func routedTx(t *testing.T, c *Core, up *upstream, method, path, body string) Transaction {
	t.Helper()
	call(t, method, c.RouterURL()+path, body, map[string]string{"Content-Type": "application/json", "X-Test-Header": "hello"})
	return lastTx(t, c)
}

func TestContract72_73_TaskCreation(t *testing.T) {
	c := startCore(t, Options{})
	up := newUpstream(t, nil)
	mustAddChannel(t, c, publicChannel("c", "^/c$", route("p", up, true, nil)))
	var ids []any
	for i := 0; i < 3; i++ {
		ids = append(ids, routedTx(t, c, up, "GET", "/c", "").ID)
	}
	r := root(t, c, "POST", "/tasks", map[string]any{"tids": ids, "batchSize": 2, "paused": true})
	if r.status != 201 || !strings.Contains(r.body, "created task with id") {
		t.Fatalf("%d %q", r.status, r.body)
	}
	taskID := r.body[strings.LastIndex(r.body, " ")+1:]
	task, ok := c.Task(taskID)
	if !ok || task["status"] != "Paused" || task["remainingTransactions"] != 3.0 || len(arr(task["transactions"])) != 3 || task["batchSize"] != 2.0 {
		t.Fatalf("73 paused: %v", task)
	}
	// Unpause: Queued → processed.
	if r := root(t, c, "PUT", "/tasks/"+taskID, map[string]any{"status": "Queued"}); r.status != 200 {
		t.Fatalf("%d", r.status)
	}
	done, err := c.WaitTask(taskID, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if done["status"] != "Completed" || done["remainingTransactions"] != 0.0 || len(up.requests()) != 6 {
		t.Fatalf("%v (%d upstream calls)", done, len(up.requests()))
	}

	r = root(t, c, "POST", "/tasks", map[string]any{"tids": ids})
	taskID = r.body[strings.LastIndex(r.body, " ")+1:]
	task, _ = c.WaitTask(taskID, 5*time.Second)
	if r.status != 201 || task["totalTransactions"] != 3.0 {
		t.Fatalf("72: %d %v", r.status, task)
	}

	// 73: a transaction on a disabled or deleted channel.
	chs := c.Channels()
	root(t, c, "PUT", "/channels/"+str(chs[0]["_id"]), map[string]any{"status": "disabled"})
	if r := root(t, c, "POST", "/tasks", map[string]any{"tids": ids[:1]}); r.status != 400 {
		t.Fatalf("disabled channel: %d %q", r.status, r.body)
	}
	root(t, c, "DELETE", "/channels/"+str(chs[0]["_id"]), nil)
	if ch, _ := c.channel(str(chs[0]["_id"])); ch["status"] != "deleted" {
		t.Fatalf("a channel with transactions is only flagged deleted: %v", ch["status"])
	}
	if r := root(t, c, "POST", "/tasks", map[string]any{"tids": ids[:1]}); r.status != 400 {
		t.Fatalf("deleted channel: %d", r.status)
	}
	if _, err := c.Rerun(str(ids[0])); err == nil {
		t.Fatal("Rerun must refuse a deleted channel")
	}
}

func TestContract74_75_RerunRequestAndLinks(t *testing.T) {
	c := startCore(t, Options{})
	clientDocID := c.AddClient(Client{ClientID: "test-client", Password: "pw", Roles: []string{"r"}})
	up := newUpstream(t, nil)
	ch := publicChannel("c", "^/test$", route("p", up, true, map[string]any{"path": "/"}))
	ch["authType"] = "private"
	ch["allow"] = []any{"r"}
	mustAddChannel(t, c, ch)
	call(t, "POST", c.RouterURL()+"/test?foo=bar", `{"hello":"world"}`, map[string]string{"Content-Type": "application/json",
		"X-Test-Header": "hello", "Authorization": basicAuth("test-client", "pw")})
	orig := lastTx(t, c)

	taskID, err := c.Rerun(orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	reqs := up.requests()
	if len(reqs) != 2 {
		t.Fatalf("calls %d", len(reqs))
	}
	rr := reqs[1]
	child := lastTx(t, c)
	if rr.Method != "POST" || rr.URI != "/?foo=bar" || rr.Body != `{"hello":"world"}` {
		t.Fatalf("74: %+v", rr)
	}
	checks := map[string]string{
		"parentid": orig.ID, "taskid": taskID, "clientid": clientDocID,
		"X-OpenHIM-TransactionID": child.ID, "x-test-header": "hello",
		"x-openhim-clientid": "test-client", "x-forwarded-host": strings.TrimPrefix(c.RouterURL(), "http://"),
	}
	for k, want := range checks {
		if got := rr.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	// The stored authorization is replayed to the rerun server but stripped
	// before the route.
	if rr.Header.Get("Authorization") != "" {
		t.Error("authorization reached the route on rerun")
	}
	// Reruns go through no proxy: only the stored (lower-cased) x-forwarded-for.
	if v := rr.Header.Values("X-Forwarded-For"); len(v) != 1 {
		t.Errorf("x-forwarded-for %v", v)
	}
	parent, _ := c.Transaction(orig.ID)
	if !parent.WasRerun || !reflect.DeepEqual(parent.ChildIDs, []string{child.ID}) {
		t.Fatalf("parent %+v", parent)
	}
	if child.ParentID != orig.ID || child.TaskID != taskID || child.ID == orig.ID || child.ClientID != clientDocID {
		t.Fatalf("child %+v", child)
	}
	task, _ := c.Task(taskID)
	item := obj(arr(task["transactions"])[0])
	if task["status"] != "Completed" || item["tstatus"] != "Completed" || item["rerunID"] != child.ID || item["rerunStatus"] != "Successful" {
		t.Fatalf("task %v", task)
	}
}

func TestRerunPatchLosesBody(t *testing.T) {
	c := startCore(t, Options{})
	up := newUpstream(t, nil)
	mustAddChannel(t, c, publicChannel("c", "^/c$", route("p", up, true, nil)))
	for _, m := range []string{"PUT", "PATCH"} {
		orig := routedTx(t, c, up, m, "/c", `{"x":1}`)
		if _, err := c.Rerun(orig.ID); err != nil {
			t.Fatal(err)
		}
		reqs := up.requests()
		last := reqs[len(reqs)-1]
		want := `{"x":1}`
		if m == "PATCH" {
			want = ""
		}
		if last.Method != m || last.Body != want {
			t.Fatalf("%s rerun body %q", m, last.Body)
		}
	}
}

func TestContract76_CanRerunFalse(t *testing.T) {
	c := startCore(t, Options{})
	up := newUpstream(t, nil)
	mustAddChannel(t, c, publicChannel("c", "^/c$", route("p", up, true, nil)))
	orig := routedTx(t, c, up, "POST", "/c", "") // empty POST body: canRerun false
	taskID, err := c.Rerun(orig.ID, "ffffffffffffffffffffffff")
	if err != nil {
		t.Fatal(err)
	}
	task, _ := c.Task(taskID)
	items := arr(task["transactions"])
	for i, it := range items {
		if obj(it)["tstatus"] != "Failed" || str(obj(it)["error"]) == "" {
			t.Fatalf("item %d: %v", i, it)
		}
	}
	if task["status"] != "Completed" || len(up.requests()) != 1 {
		t.Fatalf("%v", task)
	}
}

func TestRerunAsyncTaskPending(t *testing.T) {
	c := startCore(t, Options{})
	up := newUpstream(t, mediatorReply(map[string]any{"status": "Processing", "response": map[string]any{"status": 202, "body": "Accepted request", "timestamp": "2024-01-01T10:00:00Z"}}))
	mustAddChannel(t, c, publicChannel("c", "^/c$", route("p", up, true, nil)))
	orig := routedTx(t, c, up, "GET", "/c", "")
	taskID, _ := c.Rerun(orig.ID)
	task, _ := c.Task(taskID)
	if task["status"] != "Pending Async" || obj(arr(task["transactions"])[0])["tstatus"] != "Processing" {
		t.Fatalf("%v", task)
	}
}

func TestGetTasksNeedsFilters(t *testing.T) {
	c := startCore(t, Options{})
	if r := root(t, c, "GET", "/tasks", nil); r.status != 500 {
		t.Fatalf("%d", r.status)
	}
	r := root(t, c, "GET", "/tasks?filterPage=0&filterLimit=10&filters=%7B%7D", nil)
	if r.status != 200 || r.body != "[]" {
		t.Fatalf("%d %q", r.status, r.body)
	}
	if r := root(t, c, "POST", "/tasks", map[string]any{}); r.status != 400 {
		t.Fatalf("no tids: %d", r.status)
	}
	if r := root(t, c, "GET", "/tasks/ffffffffffffffffffffffff", nil); r.status != 404 {
		t.Fatalf("unknown task: %d", r.status)
	}
}

func TestRerunACLForNonAdmins(t *testing.T) {
	c := startCore(t, Options{})
	c.AddUser(User{Email: "op@example.org", Password: "pw", Groups: []string{"ops"}})
	up := newUpstream(t, nil)
	ch := publicChannel("c", "^/c$", route("p", up, true, nil))
	ch["txRerunAcl"] = []any{"ops"}
	mustAddChannel(t, c, ch)
	mustAddChannel(t, c, publicChannel("other", "^/o$", route("p", up, true, nil)))
	a := routedTx(t, c, up, "GET", "/c", "")
	b := routedTx(t, c, up, "GET", "/o", "")
	h := map[string]string{"Authorization": basicAuth("op@example.org", "pw")}
	if r := call(t, "POST", c.APIURL()+"/tasks", map[string]any{"tids": []any{a.ID}}, h); r.status != 201 {
		t.Fatalf("allowed: %d %q", r.status, r.body)
	}
	if r := call(t, "POST", c.APIURL()+"/tasks", map[string]any{"tids": []any{b.ID}}, h); r.status != 403 {
		t.Fatalf("not allowed: %d", r.status)
	}
	c.Wait()
}

func TestContract77_PostTransaction(t *testing.T) {
	c := startCore(t, Options{MaxBodiesSizeMB: 1})
	doc := loadJSON(t, "transaction-create.json")
	r := root(t, c, "POST", "/transactions", doc)
	if r.status != 201 || r.body != stray {
		t.Fatalf("%d %q", r.status, r.body)
	}
	tx, ok := c.Transaction("6592a6c1f0e1b2a3c4d5e700")
	if !ok || tx.Status != "Successful" || tx.Response["body"] != `{"pulled":42}` || tx.Properties["recordsPulled"] != "42" || len(tx.Orchestrations) != 1 {
		t.Fatalf("%+v", tx)
	}
	// Same id again: duplicate key → 500.
	if r := root(t, c, "POST", "/transactions", doc); r.status != 500 || !strings.Contains(r.body, "E11000") {
		t.Fatalf("dup: %d %q", r.status, r.body)
	}
	// Validation errors are 500s, not 400s.
	bad := []map[string]any{
		{"request": map[string]any{"timestamp": "2024-01-01T00:00:00Z"}},
		{"status": "Successful", "request": map[string]any{}},
		{"status": "Done", "request": map[string]any{"timestamp": "2024-01-01T00:00:00Z"}},
		{"status": "Successful", "request": map[string]any{"timestamp": "not a date"}},
		{"_id": "xyz", "status": "Successful", "request": map[string]any{"timestamp": "2024-01-01T00:00:00Z"}},
	}
	for i, b := range bad {
		if r := root(t, c, "POST", "/transactions", b); r.status != 500 || !strings.HasPrefix(r.body, "Could not add a transaction via the API: ") {
			t.Errorf("bad %d: %d %q", i, r.status, r.body)
		}
	}
	// Large bodies are truncated.
	big := map[string]any{"status": "Successful", "request": map[string]any{"timestamp": 1704067200000.0, "body": strings.Repeat("x", (1<<20)+5)}}
	if r := root(t, c, "POST", "/transactions", big); r.status != 201 {
		t.Fatalf("big: %d %q", r.status, r.body)
	}
	txs := c.Transactions()
	last := txs[len(txs)-1]
	if !strings.HasSuffix(str(last.Request["body"]), truncateAppend) || last.CanRerun || last.Request["timestamp"] != "2024-01-01T00:00:00.000Z" {
		t.Fatalf("big stored: canRerun %v ts %v", last.CanRerun, last.Request["timestamp"])
	}
}

func TestContract78_PutTransactionPush(t *testing.T) {
	c := startCore(t, Options{})
	root(t, c, "POST", "/transactions", loadJSON(t, "transaction-create.json"))
	id := "6592a6c1f0e1b2a3c4d5e700"
	r := root(t, c, "PUT", "/transactions/"+id, map[string]any{"status": "Completed",
		"$push": map[string]any{"routes": map[string]any{"name": "async", "orchestrations": []any{map[string]any{"name": "o"}}}}})
	if r.status != 200 || r.body != "Transaction with ID: "+id+" successfully updated" {
		t.Fatalf("%d %q", r.status, r.body)
	}
	tx, _ := c.Transaction(id)
	if tx.Status != "Completed" || len(tx.Routes) != 1 || tx.Routes[0]["name"] != "async" {
		t.Fatalf("%+v", tx)
	}
	// The shared async update: plain fields set, $push of an orchestration.
	root(t, c, "PUT", "/transactions/"+id, loadJSON(t, "transaction-update-async.json"))
	tx, _ = c.Transaction(id)
	if tx.Status != "Successful" || tx.Response["body"] != `{"done":true}` || len(tx.Orchestrations) != 2 || tx.Orchestrations[1]["name"] != "Async completion" {
		t.Fatalf("%+v", tx)
	}
	// $each and dotted paths.
	root(t, c, "PUT", "/transactions/"+id, map[string]any{"response.status": 201,
		"$push": map[string]any{"orchestrations": map[string]any{"$each": []any{map[string]any{"name": "a"}, map[string]any{"name": "b"}}}}})
	tx, _ = c.Transaction(id)
	if tx.Response["status"] != 201.0 || len(tx.Orchestrations) != 4 {
		t.Fatalf("%+v", tx)
	}
	if r := root(t, c, "PUT", "/transactions/ffffffffffffffffffffffff", map[string]any{"status": "Failed"}); r.status != 500 {
		t.Fatalf("unknown id: %d", r.status)
	}
}

func TestContract79_PutErrorAutoRetry(t *testing.T) {
	c := startCore(t, Options{})
	up := newUpstream(t, nil)
	ch := publicChannel("c", "^/c$", route("p", up, true, nil))
	ch["autoRetryEnabled"] = true
	ch["autoRetryMaxAttempts"] = 2.0
	mustAddChannel(t, c, ch)
	tx := routedTx(t, c, up, "GET", "/c", "")
	root(t, c, "PUT", "/transactions/"+tx.ID, map[string]any{"error": map[string]any{"message": "later failure"}})
	got, _ := c.Transaction(tx.ID)
	if !got.AutoRetry || got.Error["message"] != "later failure" {
		t.Fatalf("%+v", got)
	}
	if q := c.QueuedForRetry(); len(q) != 1 {
		t.Fatalf("queue %v", q)
	}
	// At max attempts: no auto-retry.
	c.mu.Lock()
	c.txs[tx.ID]["autoRetryAttempt"] = 2.0
	c.txs[tx.ID]["autoRetry"] = false
	c.mu.Unlock()
	root(t, c, "PUT", "/transactions/"+tx.ID, map[string]any{"$push": map[string]any{"routes": map[string]any{"name": "r", "error": map[string]any{"message": "x"}}}})
	got, _ = c.Transaction(tx.ID)
	if got.AutoRetry {
		t.Fatalf("max attempts reached: %+v", got)
	}
}

func TestGetTransactionsRepresentations(t *testing.T) {
	c := startCore(t, Options{})
	up := newUpstream(t, mediatorReply(map[string]any{"status": "Successful", "response": map[string]any{"status": 200, "body": "b", "timestamp": "2024-01-01T10:00:00Z"},
		"orchestrations": []any{map[string]any{"name": "o"}}}))
	mustAddChannel(t, c, publicChannel("c", "^/c$", route("p", up, true, nil)))
	tx := routedTx(t, c, up, "POST", "/c", "payload")
	summary := decode(t, root(t, c, "GET", "/transactions", nil).body).([]any)
	if len(summary) != 1 || obj(summary[0])["orchestrations"] != nil || obj(obj(summary[0])["request"])["body"] != nil {
		t.Fatalf("summary %v", summary)
	}
	full := decode(t, root(t, c, "GET", "/transactions?filterRepresentation=full", nil).body).([]any)
	if len(arr(obj(full[0])["orchestrations"])) != 2 {
		t.Fatalf("full %v", full)
	}
	one := decode(t, root(t, c, "GET", "/transactions/"+tx.ID, nil).body).(map[string]any)
	if one["_id"] != tx.ID || len(arr(one["orchestrations"])) != 2 {
		t.Fatalf("one %v", one)
	}
	filtered := decode(t, root(t, c, "GET", `/transactions?filters=%7B%22status%22%3A%22Failed%22%7D`, nil).body).([]any)
	if len(filtered) != 0 {
		t.Fatalf("filtered %v", filtered)
	}
	if r := root(t, c, "GET", "/transactions/ffffffffffffffffffffffff", nil); r.status != 404 {
		t.Fatalf("%d", r.status)
	}
	if r := root(t, c, "GET", "/transactions?filters=%7Bbad", nil); r.status != 500 {
		t.Fatalf("bad filters: %d", r.status)
	}
}

func TestChannelsAPI(t *testing.T) {
	c := startCore(t, Options{DisablePolling: true})
	ch := loadJSON(t, "channel-http.json")
	r := root(t, c, "POST", "/channels", ch)
	if r.status != 201 || r.body != "Channel successfully created" {
		t.Fatalf("%d %q", r.status, r.body)
	}
	if r := root(t, c, "POST", "/channels", ch); r.status != 400 || !strings.Contains(r.body, "E11000") {
		t.Fatalf("duplicate name: %d %q", r.status, r.body)
	}
	id := str(c.Channels()[0]["_id"])
	bad := []struct {
		mutate func(m map[string]any)
		want   string
	}{
		{func(m map[string]any) { obj(arr(m["routes"])[0])["path"] = "/x" }, "Channel cannot have both path and pathTransform"},
		{func(m map[string]any) { obj(arr(m["routes"])[0])["pathTransform"] = "bad" }, "pathTransform must be of the form"},
		{func(m map[string]any) { m["priority"] = 0.0 }, "Channel priority cannot be below 1"},
		{func(m map[string]any) { m["methods"] = []any{"GET", "GET", "POST", "POST"} }, "Repeated methods are GET, POST"},
		{func(m map[string]any) { m["type"] = "polling" }, "Channel method can't be defined if channel type is not http"},
		{func(m map[string]any) { m["timeout"] = 0.0 }, timeoutMessage},
		{func(m map[string]any) { m["timeout"] = 3600001.0 }, timeoutMessage},
		{func(m map[string]any) { obj(arr(m["routes"])[0])["primary"] = false }, "Channel must have a primary route"},
		{func(m map[string]any) { obj(arr(m["routes"])[1])["primary"] = true }, "Channel cannot have a multiple primary routes"},
		{func(m map[string]any) { m["maxBodyAgeDays"] = 5.0; m["requestBody"] = false; m["responseBody"] = false }, maxBodyAgeMessage},
		{func(m map[string]any) { delete(m, "urlPattern") }, "urlPattern: Path `urlPattern` is required."},
		{func(m map[string]any) { obj(arr(m["routes"])[0])["type"] = "tcp" }, "is not a valid enum value for path `type`"},
		{func(m map[string]any) { m["methods"] = []any{"FETCH"} }, "is not a valid enum value for path `methods`"},
	}
	for i, b := range bad {
		m := loadJSON(t, "channel-http.json")
		m["name"] = "variant"
		b.mutate(m)
		r := root(t, c, "POST", "/channels", m)
		if r.status != 400 || !strings.Contains(r.body, b.want) {
			t.Errorf("bad %d: %d %q", i, r.status, r.body)
		}
	}
	if g := root(t, c, "GET", "/channels/"+id, nil); g.status != 200 || decode(t, g.body).(map[string]any)["name"] != "Go Example Channel" {
		t.Fatalf("get: %d", g.status)
	}
	if g := root(t, c, "GET", "/channels/ffffffffffffffffffffffff", nil); g.status != 404 {
		t.Fatalf("get unknown: %d", g.status)
	}
	if u := root(t, c, "PUT", "/channels/"+id, map[string]any{"priority": 0}); u.status != 400 {
		t.Fatalf("put bad: %d", u.status)
	}
	if u := root(t, c, "PUT", "/channels/"+id, map[string]any{"description": "changed"}); u.status != 200 || u.body != "The channel was successfully updated" {
		t.Fatalf("put: %d %q", u.status, u.body)
	}
	if ch, _ := c.channel(id); ch["description"] != "changed" || ch["name"] != "Go Example Channel" {
		t.Fatalf("after put %v", ch)
	}
	if d := root(t, c, "DELETE", "/channels/"+id, nil); d.status != 200 {
		t.Fatalf("delete: %d", d.status)
	}
	if len(c.Channels()) != 0 {
		t.Fatal("a channel without transactions is removed")
	}
	// Non-admins see only channels whose txViewAcl names their group.
	c.AddUser(User{Email: "v@example.org", Password: "pw", Groups: []string{"viewers"}})
	seenCh := publicChannel("seen", "^/s$", map[string]any{"name": "r", "host": "h", "port": 1.0, "primary": true})
	seenCh["txViewAcl"] = []any{"viewers"}
	mustAddChannel(t, c, seenCh)
	mustAddChannel(t, c, publicChannel("hidden", "^/h$", map[string]any{"name": "r", "host": "h", "port": 1.0, "primary": true}))
	l := decode(t, call(t, "GET", c.APIURL()+"/channels", nil, map[string]string{"Authorization": basicAuth("v@example.org", "pw")}).body).([]any)
	if len(l) != 1 || obj(l[0])["name"] != "seen" {
		t.Fatalf("viewer sees %v", l)
	}
}

func TestUnknownAPIPath(t *testing.T) {
	c := startCore(t, Options{})
	if r := root(t, c, "GET", "/nothing-here", nil); r.status != 404 || r.body != stray {
		t.Fatalf("%d %q", r.status, r.body)
	}
	if r := call(t, "GET", c.APIURL()+"/nothing-here", nil, nil); r.status != 401 {
		t.Fatalf("unauthenticated: %d", r.status)
	}
}

var _ = http.StatusOK

func TestTransactionViewsAndFilters(t *testing.T) {
	c := startCore(t, Options{})
	c.AddUser(User{Email: "viewer@example.org", Password: "pw", Groups: []string{"viewers"}})
	c.AddUser(User{Email: "full@example.org", Password: "pw", Groups: []string{"fullviewers"}})
	up := newUpstream(t, plainReply(201, "created"))
	ch := publicChannel("c", "^/c", route("p", up, true, nil))
	ch["txViewAcl"] = []any{"viewers", "fullviewers"}
	ch["txViewFullAcl"] = []any{"fullviewers"}
	mustAddChannel(t, c, ch)
	hidden := newUpstream(t, plainReply(500, "x"))
	mustAddChannel(t, c, publicChannel("hidden", "^/h", route("p", hidden, true, nil)))
	call(t, "POST", c.RouterURL()+"/c/Patient?x=1", "body", nil)
	call(t, "GET", c.RouterURL()+"/h", nil, nil)
	c.Wait()

	get := func(user, q string) []any {
		r := call(t, "GET", c.APIURL()+"/transactions"+q, nil, map[string]string{"Authorization": basicAuth(user, "pw")})
		if r.status != 200 {
			t.Fatalf("%s %s: %d %q", user, q, r.status, r.body)
		}
		return decode(t, r.body).([]any)
	}
	v := get("viewer@example.org", "?filterRepresentation=full")
	if len(v) != 1 || obj(obj(v[0])["request"])["body"] != nil || obj(obj(v[0])["request"])["headers"] == nil {
		t.Fatalf("viewer gets simpledetails of its channel only: %v", v)
	}
	f := get("full@example.org", "")
	if len(f) != 1 || obj(obj(f[0])["request"])["body"] != "body" {
		t.Fatalf("full viewer: %v", f)
	}
	rootGet := func(q string) []any { return decode(t, root(t, c, "GET", "/transactions"+q, nil).body).([]any) }
	if s := rootGet(""); len(s) != 2 || obj(obj(s[0])["request"])["headers"] != nil {
		t.Fatalf("simple view hides headers: %v", s)
	}
	for q, want := range map[string]int{
		`?filters={"response.status":"5xx"}`:     1,
		`?filters={"response.status":"2xx"}`:     1,
		`?filters={"request.path":"PATIENT"}`:    1,
		`?filters={"request.querystring":"x=1"}`: 1,
		`?filters={"status":"Failed"}`:           1,
		`?filters={"properties":{"nope":null}}`:  0,
		`?filterPage=1&filterLimit=1`:            1,
		`?filterPage=2&filterLimit=1`:            0,
	} {
		q = strings.NewReplacer("{", "%7B", "}", "%7D", `"`, "%22").Replace(q)
		if got := rootGet(q); len(got) != want {
			t.Errorf("%s: %d results", q, len(got))
		}
	}
	b := decode(t, root(t, c, "GET", "/transactions?filterRepresentation=bulkrerun", nil).body).(map[string]any)
	if b["count"] != 2.0 || len(obj(arr(b["transactions"])[0])) != 4 {
		t.Fatalf("bulkrerun %v", b)
	}
	id := str(obj(f[0])["_id"])
	one := decode(t, call(t, "GET", c.APIURL()+"/transactions/"+id, nil, map[string]string{"Authorization": basicAuth("viewer@example.org", "pw")}).body).(map[string]any)
	if obj(one["request"])["body"] != nil || one["orchestrations"] == nil {
		t.Fatalf("viewer by id gets simpledetails: %v", one)
	}
	if r := root(t, c, "DELETE", "/transactions/"+id, nil); r.status != 200 || r.body != "Transaction successfully deleted" {
		t.Fatalf("%d %q", r.status, r.body)
	}
}

func TestBulkRerun(t *testing.T) {
	c := startCore(t, Options{})
	up := newUpstream(t, plainReply(500, "down"))
	chID := mustAddChannel(t, c, publicChannel("c", "^/c$", route("p", up, true, nil)))
	for i := 0; i < 3; i++ {
		call(t, "GET", c.RouterURL()+"/c", nil, nil)
	}
	body := loadJSON(t, "bulkrerun-request.json")
	obj(body["filters"])["channelID"] = chID
	r := root(t, c, "POST", "/bulkrerun", body)
	if r.status != 200 || !strings.Contains(r.body, "Tasks created for bulk rerun of transactions") {
		t.Fatalf("%d %q", r.status, r.body)
	}
	c.Wait()
	c.mu.Lock()
	n := len(c.taskOrder)
	c.mu.Unlock()
	if n != 1 || len(up.requests()) != 6 {
		t.Fatalf("tasks %d, upstream calls %d", n, len(up.requests()))
	}
	task, _ := c.Task(c.taskOrder[0])
	if task["batchSize"] != 5.0 || task["totalTransactions"] != 3.0 || task["status"] != "Completed" {
		t.Fatalf("%v", task)
	}
}
