package openhim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// taskError carries the HTTP status POST /tasks answers with.
type taskError struct {
	code int
	msg  string
}

func (e *taskError) Error() string { return e.msg }

// Rerun is POST /tasks {tids} as root: it queues a task and processes it
// synchronously, then returns its id.
func (c *Core) Rerun(txIDs ...string) (string, error) {
	id, err := c.createTask(RootEmail, true, txIDs, 1, false)
	if err != nil {
		return "", err
	}
	c.runTask(id)
	return id, nil
}

// WaitTask blocks until the task is no longer Queued or Processing (or the
// timeout passes) and returns its document.
func (c *Core) WaitTask(id string, timeout time.Duration) (map[string]any, error) {
	deadline := time.Now().Add(timeout)
	for {
		c.mu.Lock()
		t, ok := c.tasks[id]
		t = cloneDoc(t)
		c.mu.Unlock()
		if !ok {
			return nil, ErrNotFound
		}
		if s := str(t["status"]); s != "Queued" && s != "Processing" {
			return t, nil
		}
		if time.Now().After(deadline) {
			return t, errors.New("openhim sim: task still " + str(t["status"]))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Task returns a stored task document.
func (c *Core) Task(id string) (map[string]any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.tasks[id]
	return cloneDoc(t), ok
}

// createTask is addTask (§6.1): every transaction's channel must exist and
// be enabled (400 otherwise); non-admins need the channels' txRerunAcl.
func (c *Core) createTask(email string, admin bool, tids []string, batch int, paused bool) (string, error) {
	return c.newTask(email, admin, tids, batch, paused, false)
}

// newTask stores a task; internal tasks (auto-retry) keep the transactions'
// retry counters, which the child transactions then increment.
func (c *Core) newTask(email string, admin bool, tids []string, batch int, paused, internal bool) (string, error) {
	if len(tids) == 0 {
		return "", &taskError{400, "Could not add Task via the API: tids must be a non-empty array"}
	}
	if batch < 1 {
		batch = 1
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	groups := []string{}
	if u := c.users[strings.ToLower(email)]; u != nil {
		groups = u.groups
	}
	for _, tid := range tids {
		tx, ok := c.txs[tid]
		if !ok || internal {
			continue // missing ones fail at processing time, as in core
		}
		ch, ok := c.channelLocked(str(tx["channelID"]))
		if !ok || !channelEnabled(ch) {
			return "", &taskError{400, fmt.Sprintf("Could not queue task: transaction %s belongs to a disabled or deleted channel", tid)}
		}
		if !admin && !intersects(stringsOf(ch["txRerunAcl"]), groups) {
			return "", &taskError{403, fmt.Sprintf("Insufficient permissions prevents this rerun. User %s is not allowed to rerun transactions of channel %s", email, str(ch["name"]))}
		}
	}
	id := c.newID()
	var items []any
	for _, tid := range tids {
		items = append(items, map[string]any{"tid": tid, "tstatus": "Queued"})
		if tx := c.txs[tid]; tx != nil && !internal {
			tx["autoRetry"] = false
			tx["autoRetryAttempt"] = 0.0
			delete(c.retryQ, tid)
		}
	}
	status := "Queued"
	if paused {
		status = "Paused"
	}
	c.tasks[id] = map[string]any{"_id": id, "status": status, "transactions": items, "created": isoTime(c.now()),
		"user": email, "remainingTransactions": float64(len(tids)), "totalTransactions": float64(len(tids)),
		"batchSize": float64(batch), "__v": 0.0}
	c.taskOrder = append(c.taskOrder, id)
	return id, nil
}

// runTask processes a Queued task: batchSize transactions in parallel per
// round (§6.2).
func (c *Core) runTask(id string) {
	c.mu.Lock()
	t := c.tasks[id]
	if t == nil || str(t["status"]) != "Queued" {
		c.mu.Unlock()
		return
	}
	t["status"] = "Processing"
	batch, _ := num(t["batchSize"])
	items := arr(t["transactions"])
	c.mu.Unlock()

	var pending atomic.Bool
	for start := 0; start < len(items); start += int(batch) {
		end := min(start+int(batch), len(items))
		var wg sync.WaitGroup
		for _, it := range items[start:end] {
			wg.Add(1)
			go func(item map[string]any) {
				defer wg.Done()
				if c.rerunOne(id, item) {
					pending.Store(true)
				}
			}(obj(it))
		}
		wg.Wait()
		c.mu.Lock()
		cancelled := str(t["status"]) != "Processing"
		c.mu.Unlock()
		if cancelled {
			return
		}
	}
	c.mu.Lock()
	if pending.Load() {
		t["status"] = "Pending Async"
	} else {
		t["status"] = "Completed"
		t["completedDate"] = isoTime(c.now())
	}
	c.mu.Unlock()
}

// rerunOne replays one transaction; it reports whether the child answered
// 202 (tstatus Processing).
func (c *Core) rerunOne(taskID string, item map[string]any) bool {
	c.mu.Lock()
	tid := str(item["tid"])
	item["tstatus"] = "Processing"
	tx := cloneDoc(c.txs[tid])
	c.mu.Unlock()
	fail := func(msg string) bool {
		c.mu.Lock()
		item["tstatus"] = "Failed"
		item["error"] = msg
		t := c.tasks[taskID]
		n, _ := num(t["remainingTransactions"])
		t["remainingTransactions"] = n - 1
		c.mu.Unlock()
		return false
	}
	if tx == nil {
		return fail(fmt.Sprintf("Could not find transaction with ID %s", tid))
	}
	if v, ok := tx["canRerun"].(bool); ok && !v {
		return fail(fmt.Sprintf("Transaction %s cannot be rerun", tid))
	}
	ch, ok := c.channel(str(tx["channelID"]))
	if !ok {
		return fail(fmt.Sprintf("Could not find channel of transaction %s", tid))
	}
	req := obj(tx["request"])
	// Node honours the stored host header, so the rerun server (and the
	// child transaction) see the original host.
	host := "localhost:7786"
	if h := str(obj(req["headers"])["host"]); h != "" {
		host = h
	}
	in := &inbound{kind: "rerun", method: str(req["method"]), path: str(req["path"]), query: str(req["querystring"]),
		host: host, parentID: tid, taskID: taskID}
	// Stored headers pass through the rerun server's parser: names become
	// lower-case (§6.3, §15).
	hs := obj(req["headers"])
	for _, k := range sortedKeys(hs) {
		lk := strings.ToLower(k)
		if lk == "host" || lk == "connection" {
			continue
		}
		in.headers = append(in.headers, hdr{lk, fmt.Sprint(hs[k])})
	}
	if cid := str(tx["clientID"]); cid != "" {
		in.headers = append(in.headers, hdr{"clientid", cid})
		if c.clientByID(cid) != nil {
			in.clientDocID = cid
		}
	}
	in.headers = append(in.headers, hdr{"parentid", tid}, hdr{"taskid", taskID}, hdr{"host", in.host})
	// The body is re-sent only for POST and PUT: PATCH reruns lose it.
	if in.method == "POST" || in.method == "PUT" {
		in.body = []byte(str(req["body"]))
	}
	if boolean(tx["autoRetry"]) {
		n, _ := num(tx["autoRetryAttempt"])
		in.retryAttempt = n + 1
	}
	ctx, cancel := c.internalContext(ch)
	defer cancel()
	var status int
	res := c.process(ctx, in, ch, func(r clientResponse) { status = r.status })
	c.mu.Lock()
	defer c.mu.Unlock()
	item["rerunID"] = res.id
	if child := c.txs[res.id]; child != nil && !res.mediatorStatus {
		item["rerunStatus"] = child["status"]
	}
	t := c.tasks[taskID]
	n, _ := num(t["remainingTransactions"])
	t["remainingTransactions"] = n - 1
	if status == http.StatusAccepted {
		item["tstatus"] = "Processing"
		return true
	}
	item["tstatus"] = "Completed"
	return false
}

// internalContext bounds a rerun or polling run: core's internal request
// has no timeout of its own, but a route without a primary would otherwise
// hang forever; we give up after the channel timeout plus a margin.
func (c *Core) internalContext(ch map[string]any) (context.Context, context.CancelFunc) {
	timeout := c.opts.RouterTimeout
	if t, ok := num(ch["timeout"]); ok && t > 0 {
		timeout = time.Duration(t * float64(time.Millisecond))
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Second)
	go func() {
		select {
		case <-c.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

func (c *Core) tasksAPI(x *apiCtx) {
	p, m := x.parts, x.r.Method
	switch {
	case len(p) == 1 && m == "POST":
		b := obj(x.body)
		batch := 1
		if n, ok := num(b["batchSize"]); ok {
			batch = int(n)
		}
		id, err := c.createTask(x.user.email, x.admin(), stringsOf(b["tids"]), batch, boolean(b["paused"]))
		if err != nil {
			var te *taskError
			if errors.As(err, &te) {
				x.text(te.code, te.msg)
			} else {
				x.text(500, err.Error())
			}
			return
		}
		// Core's task processor picks it up on its next poll.
		c.background(func() { c.runTask(id) })
		x.text(201, fmt.Sprintf("User %s created task with id %s", x.user.email, id))
	case len(p) == 1 && m == "GET":
		q := x.r.URL.Query()
		if q.Get("filterPage") == "" || q.Get("filterLimit") == "" || q.Get("filters") == "" {
			// Observed on 8.5: the filters are parsed unconditionally (§15).
			x.text(500, "Could not fetch all tasks via the API: SyntaxError: \"undefined\" is not valid JSON")
			return
		}
		c.mu.Lock()
		var out []any
		for _, id := range c.taskOrder {
			out = append(out, cloneDoc(c.tasks[id]))
		}
		c.mu.Unlock()
		sort.SliceStable(out, func(i, j int) bool { return str(obj(out[i])["created"]) > str(obj(out[j])["created"]) })
		if out == nil {
			out = []any{}
		}
		x.json(200, out)
	case len(p) == 2 && m == "GET":
		t, ok := c.Task(p[1])
		if !ok {
			x.text(404, fmt.Sprintf("We could not find a Task with this ID: %s.", p[1]))
			return
		}
		x.json(200, t)
	case len(p) == 2 && m == "PUT":
		if !x.requireAdmin("updateTask") {
			return
		}
		b := obj(x.body)
		c.mu.Lock()
		t, ok := c.tasks[p[1]]
		if ok {
			if s := str(b["status"]); s == "Paused" || s == "Queued" || s == "Cancelled" {
				t["status"] = s
			}
		}
		c.mu.Unlock()
		if !ok {
			x.text(404, fmt.Sprintf("We could not find a Task with this ID: %s.", p[1]))
			return
		}
		if str(b["status"]) == "Queued" {
			id := p[1]
			c.background(func() { c.runTask(id) })
		}
		x.text(200, fmt.Sprintf("The Task was successfully updated: %s", p[1]))
	case len(p) == 2 && m == "DELETE":
		if !x.requireAdmin("removeTask") {
			return
		}
		c.mu.Lock()
		delete(c.tasks, p[1])
		for i, id := range c.taskOrder {
			if id == p[1] {
				c.taskOrder = append(c.taskOrder[:i], c.taskOrder[i+1:]...)
				break
			}
		}
		c.mu.Unlock()
		x.text(200, fmt.Sprintf("The Task was successfully deleted: %s", p[1]))
	}
}

// background runs fn as in-flight work, so Wait and Close account for it.
func (c *Core) background(fn func()) {
	c.inflight.Add(1)
	go func() {
		defer c.inflight.Done()
		fn()
	}()
}

// RunAutoRetry is one run of core's auto-retry job (every minute in core,
// §6.5): for each enabled channel with autoRetryEnabled, the queued
// transactions whose request is at least autoRetryPeriodMinutes−1 minutes
// old become one task with user "internal", processed here synchronously.
// It returns the ids of the tasks created.
func (c *Core) RunAutoRetry() []string {
	now := c.now()
	byChannel := map[string][]string{}
	var order []string
	c.mu.Lock()
	for _, id := range c.txOrder {
		if !c.retryQ[id] {
			continue
		}
		tx := c.txs[id]
		ch, ok := c.channelLocked(str(tx["channelID"]))
		if !ok || !channelEnabled(ch) || !boolean(ch["autoRetryEnabled"]) {
			continue
		}
		period, ok := num(ch["autoRetryPeriodMinutes"])
		if !ok {
			period = 60
		}
		ts, _ := jsDateValue(obj(tx["request"])["timestamp"], c.loc)
		if now.Sub(ts) < time.Duration((period-1)*float64(time.Minute)) {
			continue
		}
		chID := str(ch["_id"])
		if _, seen := byChannel[chID]; !seen {
			order = append(order, chID)
		}
		byChannel[chID] = append(byChannel[chID], id)
		delete(c.retryQ, id)
	}
	c.mu.Unlock()
	var tasks []string
	for _, chID := range order {
		id, err := c.newTask("internal", true, byChannel[chID], 1, false, true)
		if err != nil {
			continue
		}
		c.runTask(id)
		tasks = append(tasks, id)
	}
	return tasks
}

// bulkRerun is POST /bulkrerun (§6.1): the transactions matching filters
// become tasks of 50 (rerun.taskTransactionsLength), newest first.
func (c *Core) bulkRerun(x *apiCtx) {
	b := obj(x.body)
	filters := obj(b["filters"])
	if filters == nil {
		filters = map[string]any{}
	}
	c.mu.Lock()
	type pick struct{ id, ts string }
	var picks []pick
	for _, id := range c.txOrder {
		d := c.txs[id]
		if !x.admin() && !c.viewableLocked(x, str(d["channelID"])) {
			continue
		}
		if matchesFilter(d, filters) {
			picks = append(picks, pick{id, str(obj(d["request"])["timestamp"])})
		}
	}
	c.mu.Unlock()
	sort.SliceStable(picks, func(i, j int) bool { return picks[i].ts > picks[j].ts })
	batch := 1
	if n, ok := num(b["batchSize"]); ok && n > 0 {
		batch = int(n)
	}
	for start := 0; start < len(picks); start += 50 {
		var tids []string
		for _, p := range picks[start:min(start+50, len(picks))] {
			tids = append(tids, p.id)
		}
		// Bulk tasks are saved directly: no channel checks, no retry reset.
		id, err := c.newTask(x.user.email, true, tids, batch, boolean(b["pauseQueue"]), true)
		if err == nil && !boolean(b["pauseQueue"]) {
			c.background(func() { c.runTask(id) })
		}
	}
	x.json(200, map[string]any{"success": true, "message": "Tasks created for bulk rerun of transactions"})
}

func (c *Core) viewableLocked(x *apiCtx, channelID string) bool {
	ch, ok := c.channelLocked(channelID)
	return ok && (intersects(stringsOf(ch["txViewAcl"]), x.user.groups) || intersects(stringsOf(ch["txViewFullAcl"]), x.user.groups))
}
