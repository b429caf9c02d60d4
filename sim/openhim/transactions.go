package openhim

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Transaction is a typed view of a stored transaction document.
type Transaction struct {
	ID, ChannelID, ClientID, ParentID, TaskID, Status string
	ChildIDs                                          []string
	WasRerun, AutoRetry, CanRerun                     bool
	AutoRetryAttempt                                  int
	Request, Response                                 map[string]any
	Orchestrations                                    []map[string]any
	Properties                                        map[string]any
	Error                                             map[string]any
	Routes                                            []map[string]any
}

func toTransaction(d map[string]any) Transaction {
	d = cloneDoc(d)
	t := Transaction{ID: str(d["_id"]), ChannelID: str(d["channelID"]), ClientID: str(d["clientID"]),
		ParentID: str(d["parentID"]), TaskID: str(d["taskID"]), Status: fmt.Sprint(d["status"]),
		ChildIDs: stringsOf(d["childIDs"]), WasRerun: boolean(d["wasRerun"]), AutoRetry: boolean(d["autoRetry"]),
		Request: obj(d["request"]), Response: obj(d["response"]), Properties: obj(d["properties"]),
		Error: obj(d["error"])}
	if d["status"] == nil {
		t.Status = ""
	}
	if v, ok := d["canRerun"].(bool); ok {
		t.CanRerun = v
	} else {
		t.CanRerun = true // the schema default
	}
	if n, ok := num(d["autoRetryAttempt"]); ok {
		t.AutoRetryAttempt = int(n)
	}
	for _, o := range arr(d["orchestrations"]) {
		t.Orchestrations = append(t.Orchestrations, obj(o))
	}
	for _, r := range arr(d["routes"]) {
		t.Routes = append(t.Routes, obj(r))
	}
	return t
}

// Transactions returns every stored transaction, oldest first.
func (c *Core) Transactions() []Transaction {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Transaction, 0, len(c.txOrder))
	for _, id := range c.txOrder {
		out = append(out, toTransaction(c.txs[id]))
	}
	return out
}

// Transaction returns one stored transaction.
func (c *Core) Transaction(id string) (Transaction, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.txs[id]
	if !ok {
		return Transaction{}, false
	}
	return toTransaction(d), true
}

var txStatuses = []string{"Processing", "Failed", "Completed", "Successful", "Completed with error(s)", "Pending Async"}

func (c *Core) transactionsAPI(x *apiCtx) {
	p, m := x.parts, x.r.Method
	switch {
	case len(p) == 1 && m == "GET":
		c.listTransactions(x)
	case len(p) == 1 && m == "POST":
		if x.requireAdmin("addTransaction") {
			c.addTransaction(x)
		}
	case len(p) == 2 && m == "GET":
		c.mu.Lock()
		d, ok := c.txs[p[1]]
		d = cloneDoc(d)
		c.mu.Unlock()
		if !ok {
			x.text(404, fmt.Sprintf("Could not find transaction with ID: %s", p[1]))
			return
		}
		rep := x.r.URL.Query().Get("filterRepresentation")
		if rep == "" {
			rep = "full"
		}
		if !x.admin() {
			if !c.canView(x, str(d["channelID"])) {
				x.text(403, fmt.Sprintf("User %s is not authenticated to retrieve transaction %s", x.user.email, p[1]))
				return
			}
			rep = "simpledetails"
			if ch, ok := c.channel(str(d["channelID"])); ok && intersects(stringsOf(ch["txViewFullAcl"]), x.user.groups) {
				rep = "full"
			}
		}
		project(d, rep)
		x.json(200, d)
	case len(p) == 2 && m == "PUT":
		if x.requireAdmin("updateTransaction") {
			c.updateTransaction(x, p[1])
		}
	case len(p) == 2 && m == "DELETE":
		if !x.requireAdmin("removeTransaction") {
			return
		}
		c.mu.Lock()
		delete(c.txs, p[1])
		for i, id := range c.txOrder {
			if id == p[1] {
				c.txOrder = append(c.txOrder[:i], c.txOrder[i+1:]...)
				break
			}
		}
		c.mu.Unlock()
		x.text(200, "Transaction successfully deleted")
	}
}

func (c *Core) canView(x *apiCtx, channelID string) bool {
	ch, ok := c.channel(channelID)
	return ok && intersects(stringsOf(ch["txViewAcl"]), x.user.groups)
}

// listTransactions is GET /transactions with filterPage, filterLimit,
// filters (equality on top-level or dotted fields) and filterRepresentation
// (simple/simpledetails: summaries; full/fulltruncate: everything).
func (c *Core) listTransactions(x *apiCtx) {
	q := x.r.URL.Query()
	var filters map[string]any
	if f := q.Get("filters"); f != "" {
		if err := json.Unmarshal([]byte(f), &filters); err != nil {
			x.text(500, fmt.Sprintf("Could not retrieve transactions via the API: %v", err))
			return
		}
	}
	page, _ := strconv.Atoi(q.Get("filterPage"))
	limit, _ := strconv.Atoi(q.Get("filterLimit"))
	rep := q.Get("filterRepresentation")

	c.mu.Lock()
	var docs []map[string]any
	for _, id := range c.txOrder {
		docs = append(docs, cloneDoc(c.txs[id]))
	}
	c.mu.Unlock()
	var out []any
	for _, d := range docs {
		if !x.admin() && !c.canView(x, str(d["channelID"])) {
			continue
		}
		if !matchesFilter(d, filters) {
			continue
		}
		out = append(out, d)
	}
	// Newest first, by request timestamp, as core sorts.
	sort.SliceStable(out, func(i, j int) bool {
		return str(obj(obj(out[i])["request"])["timestamp"]) > str(obj(obj(out[j])["request"])["timestamp"])
	})
	if limit > 0 {
		start := page * limit
		if start > len(out) {
			start = len(out)
		}
		end := start + limit
		if end > len(out) {
			end = len(out)
		}
		out = out[start:end]
	}
	if !x.admin() {
		// Non-admins get the view their groups allow on those channels.
		rep = ""
		if c.userHasACL(x, "txViewAcl") {
			rep = "simpledetails"
		}
		if c.userHasACL(x, "txViewFullAcl") {
			rep = "full"
		}
	}
	for _, d := range out {
		project(obj(d), rep)
	}
	if out == nil {
		out = []any{}
	}
	if rep == "bulkrerun" {
		x.json(200, map[string]any{"count": len(out), "transactions": out})
		return
	}
	x.json(200, out)
}

func (c *Core) userHasACL(x *apiCtx, acl string) bool {
	for _, ch := range c.Channels() {
		if intersects(stringsOf(ch[acl]), x.user.groups) {
			return true
		}
	}
	return false
}

// project applies core's filterRepresentation projections.
func project(doc map[string]any, rep string) {
	parts := func(d map[string]any) []map[string]any {
		return []map[string]any{obj(d["request"]), obj(d["response"])}
	}
	switch rep {
	case "full":
	case "fulltruncate":
		all := []map[string]any{doc}
		for _, k := range []string{"routes", "orchestrations"} {
			for _, x := range arr(doc[k]) {
				all = append(all, obj(x))
			}
		}
		for _, d := range all {
			for _, part := range parts(d) {
				if s, ok := part["body"].(string); ok && len(s) > 15000 {
					part["body"] = s[:15000] + truncateAppend
				}
			}
		}
	case "simpledetails":
		all := []map[string]any{doc}
		for _, k := range []string{"routes", "orchestrations"} {
			for _, x := range arr(doc[k]) {
				all = append(all, obj(x))
			}
		}
		for _, d := range all {
			for _, part := range parts(d) {
				delete(part, "body")
			}
		}
	case "bulkrerun":
		for k := range doc {
			if k != "_id" && k != "childIDs" && k != "canRerun" && k != "channelID" {
				delete(doc, k)
			}
		}
	default: // simple
		delete(doc, "orchestrations")
		delete(doc, "routes")
		for _, part := range parts(doc) {
			delete(part, "body")
			delete(part, "headers")
		}
	}
}

// matchesFilter evaluates the subset of core's transaction filters the
// simulator supports: equality on (dotted) fields, case-insensitive regexes
// for request.path and request.querystring, status classes ("5xx") for
// response.status, and properties {key: value|null}.
func matchesFilter(d map[string]any, f map[string]any) bool {
	for k, want := range f {
		v := getPath(d, k)
		switch {
		case k == "properties":
			for pk, pv := range obj(want) {
				got, ok := obj(d["properties"])[pk]
				if !ok || (pv != nil && fmt.Sprint(got) != fmt.Sprint(pv)) {
					return false
				}
			}
		case strings.HasSuffix(k, ".path") || strings.HasSuffix(k, ".querystring"):
			re, err := regexp.Compile("(?i)" + fmt.Sprint(want))
			if err != nil || !re.MatchString(fmt.Sprint(v)) {
				return false
			}
		case strings.HasSuffix(k, "response.status") && reStatusClass.MatchString(fmt.Sprint(want)):
			n, _ := num(v)
			class := float64(fmt.Sprint(want)[0]-'0') * 100
			if n < class || n >= class+100 {
				return false
			}
		default:
			if fmt.Sprint(v) != fmt.Sprint(want) {
				return false
			}
		}
	}
	return true
}

var reStatusClass = regexp.MustCompile(`^[1-5]xx$`)

// addTransaction is POST /transactions (§7.1): any error is a 500.
func (c *Core) addTransaction(x *apiCtx) {
	d := cloneDoc(obj(x.body))
	fail := func(msg string) { x.text(500, "Could not add a transaction via the API: "+msg) }
	if d == nil {
		fail("TypeError: body must be a transaction object")
		return
	}
	var msgs []string
	st, _ := d["status"].(string)
	if d["status"] == nil {
		msgs = append(msgs, "status: Path `status` is required.")
	} else if !contains(txStatuses, st) {
		msgs = append(msgs, fmt.Sprintf("status: `%v` is not a valid enum value for path `status`.", d["status"]))
	}
	req := obj(d["request"])
	if req == nil || req["timestamp"] == nil {
		msgs = append(msgs, "request.timestamp: Path `request.timestamp` is required.")
	} else if t, ok := jsDateValue(req["timestamp"], c.loc); !ok {
		msgs = append(msgs, fmt.Sprintf("request.timestamp: Cast to date failed for value %q at path \"request.timestamp\"", fmt.Sprint(req["timestamp"])))
	} else {
		req["timestamp"] = isoTime(t)
	}
	for i, o := range arr(d["orchestrations"]) {
		if !c.validOrchestration(obj(o)) {
			msgs = append(msgs, fmt.Sprintf("orchestrations.%d: invalid orchestration (name and request.timestamp are required)", i))
		}
	}
	if len(msgs) > 0 {
		fail("ValidationError: Transaction validation failed: " + strings.Join(msgs, ", "))
		return
	}
	id := str(d["_id"])
	if id == "" {
		id = c.newID()
	} else if !isObjectID(id) {
		fail(fmt.Sprintf("CastError: Cast to ObjectId failed for value %q (type string) at path \"_id\"", id))
		return
	}
	d["_id"] = id
	b := &budget{max: c.opts.MaxBodiesSizeMB << 20}
	truncateTx(b, d)
	for k, v := range map[string]any{"canRerun": true, "autoRetry": false, "autoRetryAttempt": 0.0, "wasRerun": false,
		"childIDs": []any{}, "orchestrations": []any{}, "routes": []any{}, "__v": 0.0} {
		if d[k] == nil {
			d[k] = v
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.txs[id]; dup {
		fail(fmt.Sprintf("MongoServerError: E11000 duplicate key error collection: openhim.transactions index: _id_ dup key: { _id: ObjectId('%s') }", id))
		return
	}
	c.txs[id] = d
	c.txOrder = append(c.txOrder, id)
	x.status(201)
}

// truncateTx enforces the body budget in core's storage order: request,
// response, orchestrations, routes. A truncated request body makes the
// transaction non-rerunnable.
func truncateTx(b *budget, d map[string]any) {
	if req := obj(d["request"]); req != nil {
		if s, ok := req["body"].(string); ok {
			var trunc bool
			req["body"], trunc = b.take(s)
			if trunc {
				d["canRerun"] = false
			}
		}
	}
	if resp := obj(d["response"]); resp != nil {
		if s, ok := resp["body"].(string); ok {
			resp["body"], _ = b.take(s)
		}
	}
	for _, o := range arr(d["orchestrations"]) {
		truncateOrch(b, obj(o))
	}
	for _, r := range arr(d["routes"]) {
		truncateOrch(b, obj(r))
		for _, o := range arr(obj(r)["orchestrations"]) {
			truncateOrch(b, obj(o))
		}
	}
}

func bodiesSize(d map[string]any) int {
	n := 0
	add := func(m map[string]any) {
		for _, k := range []string{"request", "response"} {
			n += len(str(obj(m[k])["body"]))
		}
	}
	add(d)
	for _, o := range arr(d["orchestrations"]) {
		add(obj(o))
	}
	for _, r := range arr(d["routes"]) {
		add(obj(r))
		for _, o := range arr(obj(r)["orchestrations"]) {
			add(obj(o))
		}
	}
	return n
}

// updateTransaction is PUT /transactions/:id: the body goes verbatim to
// findByIdAndUpdate — plain fields are set (dotted paths too), $push
// appends (with $each), and an error sets auto-retry (§7.1).
func (c *Core) updateTransaction(x *apiCtx, id string) {
	upd := cloneDoc(obj(x.body))
	c.mu.Lock()
	defer c.mu.Unlock()
	tx, ok := c.txs[id]
	if !ok || upd == nil {
		x.text(500, fmt.Sprintf("Could not update transaction via the API: transaction %s not found", id))
		return
	}
	b := &budget{max: c.opts.MaxBodiesSizeMB << 20, used: bodiesSize(tx)}
	wantsRetry := upd["error"] != nil
	for _, r := range arr(upd["routes"]) {
		if obj(r)["error"] != nil {
			wantsRetry = true
		}
	}
	push := obj(upd["$push"])
	delete(upd, "$push")
	if push != nil && obj(push["routes"])["error"] != nil {
		wantsRetry = true
	}
	if s, ok := upd["status"]; ok && s != nil {
		if ss, _ := s.(string); !contains(txStatuses, ss) {
			x.text(500, fmt.Sprintf("Could not update transaction via the API: ValidationError: status: `%v` is not a valid enum value for path `status`.", s))
			return
		}
	}
	truncateTx(b, upd)
	for k, v := range upd {
		if strings.HasPrefix(k, "$") || k == "_id" {
			continue
		}
		setPath(tx, k, v)
	}
	for field, v := range push {
		items := []any{v}
		if each := obj(v); each != nil && each["$each"] != nil {
			items = arr(each["$each"])
		}
		for _, it := range items {
			if m := obj(it); m != nil {
				truncateOrch(b, m)
			}
		}
		setPath(tx, field, append(arr(getPath(tx, field)), items...))
	}
	if wantsRetry {
		ch, _ := c.channelLocked(str(tx["channelID"]))
		max, hasMax := num(ch["autoRetryMaxAttempts"])
		attempt, _ := num(tx["autoRetryAttempt"])
		if !hasMax || max <= 0 || attempt < max {
			tx["autoRetry"] = true
			c.retryQ[id] = true
		}
	}
	x.text(200, fmt.Sprintf("Transaction with ID: %s successfully updated", id))
}

func (c *Core) channelLocked(id string) (map[string]any, bool) {
	for _, ch := range c.channels {
		if str(ch["_id"]) == id {
			return ch, true
		}
	}
	return nil, false
}

func getPath(d map[string]any, path string) any {
	var v any = d
	for _, p := range strings.Split(path, ".") {
		v = obj(v)[p]
	}
	return v
}

func setPath(d map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	cur := d
	for _, p := range parts[:len(parts)-1] {
		next := obj(cur[p])
		if next == nil {
			next = map[string]any{}
			cur[p] = next
		}
		cur = next
	}
	cur[parts[len(parts)-1]] = v
}

// QueuedForRetry returns the ids of transactions in core's auto-retry queue
// (an error or network failure below the channel's max attempts), sorted.
// Only channels with autoRetryEnabled are taken by RunAutoRetry.
func (c *Core) QueuedForRetry() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for id := range c.retryQ {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}
