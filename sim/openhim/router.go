package openhim

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const truncateAppend = "\n[truncated ...]"

// hdr is one header line as core sends it: names keep the case they have on
// the wire (client headers lower-cased by Node's parser, core's own mixed).
type hdr struct{ name, value string }

// inbound is a request entering the routing pipeline: from the router, the
// rerun server or the polling trigger.
type inbound struct {
	kind         string // "router", "rerun", "polling"
	method       string
	path         string
	query        string
	host         string // Host header the request arrived with
	headers      []hdr
	body         []byte
	clientIP     string
	clientDocID  string // transaction clientID
	parentID     string
	taskID       string
	retryAttempt float64
	received     time.Time // ctx.requestTimestamp
}

// clientResponse is what the routing pipeline answers its caller with.
type clientResponse struct {
	status int
	header http.Header
	body   []byte
}

// routeResult is one call to a route.
type routeResult struct {
	route     map[string]any
	reqDoc    map[string]any // request as core sent it
	status    int
	headers   map[string]any // lower-cased
	ctype     string
	body      []byte
	timestamp time.Time
	err       error
}

func (r routeResult) reqTime() time.Time {
	t, _ := parseJSDateIn(str(r.reqDoc["timestamp"]), time.UTC)
	return t
}

// budget is the per-transaction body budget (§5.7).
type budget struct{ max, used int }

func (b *budget) take(s string) (string, bool) {
	if b.used+len(s) <= b.max {
		b.used += len(s)
		return s, false
	}
	keep := b.max - b.used
	if keep < 0 {
		keep = 0
	}
	b.used = b.max
	return s[:keep] + truncateAppend, true
}

var regexCache sync.Map // pattern → *regexp.Regexp or error

func jsRegexp(p string) (*regexp.Regexp, bool) {
	if v, ok := regexCache.Load(p); ok {
		re, ok := v.(*regexp.Regexp)
		return re, ok
	}
	re, err := regexp.Compile(p)
	if err != nil {
		regexCache.Store(p, err)
		return nil, false
	}
	regexCache.Store(p, re)
	return re, true
}

// matchChannel takes enabled channels in priority order (channels without
// priority last) and returns the first whose urlPattern (on the path only),
// methods, content type and content rules all pass (§4.2).
func (c *Core) matchChannel(method, path, ctype string, body []byte) map[string]any {
	chans := c.Channels()
	sort.SliceStable(chans, func(i, j int) bool {
		pi, iok := num(chans[i]["priority"])
		pj, jok := num(chans[j]["priority"])
		switch {
		case iok && jok:
			return pi < pj
		case iok:
			return true
		}
		return false
	})
	for _, ch := range chans {
		if !channelEnabled(ch) || str(ch["type"]) == "tcp" || str(ch["type"]) == "tls" {
			continue
		}
		re, ok := jsRegexp(str(ch["urlPattern"]))
		if !ok || !re.MatchString(path) {
			continue
		}
		// Since v7.0.1 the method must be listed: no methods, no match.
		if !contains(stringsOf(ch["methods"]), method) {
			continue
		}
		if cts := stringsOf(ch["matchContentTypes"]); len(cts) > 0 {
			mt, _, _ := strings.Cut(ctype, ";")
			if !contains(cts, strings.TrimSpace(mt)) {
				continue
			}
		}
		if !contentMatches(ch, body) {
			continue
		}
		return ch
	}
	return nil
}

// contentMatches applies matchContentRegex and matchContentJson/Value.
// matchContentXpath is not simulated (it never matches).
func contentMatches(ch map[string]any, body []byte) bool {
	if p := str(ch["matchContentRegex"]); p != "" {
		re, ok := jsRegexp(p)
		if !ok || !re.Match(body) {
			return false
		}
	}
	if str(ch["matchContentXpath"]) != "" {
		return false
	}
	if p := str(ch["matchContentJson"]); p != "" {
		var v any
		if json.Unmarshal(body, &v) != nil {
			return false
		}
		for _, k := range strings.Split(p, ".") {
			v = obj(v)[k]
		}
		return fmt.Sprint(v) == str(ch["matchContentValue"])
	}
	return true
}

func (c *Core) clientByBasic(h string) *client {
	scheme, cred, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "basic") {
		return nil
	}
	dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return nil
	}
	id, pw, _ := strings.Cut(string(dec), ":")
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cl := range c.clients {
		if cl.clientID == id && sha512hex(pw+cl.salt) == cl.hash {
			return cl
		}
	}
	return nil
}

func (c *Core) clientByID(id string) *client {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clients[id]
}

// authorised: public channels admit anyone; private ones a client listed
// in allow by clientID or role; a non-empty whitelist must contain the IP.
func authorised(ch map[string]any, cl *client, ip string) bool {
	if wl := stringsOf(ch["whitelist"]); len(wl) > 0 && !contains(wl, ip) {
		return false
	}
	if str(ch["authType"]) == "public" {
		return true
	}
	if cl == nil {
		return false
	}
	allow := stringsOf(ch["allow"])
	return contains(allow, cl.clientID) || intersects(allow, cl.roles)
}

func (c *Core) serveRouter(w http.ResponseWriter, r *http.Request) {
	c.inflight.Add(1)
	defer c.inflight.Done()
	body, _ := io.ReadAll(r.Body)
	// Koa's ctx.path is not percent-decoded: match and forward the raw path.
	rawPath := r.URL.EscapedPath()
	ch := c.matchChannel(r.Method, rawPath, r.Header.Get("Content-Type"), body)
	if ch == nil {
		// No transaction is stored for an unmatched request (§4.2).
		koaText(w, 404, "Not Found")
		return
	}
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	var cl *client
	if h := r.Header.Get("Authorization"); h != "" {
		cl = c.clientByBasic(h)
	}
	if !authorised(ch, cl, ip) {
		w.Header().Set("WWW-Authenticate", "Basic")
		koaText(w, 401, "Unauthorized")
		return
	}
	in := &inbound{kind: "router", method: r.Method, path: rawPath, query: r.URL.RawQuery, host: r.Host,
		body: body, clientIP: ip}
	// Node's parser lower-cases names and joins repeated headers.
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	in.headers = append(in.headers, hdr{"host", r.Host})
	for _, k := range names {
		in.headers = append(in.headers, hdr{strings.ToLower(k), strings.Join(r.Header[k], ", ")})
	}
	// Core's authentication and proxy middlewares add these before the
	// transaction is stored, so reruns replay them (§4.3, §15).
	if cl != nil {
		in.clientDocID = cl.id
		in.headers = append(in.headers, hdr{"X-OpenHIM-ClientID", cl.clientID})
	}
	in.headers = append(in.headers, hdr{"X-Forwarded-For", ip}, hdr{"X-Forwarded-Host", r.Host})

	c.process(r.Context(), in, ch, func(resp clientResponse) {
		for k, vs := range resp.header {
			w.Header()[k] = vs
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(resp.body)))
		w.WriteHeader(resp.status)
		if r.Method != "HEAD" {
			_, _ = w.Write(resp.body)
		}
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	})
}

// koaText writes a status-only Koa answer: the status text, text/plain.
func koaText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

func headerDoc(hs []hdr) map[string]any {
	m := map[string]any{}
	for _, h := range hs {
		// Mongo keys cannot contain '.' or '$'; core escapes them for the
		// incoming request (copyMapWithEscapedReservedCharacters).
		k := strings.NewReplacer(".", "\uff0e", "$", "\uff04").Replace(h.name)
		m[k] = h.value
	}
	return m
}

func splitHostPort(hostport string) (string, string) {
	h, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport, ""
	}
	return h, p
}

// process stores a transaction, routes it and finalises it. respond is
// called exactly once, when the client's answer is known (after the primary
// route), possibly before secondary routes finish.
// processed is the outcome of process: the transaction id, and whether its
// status came from the mediator (then core leaves a task's rerunStatus
// empty, §6.2).
type processed struct {
	id             string
	mediatorStatus bool
}

func (c *Core) process(ctx context.Context, in *inbound, ch map[string]any, respond func(clientResponse)) processed {
	c.inflight.Add(1)
	defer c.inflight.Done()
	// Close must not wait for slow routes: closing cancels them.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		select {
		case <-c.closing:
			stop()
		case <-ctx.Done():
		}
	}()
	responded := false
	reply := func(r clientResponse) {
		if !responded {
			responded = true
			respond(r)
		}
	}
	defer func() {
		if !responded {
			reply(clientResponse{status: 500, header: http.Header{}, body: nil})
		}
	}()

	b := &budget{max: c.opts.MaxBodiesSizeMB << 20}
	now := c.now()
	in.received = now
	txID := c.newID()
	async := boolean(ch["isAsynchronousProcess"])
	status := "Processing"
	if async {
		status = "Pending Async"
	}
	host, port := splitHostPort(in.host)
	reqBody := string(in.body)
	canRerun := true
	bodyMethod := in.method == "POST" || in.method == "PUT" || in.method == "PATCH"
	if v, ok := ch["requestBody"].(bool); ok && !v {
		reqBody = ""
		if bodyMethod {
			canRerun = false
		}
	} else {
		var trunc bool
		reqBody, trunc = b.take(reqBody)
		if trunc {
			canRerun = false
		}
	}
	if bodyMethod && len(in.body) == 0 {
		canRerun = false
	}
	tx := map[string]any{
		"_id": txID, "status": status, "channelID": str(ch["_id"]), "canRerun": canRerun,
		"autoRetry": false, "autoRetryAttempt": in.retryAttempt, "wasRerun": false, "childIDs": []any{},
		"request": map[string]any{"host": host, "port": port, "path": in.path, "headers": headerDoc(in.headers),
			"querystring": in.query, "body": reqBody, "method": in.method, "timestamp": isoTime(now)},
		"orchestrations": []any{}, "routes": []any{}, "__v": 0.0,
	}
	if in.clientDocID != "" {
		tx["clientID"] = in.clientDocID
	}
	if in.clientIP != "" {
		tx["clientIP"] = in.clientIP
	}
	if in.parentID != "" {
		tx["parentID"] = in.parentID
	}
	if in.taskID != "" {
		tx["taskID"] = in.taskID
	}
	c.mu.Lock()
	c.txs[txID] = tx
	c.txOrder = append(c.txOrder, txID)
	c.mu.Unlock()
	if in.parentID != "" {
		// rerunUpdateTransactionTask: link parent and child (§6.2).
		c.mu.Lock()
		if p := c.txs[in.parentID]; p != nil {
			p["childIDs"] = append(arr(p["childIDs"]), txID)
			p["wasRerun"] = true
		}
		c.mu.Unlock()
	}

	timeout := c.opts.RouterTimeout
	if t, ok := num(ch["timeout"]); ok && t > 0 {
		timeout = time.Duration(t * float64(time.Millisecond))
	}
	var primary map[string]any
	var now1, later []map[string]any
	for _, r := range arr(ch["routes"]) {
		rt := obj(r)
		if rt == nil || !routeEnabled(rt) {
			continue
		}
		switch {
		case boolean(rt["primary"]):
			primary = rt
			now1 = append(now1, rt)
		case boolean(rt["waitPrimaryResponse"]):
			later = append(later, rt)
		default:
			now1 = append(now1, rt)
		}
	}
	if numberOfPrimaryRoutes(arr(ch["routes"])) > 1 {
		err := errors.New("Cannot route transaction: Channel contains multiple primary routes and only one primary is allowed")
		c.failTransaction(txID, b, err, nil)
		reply(internalError(txID))
		// A configuration error, not a delivery failure: nothing to retry.
		c.finalise(txID, ch, nil, nil, false)
		return processed{id: txID}
	}

	// Headers object shared by every route, as in core: once a route without
	// forwardAuthHeader has dropped authorization, later ones lack it too.
	shared := &sharedHeaders{hs: append([]hdr(nil), in.headers...)}
	results := make(chan routeResult, len(now1)+len(later))
	var wg sync.WaitGroup
	var primaryCh = make(chan routeResult, 1)
	for _, rt := range now1 {
		wg.Add(1)
		hs := shared.forRoute(rt) // in route order, before any goroutine runs
		go func(rt map[string]any) {
			defer wg.Done()
			res := c.callRoute(ctx, in, rt, hs, txID, timeout)
			if boolean(rt["primary"]) {
				primaryCh <- res
			} else {
				results <- res
			}
		}(rt)
	}

	var med map[string]any // parsed mediator response of the primary
	var primaryStatus int
	autoRetry := false
	if primary == nil {
		// No primary route: the router only calls next() from the primary's
		// handler, so the client hangs until it gives up (§2.5).
		select {
		case <-ctx.Done():
		case <-c.closing:
		}
		wg.Wait()
		return processed{id: txID}
	}
	pr := <-primaryCh
	// With only a primary route, finalise before answering, so a client
	// that reads the transaction right after its response sees the final
	// status (core sets it a moment later; nothing can observe the gap).
	// With secondaries the client is answered first, as core does; use
	// Wait before reading such transactions.
	onlyPrimary := len(now1) == 1 && len(later) == 0
	var held *clientResponse
	primaryReply := reply
	if onlyPrimary {
		primaryReply = func(r clientResponse) { held = &r }
		defer func() {
			if held != nil {
				reply(*held)
			}
		}()
	}
	med, primaryStatus, autoRetry = c.handlePrimary(txID, ch, b, pr, async, primaryReply)

	// waitPrimaryResponse routes run only when the primary's status passes
	// statusCodesCheck (§4.3).
	for _, rt := range later {
		if !statusCodesMatch(str(rt["statusCodesCheck"]), primaryStatus) {
			continue
		}
		wg.Add(1)
		hs := shared.forRoute(rt)
		go func(rt map[string]any) {
			defer wg.Done()
			results <- c.callRoute(ctx, in, rt, hs, txID, timeout)
		}(rt)
	}
	wg.Wait()
	close(results)
	var secondaries []routeResult
	for r := range results {
		secondaries = append(secondaries, r)
	}
	sort.SliceStable(secondaries, func(i, j int) bool { return secondaries[i].timestamp.Before(secondaries[j].timestamp) })
	if c.storeSecondaries(txID, ch, b, secondaries) {
		autoRetry = true
	}
	c.finalise(txID, ch, med, secondaries, autoRetry)
	return processed{txID, med != nil && med["status"] != nil}
}

func internalError(txID string) clientResponse {
	h := http.Header{}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-OpenHIM-TransactionID", txID)
	return clientResponse{status: 500, header: h, body: []byte("An internal server error occurred")}
}

// statusCodesMatch: a comma list of codes; a code containing '*' compares
// only the first digit ("2**"), so "2xx" only matches literally (§4.3).
func statusCodesMatch(check string, status int) bool {
	if check == "" {
		return true
	}
	s := strconv.Itoa(status)
	for _, code := range strings.Split(check, ",") {
		code = strings.TrimSpace(code)
		if strings.Contains(code, "*") {
			if code != "" && s != "" && code[0] == s[0] {
				return true
			}
		} else if code == s {
			return true
		}
	}
	return false
}

type sharedHeaders struct {
	mu sync.Mutex
	hs []hdr
}

// forRoute takes the headers for one route from the shared object, in the
// order core builds its routes' options: a route without forwardAuthHeader
// deletes authorization for itself and every later route.
func (s *sharedHeaders) forRoute(rt map[string]any) []hdr {
	s.mu.Lock()
	defer s.mu.Unlock()
	var hs, kept []hdr
	for _, h := range s.hs {
		n := strings.ToLower(h.name)
		if n == "authorization" && !boolean(rt["forwardAuthHeader"]) {
			continue // dropped from the shared object
		}
		kept = append(kept, h)
		switch n {
		case "host", "content-length", "transfer-encoding", "connection":
			continue // Go's transport writes its own
		}
		hs = append(hs, h)
	}
	s.hs = kept
	return hs
}

// callRoute sends the request to one route as core's router does (§4.3).
func (c *Core) callRoute(ctx context.Context, in *inbound, rt map[string]any, hs []hdr, txID string, timeout time.Duration) routeResult {
	res := routeResult{route: rt}
	path := in.path
	if p := str(rt["path"]); p != "" {
		path = p
	} else if pt := str(rt["pathTransform"]); pt != "" {
		path = transformPath(path, pt)
	}
	full := path
	if in.query != "" {
		full += "?" + in.query
	}
	host := str(rt["host"])
	portF, _ := num(rt["port"])
	port := strconv.Itoa(int(portF))
	scheme := "http"
	if boolean(rt["secured"]) {
		scheme = "https"
	}

	hs = append(append([]hdr(nil), hs...), hdr{"X-OpenHIM-TransactionID", txID})

	var body []byte
	if in.method == "POST" || in.method == "PUT" || in.method == "PATCH" {
		body = in.body
	}
	// Core records requests with the transaction's request timestamp: its
	// own orchestration (primary) with what it sent, a secondary route with
	// the inbound request's path, querystring and headers.
	if boolean(rt["primary"]) {
		res.reqDoc = map[string]any{"host": host, "port": port, "path": full, "headers": headerDoc(hs),
			"method": in.method, "body": string(body), "timestamp": isoTime(in.received)}
	} else {
		res.reqDoc = map[string]any{"host": host, "port": port, "path": path, "headers": headerDoc(hs[:len(hs)-1]),
			"querystring": in.query, "method": in.method, "timestamp": isoTime(in.received)}
	}

	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, in.method, scheme+"://"+net.JoinHostPort(host, port)+full, bytes.NewReader(body))
	if err != nil {
		res.err = err
		return res
	}
	if body == nil {
		req.Body = http.NoBody
		req.ContentLength = 0
	}
	// Route credentials go in Node's `auth` option, not the headers object,
	// so core's orchestration record never contains them.
	sent := hs
	if u, p := str(rt["username"]), str(rt["password"]); u != "" && p != "" {
		sent = append(append([]hdr(nil), hs...), hdr{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p))})
	}
	req.Header = http.Header{}
	for _, h := range sent {
		name := h.name
		if strings.EqualFold(name, "user-agent") {
			// Go's transport writes User-Agent itself; only the canonical
			// key replaces its default.
			name = "User-Agent"
		}
		req.Header[name] = append(req.Header[name], h.value)
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header["User-Agent"] = []string{""} // Node sends none
	}
	resp, err := c.routeHC.Do(req)
	if err == nil {
		res.body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	res.timestamp = c.now()
	if err != nil {
		if rctx.Err() == context.DeadlineExceeded {
			res.err = fmt.Errorf("Request took longer than %dms", timeout.Milliseconds())
		} else {
			res.err = nodeNetError(err, host, port)
		}
		res.body = nil
		return res
	}
	res.status = resp.StatusCode
	res.headers = map[string]any{}
	for k, vs := range resp.Header {
		lk := strings.ToLower(k)
		if lk == "set-cookie" {
			res.headers[lk] = clone(vs)
		} else {
			res.headers[lk] = strings.Join(vs, ", ")
		}
	}
	res.ctype = resp.Header.Get("Content-Type")
	// Core decompresses gzip and deflate only (§5.6).
	switch strings.ToLower(resp.Header.Get("Content-Encoding")) {
	case "gzip":
		if zr, err := gzip.NewReader(bytes.NewReader(res.body)); err == nil {
			if d, err := io.ReadAll(zr); err == nil {
				res.body = d
			}
		}
	case "deflate":
		if d, err := io.ReadAll(flate.NewReader(bytes.NewReader(res.body))); err == nil {
			res.body = d
		}
	}
	return res
}

// nodeNetError words a network error as Node would, e.g. "connect
// ECONNREFUSED 127.0.0.1:9".
func nodeNetError(err error, host, port string) error {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		addr := net.JoinHostPort(host, port)
		var op *net.OpError
		if errors.As(err, &op) && op.Addr != nil {
			addr = op.Addr.String()
		}
		return fmt.Errorf("connect ECONNREFUSED %s", addr)
	case errors.As(err, &dnsErr):
		return fmt.Errorf("getaddrinfo ENOTFOUND %s", host)
	case errors.Is(err, syscall.ECONNRESET):
		return errors.New("read ECONNRESET")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("socket hang up")
	}
	return err
}

// transformPath applies "s/from/to[/g]" where from is a JS regex and "\/"
// escapes a slash (core's router.transformPath).
func transformPath(path, expr string) string {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(expr); i++ {
		if expr[i] == '\\' && i+1 < len(expr) && expr[i+1] == '/' {
			cur.WriteByte('/')
			i++
			continue
		}
		if expr[i] == '/' {
			parts = append(parts, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteByte(expr[i])
	}
	parts = append(parts, cur.String())
	if len(parts) < 3 || parts[0] != "s" {
		return path
	}
	from, to := parts[1], parts[2]
	global := len(parts) > 3 && strings.Contains(parts[3], "g")
	re, err := regexp.Compile(from)
	if err != nil {
		return path
	}
	to = jsReplacement(to)
	if global {
		return re.ReplaceAllString(path, to)
	}
	loc := re.FindStringSubmatchIndex(path)
	if loc == nil {
		return path
	}
	var dst []byte
	dst = re.ExpandString(dst, to, path, loc)
	return path[:loc[0]] + string(dst) + path[loc[1]:]
}

// jsReplacement turns JS "$1"/"$&" into Go's "${1}"/"${0}" and escapes other
// '$'.
func jsReplacement(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) {
			n := s[i+1]
			switch {
			case n >= '0' && n <= '9':
				b.WriteString("${" + string(n) + "}")
				i++
				continue
			case n == '&':
				b.WriteString("${0}")
				i++
				continue
			case n == '$':
				b.WriteString("$$")
				i++
				continue
			}
		}
		b.WriteString("$$")
	}
	return b.String()
}

// parseIntJS is parseInt on a status: numbers are truncated, strings parse
// their leading digits.
func parseIntJS(v any) (int, bool) {
	switch t := v.(type) {
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return 0, false
		}
		return int(t), true
	case string:
		s := strings.TrimSpace(t)
		end := 0
		if end < len(s) && (s[end] == '-' || s[end] == '+') {
			end++
		}
		for end < len(s) && s[end] >= '0' && s[end] <= '9' {
			end++
		}
		n, err := strconv.Atoi(s[:end])
		return n, err == nil
	}
	return 0, false
}

// handlePrimary turns the primary route's result into the client response
// (setKoaResponse, §5.2) and stores response, orchestrations, properties and
// error (storeResponse, §4.5, §5.6). It returns the mediator response (if
// any), the status the client got and whether auto-retry is due.
func (c *Core) handlePrimary(txID string, ch map[string]any, b *budget, pr routeResult, async bool, reply func(clientResponse)) (map[string]any, int, bool) {
	coreOrch := map[string]any{"name": str(pr.route["name"]), "request": pr.reqDoc}
	if pr.err != nil {
		coreOrch["error"] = map[string]any{"message": pr.err.Error(), "stack": "Error: " + pr.err.Error()}
		c.failTransaction(txID, b, pr.err, coreOrch)
		reply(internalError(txID))
		return nil, 500, true
	}
	rawBody := string(pr.body)
	coreOrch["response"] = map[string]any{"status": float64(pr.status), "headers": pr.headers, "body": rawBody,
		"timestamp": isoTime(pr.timestamp)}

	respDoc := map[string]any{"status": float64(pr.status), "headers": cloneDoc(pr.headers), "body": rawBody,
		"timestamp": isoTime(pr.timestamp)}
	var med map[string]any
	var medErr error
	if strings.Contains(pr.ctype, "application/json+openhim") {
		var v any
		if err := json.Unmarshal(pr.body, &v); err != nil {
			medErr = fmt.Errorf("SyntaxError: %v", err)
		} else if m, ok := v.(map[string]any); !ok {
			medErr = errors.New("TypeError: Cannot read properties of null (reading 'response')")
		} else {
			med = m
			if r, ok := m["response"].(map[string]any); ok {
				respDoc = cloneDoc(r)
			} else {
				medErr = errors.New("TypeError: Cannot read properties of undefined (reading 'status')")
			}
		}
	}
	if medErr != nil && med == nil {
		c.failTransaction(txID, b, medErr, coreOrch)
		reply(internalError(txID))
		return nil, 500, true
	}
	autoRetry := med != nil && med["error"] != nil

	status, ok := parseIntJS(respDoc["status"])
	if medErr == nil && (!ok || status < 100 || status > 999) {
		medErr = fmt.Errorf("AssertionError: invalid status code: %v", respDoc["status"])
	}
	if medErr != nil {
		// Koa throws: the client gets 500, but a mediator status still wins
		// (§5.6).
		c.failTransaction(txID, b, medErr, coreOrch)
		reply(internalError(txID))
		return med, 500, true
	}

	out := clientResponse{status: status, header: http.Header{}}
	hdrs := obj(respDoc["headers"])
	var typ string
	redirect := ""
	for _, k := range sortedKeys(hdrs) {
		v := hdrs[k]
		switch lk := strings.ToLower(k); lk {
		case "content-length", "content-encoding", "transfer-encoding":
		case "content-type":
			typ = fmt.Sprint(v)
		case "location":
			if status >= 300 && status < 400 {
				redirect = fmt.Sprint(v)
			} else {
				out.header.Set("Location", fmt.Sprint(v))
			}
		default:
			switch t := v.(type) {
			case []any:
				for _, x := range t {
					out.header.Add(k, fmt.Sprint(x))
				}
			case string:
				out.header.Set(k, t)
			default:
				out.header.Set(k, fmt.Sprint(t))
			}
		}
	}
	if hdrs != nil {
		out.header.Set("X-OpenHIM-TransactionID", txID)
		hdrs["X-OpenHIM-TransactionID"] = txID
	}
	storedBody := ""
	switch bv := respDoc["body"].(type) {
	case nil:
	case string:
		out.body = []byte(bv)
		storedBody = bv
		if typ == "" {
			if strings.HasPrefix(strings.TrimLeft(bv, " \t\r\n"), "<") {
				typ = "text/html; charset=utf-8"
			} else {
				typ = "text/plain; charset=utf-8"
			}
		}
	default:
		// Koa serialises objects for the client; the stored string is
		// String(obj) (§5.1).
		out.body, _ = json.Marshal(bv)
		storedBody = "[object Object]"
		if _, isArr := bv.([]any); !isArr {
			if _, isMap := bv.(map[string]any); !isMap {
				storedBody = fmt.Sprint(bv)
			}
		}
		if typ == "" {
			typ = "application/json; charset=utf-8"
		}
	}
	if med == nil {
		out.body = pr.body
		if typ == "" && len(pr.body) > 0 {
			typ = "application/octet-stream"
		}
	}
	if typ != "" {
		out.header.Set("Content-Type", typ)
	}
	if redirect != "" {
		out.header.Set("Location", redirect)
		out.header.Set("Content-Type", "text/plain; charset=utf-8")
		out.body = []byte("Redirecting to " + redirect + ".")
	}
	if async && status < 400 {
		out.status = 202
	}

	// Store the response (and the mediator's extras), unless the mediator
	// response fails the transaction schema (§5.6).
	respDoc["status"] = float64(out.status)
	respDoc["body"] = storedBody
	if v, ok := ch["responseBody"].(bool); ok && !v {
		respDoc["body"] = ""
	}
	respDoc["body"], _ = b.take(str(respDoc["body"]))
	if ts, ok := respDoc["timestamp"]; ok {
		if t, ok := jsDateValue(ts, c.loc); ok {
			respDoc["timestamp"] = isoTime(t)
		} else {
			delete(respDoc, "timestamp")
		}
	}
	var orchs []any
	valid := true
	if med != nil {
		if o, present := med["orchestrations"]; present && o != nil {
			list, isArr := o.([]any)
			if !isArr {
				valid = false
			}
			for _, x := range list {
				od := cloneDoc(obj(x))
				if !c.validOrchestration(od) {
					valid = false
					break
				}
				truncateOrch(b, od)
				orchs = append(orchs, od)
			}
		}
	}
	truncateOrch(b, coreOrch)
	orchs = append(orchs, coreOrch)

	c.mu.Lock()
	tx := c.txs[txID]
	if valid {
		tx["response"] = respDoc
		tx["orchestrations"] = append(arr(tx["orchestrations"]), orchs...)
		if med != nil {
			if p, ok := med["properties"].(map[string]any); ok {
				tx["properties"] = cloneDoc(p)
			}
			if e, ok := med["error"].(map[string]any); ok {
				tx["error"] = cloneDoc(e)
			}
		}
	}
	c.mu.Unlock()
	reply(out)
	return med, out.status, autoRetry
}

// validOrchestration is the schema check: a name, and a request timestamp
// whenever there is a request.
func (c *Core) validOrchestration(o map[string]any) bool {
	if o == nil || str(o["name"]) == "" {
		return false
	}
	if r, present := o["request"]; present && r != nil {
		rq := obj(r)
		if rq == nil {
			return false
		}
		if _, ok := jsDateValue(rq["timestamp"], c.loc); !ok {
			return false
		}
	}
	return true
}

func truncateOrch(b *budget, o map[string]any) {
	for _, k := range []string{"request", "response"} {
		if part := obj(o[k]); part != nil {
			if s, ok := part["body"].(string); ok {
				part["body"], _ = b.take(s)
			}
		}
	}
}

// failTransaction records a primary failure: 500 response, error, and
// core's orchestration when there is one.
func (c *Core) failTransaction(txID string, b *budget, err error, coreOrch map[string]any) {
	body, _ := b.take("An internal server error occurred")
	c.mu.Lock()
	defer c.mu.Unlock()
	tx := c.txs[txID]
	tx["response"] = map[string]any{"status": 500.0, "headers": map[string]any{}, "body": body, "timestamp": isoTime(c.now())}
	tx["error"] = map[string]any{"message": err.Error(), "stack": "Error: " + err.Error()}
	if coreOrch != nil {
		truncateOrch(b, coreOrch)
		tx["orchestrations"] = append(arr(tx["orchestrations"]), coreOrch)
	}
}

// storeSecondaries records non-primary routes; a network error on any of
// them sets auto-retry for the whole transaction (§4.4).
func (c *Core) storeSecondaries(txID string, ch map[string]any, b *budget, rs []routeResult) bool {
	retry := false
	var docs []any
	for _, r := range rs {
		d := map[string]any{"name": str(r.route["name"]), "request": r.reqDoc}
		truncateOrch(b, d)
		if r.err != nil {
			retry = true
			d["error"] = map[string]any{"message": r.err.Error(), "stack": "Error: " + r.err.Error()}
			d["response"] = map[string]any{"status": 500.0, "timestamp": isoTime(r.reqTime())}
			docs = append(docs, d)
			continue
		}
		resp := map[string]any{"status": float64(r.status), "headers": r.headers, "body": string(r.body),
			"timestamp": isoTime(r.timestamp)}
		if strings.Contains(r.ctype, "application/json+openhim") {
			var m map[string]any
			if json.Unmarshal(r.body, &m) == nil && m != nil {
				// A secondary mediator's status and error are ignored; its
				// response, orchestrations and properties are kept.
				if mr := obj(m["response"]); mr != nil {
					resp = cloneDoc(mr)
				}
				if o := arr(m["orchestrations"]); o != nil {
					os := clone(o).([]any)
					for _, x := range os {
						truncateOrch(b, obj(x))
					}
					d["orchestrations"] = os
				}
				if p := obj(m["properties"]); p != nil {
					d["properties"] = cloneDoc(p)
				}
			}
		}
		if v, ok := ch["responseBody"].(bool); ok && !v {
			resp["body"] = ""
		}
		if s, ok := resp["body"].(string); ok {
			resp["body"], _ = b.take(s)
		}
		d["response"] = resp
		docs = append(docs, d)
	}
	if len(docs) > 0 {
		c.mu.Lock()
		tx := c.txs[txID]
		tx["routes"] = append(arr(tx["routes"]), docs...)
		c.mu.Unlock()
	}
	return retry
}

// finalise is setFinalStatus (§5.3) plus the auto-retry flag (§5.4).
func (c *Core) finalise(txID string, ch map[string]any, med map[string]any, secondaries []routeResult, autoRetry bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tx := c.txs[txID]
	async := boolean(ch["isAsynchronousProcess"])
	if med != nil && med["status"] != nil {
		// Not validated: whatever the mediator wrote is stored (§5.1).
		tx["status"] = med["status"]
	} else {
		p, _ := num(obj(tx["response"])["status"])
		tx["status"] = deriveStatus(int(p), routeStatuses(tx), async)
	}
	if autoRetry {
		max, hasMax := num(ch["autoRetryMaxAttempts"])
		attempt, _ := num(tx["autoRetryAttempt"])
		if !hasMax || max <= 0 || attempt < max {
			tx["autoRetry"] = true
			c.retryQ[txID] = true // the job only takes autoRetryEnabled channels
		}
	}
}

func routeStatuses(tx map[string]any) []int {
	var out []int
	for _, r := range arr(tx["routes"]) {
		s, _ := num(obj(obj(r)["response"])["status"])
		out = append(out, int(s))
	}
	return out
}

// deriveStatus is core's table (§5.3) for primary status p and secondary
// statuses rs.
func deriveStatus(p int, rs []int, async bool) string {
	if p >= 500 {
		return "Failed"
	}
	status := "Processing"
	all2xx := true
	for _, r := range rs {
		if r >= 500 {
			status = "Completed with error(s)"
		}
		if r < 200 || r >= 300 {
			all2xx = false
		}
	}
	switch {
	case p >= 200 && p < 300 && all2xx:
		status = "Successful"
		if async {
			status = "Pending Async"
		}
	case p >= 400 && p < 500 && all2xx:
		status = "Completed"
	}
	if status == "Processing" {
		status = "Completed"
	}
	return status
}
