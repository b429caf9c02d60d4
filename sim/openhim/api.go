package openhim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// apiCtx is one API request, after authentication.
type apiCtx struct {
	w     http.ResponseWriter
	r     *http.Request
	raw   []byte
	body  any // parsed JSON body; map{} when not JSON, as koa-bodyparser leaves it
	user  *user
	basic bool // authenticated with Basic: status-only answers get core's stray body
	parts []string
	done  bool
}

// status answers with only a status code. Koa then writes the status text
// ("Created", "Not Found"), except under Basic auth, where core's passport
// callback already set ctx.body = "User Authenticated Successfully" (§1.2).
func (x *apiCtx) status(code int) {
	body := http.StatusText(code)
	if x.basic {
		body = "User Authenticated Successfully"
	}
	x.text(code, body)
}

func (x *apiCtx) text(code int, body string) {
	if x.done {
		return
	}
	x.done = true
	x.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	x.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	x.w.WriteHeader(code)
	_, _ = io.WriteString(x.w, body)
}

func (x *apiCtx) json(code int, v any) {
	if x.done {
		return
	}
	x.done = true
	b, err := json.Marshal(v)
	if err != nil {
		code, b = 500, []byte("Internal Server Error")
	}
	x.w.Header().Set("Content-Type", "application/json; charset=utf-8")
	x.w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	x.w.WriteHeader(code)
	_, _ = x.w.Write(b)
}

func (x *apiCtx) admin() bool { return x.user != nil && contains(x.user.groups, "admin") }

// requireAdmin answers 403 with core's text for non-admins (§1.5).
func (x *apiCtx) requireAdmin(op string) bool {
	if x.admin() {
		return true
	}
	x.text(403, fmt.Sprintf("User %s is not an admin, API access to %s denied.", x.user.email, op))
	return false
}

func (c *Core) authEnabled(kind string) bool { return contains(c.opts.AuthTypes, kind) }

func (c *Core) serveAPI(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 50<<20+1)) // api.maxPayloadSizeMB
	c.mu.Lock()
	c.requests = append(c.requests, RecordedRequest{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: string(raw), Time: c.now()})
	c.mu.Unlock()

	x := &apiCtx{w: w, r: r, raw: raw, body: map[string]any{}}
	for _, p := range strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/") {
		// Core URL-decodes path parameters and then unescape()s them (§2.4).
		if u, err := url.PathUnescape(p); err == nil {
			p = jsUnescape(u)
		}
		x.parts = append(x.parts, p)
	}
	if len(raw) > 50<<20 {
		x.text(413, "Payload Too Large")
		return
	}
	if strings.Contains(r.Header.Get("Content-Type"), "json") && len(bytes.TrimSpace(raw)) > 0 {
		var v any
		// koa-bodyparser is strict: only an object or an array is JSON.
		trimmed := bytes.TrimSpace(raw)
		if err := json.Unmarshal(raw, &v); err != nil || (trimmed[0] != '{' && trimmed[0] != '[') {
			// koa-bodyparser's error reaches Koa's default handler: 400 text.
			x.text(400, "invalid JSON, only supports object and array")
			return
		}
		x.body = v
	}

	// Public endpoints.
	switch {
	case r.Method == "GET" && len(x.parts) == 1 && x.parts[0] == "heartbeat":
		c.coreHeartbeat(x)
		return
	case r.Method == "GET" && len(x.parts) == 2 && x.parts[0] == "authenticate":
		c.authenticateToken(x, x.parts[1])
		return
	case r.Method == "POST" && len(x.parts) == 2 && x.parts[0] == "authenticate" && x.parts[1] == "local":
		c.loginLocal(x)
		return
	}

	u, basic := c.authenticate(r)
	if u == nil {
		// Core sets only the status: Koa's default text, no details (§1.4).
		x.text(401, "Unauthorized")
		return
	}
	x.user, x.basic = u, basic
	c.dispatch(x)
	if !x.done {
		x.status(404)
	}
}

func (c *Core) dispatch(x *apiCtx) {
	p, m := x.parts, x.r.Method
	n := len(p)
	switch {
	case n == 1 && p[0] == "about" && m == "GET":
		x.json(200, map[string]any{"currentCoreVersion": c.opts.Version, "serverTimezone": c.opts.TimeZone})
	case n == 1 && p[0] == "me" && m == "GET":
		x.json(200, map[string]any{"user": map[string]any{"email": x.user.email, "groups": x.user.groups}})
	case n == 1 && p[0] == "logout" && m == "GET":
		if ck, err := x.r.Cookie("koa.sess"); err == nil {
			c.mu.Lock()
			delete(c.sessions, ck.Value)
			c.mu.Unlock()
		}
		x.status(200)

	case n >= 1 && p[0] == "mediators":
		c.mediatorsAPI(x)
	case n >= 1 && p[0] == "channels":
		c.channelsAPI(x)
	case n >= 1 && p[0] == "transactions":
		c.transactionsAPI(x)
	case n >= 1 && p[0] == "tasks":
		c.tasksAPI(x)
	case n == 1 && p[0] == "bulkrerun" && m == "POST":
		c.bulkRerun(x)
	}
}

// ---- authentication (§1)

// authenticate picks the scheme as core ≥7.2 does: any auth-* header means
// token auth only; otherwise Basic, then a cookie session.
func (c *Core) authenticate(r *http.Request) (*user, bool) {
	for k := range r.Header {
		if strings.HasPrefix(strings.ToLower(k), "auth-") {
			if !c.authEnabled("token") {
				return nil, false
			}
			return c.tokenAuth(r), false
		}
	}
	if h := r.Header.Get("Authorization"); h != "" {
		if !c.authEnabled("basic") {
			return nil, false
		}
		scheme, cred, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "basic") {
			return nil, false
		}
		dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
		if err != nil {
			return nil, false
		}
		email, pw, ok := strings.Cut(string(dec), ":")
		if !ok {
			return nil, false
		}
		c.mu.Lock()
		u := c.users[strings.ToLower(email)]
		c.mu.Unlock()
		if u == nil || sha512hex(u.salt+pw) != u.hash {
			return nil, false
		}
		return u, true
	}
	if ck, err := r.Cookie("koa.sess"); err == nil && c.authEnabled("local") {
		c.mu.Lock()
		defer c.mu.Unlock()
		if email, ok := c.sessions[ck.Value]; ok {
			return c.users[strings.ToLower(email)], false
		}
	}
	return nil, false
}

func (c *Core) tokenAuth(r *http.Request) *user {
	h := r.Header
	email, ts, salt, token := h.Get("auth-username"), h.Get("auth-ts"), h.Get("auth-salt"), h.Get("auth-token")
	if email == "" || ts == "" || salt == "" || token == "" {
		return nil
	}
	t, ok := parseJSDateIn(ts, c.loc)
	if !ok {
		return nil
	}
	if d := c.now().Sub(t); d > c.opts.AuthWindow || d < -c.opts.AuthWindow {
		return nil
	}
	c.mu.Lock()
	u := c.users[strings.ToLower(email)]
	c.mu.Unlock()
	if u == nil || !u.token {
		return nil
	}
	if sha512hex(u.hash+salt+ts) != token {
		return nil
	}
	return u
}

// GET /authenticate/:email (§1.1): the token passport's salt and core's time.
func (c *Core) authenticateToken(x *apiCtx, email string) {
	c.mu.Lock()
	u := c.users[strings.ToLower(email)]
	c.mu.Unlock()
	if u == nil || !u.token {
		x.text(404, fmt.Sprintf("Could not find user by email %s", email))
		return
	}
	x.json(200, map[string]any{"salt": u.salt, "ts": isoTime(c.now())})
}

// POST /authenticate/local (§1.3): cookie login.
func (c *Core) loginLocal(x *apiCtx) {
	b := obj(x.body)
	if !c.authEnabled("local") {
		x.text(401, "Unauthorized")
		return
	}
	email, pw := str(b["username"]), str(b["password"])
	c.mu.Lock()
	u := c.users[strings.ToLower(email)]
	c.mu.Unlock()
	if u == nil || email == "" || sha512hex(u.salt+pw) != u.hash {
		x.text(401, "Unauthorized")
		return
	}
	sid := newUUID()
	c.mu.Lock()
	c.sessions[sid] = u.email
	c.mu.Unlock()
	http.SetCookie(x.w, &http.Cookie{Name: "koa.sess", Value: sid, Path: "/", MaxAge: 7200, HttpOnly: true,
		Secure: true, SameSite: http.SameSiteNoneMode})
	x.json(200, map[string]any{"result": "User authenticated successfully",
		"user": map[string]any{"email": u.email, "groups": u.groups}})
}

// GET /heartbeat (§3, public): core uptime, mediators' uptime or null after
// 60 s of silence, and now in epoch ms.
func (c *Core) coreHeartbeat(x *apiCtx) {
	now := c.now()
	meds := map[string]any{}
	c.mu.Lock()
	for urn, m := range c.mediators {
		var up any
		if last, ok := parseJSDateIn(str(m["_lastHeartbeat"]), time.UTC); ok && now.Sub(last) <= 60*time.Second {
			up = m["_uptime"]
		}
		meds[urn] = up
	}
	c.mu.Unlock()
	x.json(200, map[string]any{"master": now.Sub(c.started).Seconds(), "mediators": meds, "now": now.UnixMilli()})
}

// ---- JS dates

var (
	reISONoZone  = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$`)
	reISODate    = regexp.MustCompile(`^\d{4}-\d{2}(-\d{2})?$`)
	reJSToString = regexp.MustCompile(`^\w{3} \w{3} \d{2} \d{4} \d{2}:\d{2}:\d{2} GMT[+-]\d{4}`)
)

// parseJSDateIn parses what JS Date.parse accepts in practice: ISO-8601
// with a zone, ISO date-times without one (core's local zone), date-only
// ISO (UTC), Date.toString(), toUTCString() and a zone written as +0200.
func parseJSDateIn(s string, loc *time.Location) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	switch {
	case reISODate.MatchString(s):
		for _, l := range []string{"2006-01-02", "2006-01"} {
			if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
				return t, true
			}
		}
	case reISONoZone.MatchString(s):
		for _, l := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02T15:04"} {
			if t, err := time.ParseInLocation(l, s, loc); err == nil {
				return t, true
			}
		}
	case reJSToString.MatchString(s):
		if t, err := time.Parse("Mon Jan 02 2006 15:04:05 GMT-0700", s[:33]); err == nil {
			return t, true
		}
	}
	for _, l := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", time.RFC1123, time.RFC1123Z} {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// jsDateValue casts a stored date field like Mongoose's `new Date(x)`:
// strings as Date.parse, numbers as epoch milliseconds.
func jsDateValue(v any, loc *time.Location) (time.Time, bool) {
	switch t := v.(type) {
	case string:
		return parseJSDateIn(t, loc)
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return time.Time{}, false
		}
		return time.UnixMilli(int64(t)), true
	}
	return time.Time{}, false
}

// zoneNames are ICU's long names as Node prints them in Date.toString().
var zoneNames = map[string]string{
	"UTC": "Coordinated Universal Time", "Etc/UTC": "Coordinated Universal Time",
	"Africa/Johannesburg": "South Africa Standard Time", "Africa/Nairobi": "East Africa Time",
	"Africa/Kampala": "East Africa Time", "Africa/Dar_es_Salaam": "East Africa Time",
	"Africa/Lagos": "West Africa Standard Time", "Africa/Kigali": "Central Africa Time",
	"Africa/Maputo": "Central Africa Time", "Africa/Lusaka": "Central Africa Time",
	"Europe/London": "Greenwich Mean Time", "Asia/Kolkata": "India Standard Time",
}

// jsDateString formats t as Node's Date.prototype.toString() in core's zone
// (§4.6: x-openhim-lastrunat), e.g. "Sun Nov 22 2026 14:25:14 GMT+0000
// (Coordinated Universal Time)". Milliseconds are dropped, as in JS.
func (c *Core) jsDateString(t time.Time) string {
	t = t.In(c.loc)
	name, ok := zoneNames[c.opts.TimeZone]
	if !ok {
		name, _ = t.Zone()
	}
	return t.Format("Mon Jan 02 2006 15:04:05 GMT-0700") + " (" + name + ")"
}

// jsUnescape is JavaScript's unescape(): %XX and %uXXXX sequences are
// decoded, anything else is left as it is.
func jsUnescape(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' {
			if i+5 < len(s) && s[i+1] == 'u' {
				if n, err := strconv.ParseUint(s[i+2:i+6], 16, 16); err == nil {
					b.WriteRune(rune(n))
					i += 5
					continue
				}
			}
			if i+2 < len(s) {
				if n, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
					b.WriteRune(rune(n)) // Latin-1, as unescape does
					i += 2
					continue
				}
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
