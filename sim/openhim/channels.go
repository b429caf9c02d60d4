package openhim

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

var (
	channelTypes   = []string{"http", "tcp", "tls", "polling"}
	channelMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
	rePathXform    = regexp.MustCompile(`s/.*/.*`)
)

const timeoutMessage = "Channel property timeoutSeconds has to be a number greater than 1 and less than an 3600"
const maxBodyAgeMessage = "Channel property maxBodyAgeDays has to be a number that's valid and requestBody or responseBody must be true."

// Channels returns every stored channel (including status "deleted" ones).
func (c *Core) Channels() []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]map[string]any, len(c.channels))
	for i, ch := range c.channels {
		out[i] = cloneDoc(ch)
	}
	return out
}

// AddChannel validates a channel exactly like POST /channels, stores it,
// schedules it if it is a polling channel, and returns its _id. The error
// text is the body core would answer with (400).
func (c *Core) AddChannel(ch map[string]any) (string, error) {
	ch = cloneDoc(ch)
	if msg := apiChannelChecks(ch); msg != "" {
		return "", errors.New(msg)
	}
	id, err := c.saveChannel(ch, true)
	if err != nil {
		return "", fmt.Errorf("Could not add channel via the API: %v", err)
	}
	if doc, ok := c.channel(id); ok {
		c.schedulePolling(doc)
	}
	return id, nil
}

func (c *Core) channel(id string) (map[string]any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range c.channels {
		if str(ch["_id"]) == id {
			return cloneDoc(ch), true
		}
	}
	return nil, false
}

// apiChannelChecks are the checks of src/api/channels.js addChannel, in its
// order; "" means valid.
func apiChannelChecks(ch map[string]any) string {
	if !pathsValid(ch) {
		return "Channel cannot have both path and pathTransform. pathTransform must be of the form s/from/to[/g]"
	}
	if p, ok := num(ch["priority"]); ok && p < 1 {
		return "Channel priority cannot be below 1 (= Highest priority)"
	}
	if msg := validateMethods(ch); msg != "" {
		return msg
	}
	if !timeoutValid(ch) {
		return timeoutMessage
	}
	switch n := numberOfPrimaryRoutes(arr(ch["routes"])); {
	case n == 0:
		return "Channel must have a primary route"
	case n > 1:
		return "Channel cannot have a multiple primary routes"
	}
	if !maxBodyAgeValid(ch) {
		return maxBodyAgeMessage
	}
	return ""
}

func pathsValid(ch map[string]any) bool {
	for _, r := range arr(ch["routes"]) {
		rt := obj(r)
		pt := str(rt["pathTransform"])
		if (str(rt["path"]) != "" && pt != "") || (pt != "" && !rePathXform.MatchString(pt)) {
			return false
		}
	}
	return true
}

func validateMethods(ch map[string]any) string {
	methods := stringsOf(ch["methods"])
	if len(methods) == 0 {
		return ""
	}
	t := str(ch["type"])
	if t == "" {
		t = "http"
	}
	if !strings.Contains(strings.ToLower(t), "http") {
		return "Channel method can't be defined if channel type is not http"
	}
	count := map[string]int{}
	for _, m := range methods {
		count[m]++
	}
	var rep []string
	for m, n := range count {
		if n > 1 {
			rep = append(rep, m)
		}
	}
	sort.Strings(rep)
	if len(rep) > 0 {
		return "Channel methods can't be repeated. Repeated methods are " + strings.Join(rep, ", ")
	}
	return ""
}

func timeoutValid(ch map[string]any) bool {
	v, present := ch["timeout"]
	if !present || v == nil {
		return true
	}
	f, ok := num(v)
	return ok && f > 0 && f <= 3600000
}

func maxBodyAgeValid(ch map[string]any) bool {
	v, present := ch["maxBodyAgeDays"]
	if !present || v == nil {
		return true
	}
	if !boolean(ch["requestBody"]) && !boolean(ch["responseBody"]) {
		return false
	}
	f, ok := num(v)
	return ok && f > 0 && f < 36500
}

func routeEnabled(r map[string]any) bool {
	s := str(r["status"])
	return s == "" || s == "enabled"
}

func channelEnabled(ch map[string]any) bool {
	s := str(ch["status"])
	return s == "" || s == "enabled"
}

func numberOfPrimaryRoutes(routes []any) int {
	n := 0
	for _, r := range routes {
		rt := obj(r)
		if boolean(rt["primary"]) && routeEnabled(rt) {
			n++
		}
	}
	return n
}

// channelSchemaErrors is the Mongoose validation of a channel document.
func channelSchemaErrors(ch map[string]any) []string {
	var msgs []string
	if str(ch["name"]) == "" {
		msgs = append(msgs, "name: Path `name` is required.")
	}
	if str(ch["urlPattern"]) == "" {
		msgs = append(msgs, "urlPattern: Path `urlPattern` is required.")
	}
	if t := str(ch["type"]); t != "" && !contains(channelTypes, t) {
		msgs = append(msgs, fmt.Sprintf("type: `%s` is not a valid enum value for path `type`.", t))
	}
	if p, ok := num(ch["priority"]); ok && p < 1 {
		msgs = append(msgs, fmt.Sprintf("priority: Path `priority` (%v) is less than minimum allowed value (1).", p))
	}
	if a := str(ch["authType"]); a != "" && a != "private" && a != "public" {
		msgs = append(msgs, fmt.Sprintf("authType: `%s` is not a valid enum value for path `authType`.", a))
	}
	if s := str(ch["status"]); s != "" && s != "enabled" && s != "disabled" && s != "deleted" {
		msgs = append(msgs, fmt.Sprintf("status: `%s` is not a valid enum value for path `status`.", s))
	}
	for i, m := range arr(ch["methods"]) {
		if ms, _ := m.(string); !contains(channelMethods, ms) {
			msgs = append(msgs, fmt.Sprintf("methods.%d: `%v` is not a valid enum value for path `methods`.", i, m))
		}
	}
	for i, r := range arr(ch["routes"]) {
		msgs = append(msgs, routeSchemaErrors(fmt.Sprintf("routes.%d.", i), obj(r))...)
	}
	return msgs
}

// saveChannel runs the model validation, the unique name index and the
// schema defaults, then stores the channel. Default channels come here
// without the API checks (§2.5).
func (c *Core) saveChannel(ch map[string]any, _ bool) (string, error) {
	if msgs := channelSchemaErrors(ch); len(msgs) > 0 {
		return "", vErr("Channel validation failed: %s", strings.Join(msgs, ", "))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	name := str(ch["name"])
	for _, ex := range c.channels {
		if str(ex["name"]) == name {
			return "", fmt.Errorf("MongoServerError: E11000 duplicate key error collection: openhim.channels index: name_1 dup key: { name: %q }", name)
		}
	}
	channelDefaults(c, ch)
	c.channels = append(c.channels, ch)
	return str(ch["_id"]), nil
}

func channelDefaults(c *Core, ch map[string]any) {
	if id := str(ch["_id"]); !isObjectID(id) {
		ch["_id"] = c.newID()
	}
	defaults := map[string]any{"type": "http", "authType": "private", "status": "enabled", "rewriteUrls": false,
		"addAutoRewriteRules": true, "autoRetryEnabled": false, "autoRetryPeriodMinutes": 60.0,
		"isAsynchronousProcess": false}
	for k, v := range defaults {
		if ch[k] == nil {
			ch[k] = v
		}
	}
	for _, k := range []string{"allow", "whitelist", "methods", "routes", "matchContentTypes", "txViewAcl",
		"txViewFullAcl", "txRerunAcl", "alerts", "rewriteUrlsConfig", "properties"} {
		if ch[k] == nil {
			ch[k] = []any{}
		}
	}
	for _, r := range arr(ch["routes"]) {
		if rt := obj(r); rt != nil {
			routeDefaults(c, rt)
		}
	}
	ch["__v"] = 0.0
}

func (c *Core) channelsAPI(x *apiCtx) {
	p, m := x.parts, x.r.Method
	switch {
	case len(p) == 1 && m == "GET":
		var out []any
		for _, ch := range c.Channels() {
			if x.admin() || intersects(stringsOf(ch["txViewAcl"]), x.user.groups) {
				out = append(out, ch)
			}
		}
		if out == nil {
			out = []any{}
		}
		x.json(200, out)
	case len(p) == 1 && m == "POST":
		if !x.requireAdmin("addChannel") {
			return
		}
		ch := obj(x.body)
		if ch == nil {
			x.text(400, "Could not add channel via the API: body must be a channel object")
			return
		}
		ch["updatedBy"] = map[string]any{"id": x.user.email, "name": x.user.email}
		if _, err := c.AddChannel(ch); err != nil {
			x.text(400, err.Error())
			return
		}
		x.text(201, "Channel successfully created")
	case len(p) == 2 && m == "GET":
		ch, ok := c.channel(p[1])
		switch {
		case !ok:
			x.text(404, fmt.Sprintf("We could not find a channel with Id:'%s'.", p[1]))
		case !x.admin() && !intersects(stringsOf(ch["txViewAcl"]), x.user.groups):
			x.text(403, fmt.Sprintf("Access denied to channel with Id: '%s'.", p[1]))
		default:
			x.json(200, ch)
		}
	case len(p) == 2 && m == "PUT":
		if x.requireAdmin("updateChannel") {
			c.updateChannel(x, p[1])
		}
	case len(p) == 2 && m == "DELETE":
		if x.requireAdmin("removeChannel") {
			c.removeChannel(x, p[1])
		}
	case len(p) == 3 && p[2] == "trigger" && m == "POST":
		if !x.requireAdmin("triggerChannel") {
			return
		}
		code, _ := c.TriggerPolling(p[1])
		if code == 404 {
			x.text(404, fmt.Sprintf("We could not find a channel with Id:'%s'.", p[1]))
			return
		}
		x.status(code)
	}
}

// updateChannel is PUT /channels/:id with core's checks in core's order.
func (c *Core) updateChannel(x *apiCtx, id string) {
	data := obj(x.body)
	cur, ok := c.channel(id)
	if !ok || data == nil {
		x.text(500, fmt.Sprintf("Could not update channel by id: %s via the API: channel not found", id))
		return
	}
	delete(data, "_id")
	data["updatedBy"] = map[string]any{"id": x.user.email, "name": x.user.email}
	merged := cloneDoc(cur)
	for k, v := range data {
		merged[k] = clone(v)
	}
	if t := str(data["type"]); t != "" && len(stringsOf(data["methods"])) == 0 {
		if t != "http" {
			data["methods"] = []any{}
			merged["methods"] = []any{}
		}
	} else if msg := validateMethods(merged); msg != "" {
		x.text(400, msg)
		return
	}
	msg := ""
	switch {
	case !timeoutValid(data):
		msg = timeoutMessage
	case !pathsValid(data):
		msg = "Channel cannot have both path and pathTransform. pathTransform must be of the form s/from/to[/g]"
	}
	if msg == "" {
		if pr, ok := num(data["priority"]); ok && pr < 1 {
			msg = "Channel priority cannot be below 1 (= Highest priority)"
		}
	}
	if msg == "" && data["routes"] != nil {
		switch n := numberOfPrimaryRoutes(arr(data["routes"])); {
		case n == 0:
			msg = "Channel must have a primary route"
		case n > 1:
			msg = "Channel cannot have a multiple primary routes"
		}
	}
	if msg == "" && !maxBodyAgeValid(merged) {
		msg = maxBodyAgeMessage
	}
	if msg != "" {
		x.text(400, msg)
		return
	}
	if errs := channelSchemaErrors(merged); len(errs) > 0 {
		x.text(500, fmt.Sprintf("Could not update channel by id: %s via the API: ValidationError: Channel validation failed: %s", id, strings.Join(errs, ", ")))
		return
	}
	c.mu.Lock()
	for _, ex := range c.channels {
		if str(ex["_id"]) != id && str(ex["name"]) == str(merged["name"]) {
			c.mu.Unlock()
			x.text(500, fmt.Sprintf("Could not update channel by id: %s via the API: MongoServerError: E11000 duplicate key error collection: openhim.channels index: name_1 dup key: { name: %q }", id, str(merged["name"])))
			return
		}
	}
	for _, r := range arr(merged["routes"]) {
		routeDefaults(c, obj(r))
	}
	for i, ex := range c.channels {
		if str(ex["_id"]) == id {
			c.channels[i] = merged
		}
	}
	c.mu.Unlock()
	c.schedulePolling(merged)
	x.text(200, "The channel was successfully updated")
}

// removeChannel deletes, or only flags as deleted when transactions use it.
func (c *Core) removeChannel(x *apiCtx, id string) {
	c.mu.Lock()
	used := false
	for _, tx := range c.txs {
		if str(tx["channelID"]) == id {
			used = true
			break
		}
	}
	for i, ch := range c.channels {
		if str(ch["_id"]) != id {
			continue
		}
		if used {
			ch["status"] = "deleted"
		} else {
			c.channels = append(c.channels[:i], c.channels[i+1:]...)
		}
		break
	}
	if p := c.pollers[id]; p != nil {
		p.stop()
		delete(c.pollers, id)
	}
	c.mu.Unlock()
	x.text(200, "The channel was successfully deleted")
}

func intersects(a, b []string) bool {
	for _, x := range a {
		if contains(b, x) {
			return true
		}
	}
	return false
}
