package http

import (
	"encoding/base64"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/dop251/goja"

	"github.com/jobmediator/jobmediator/adaptors"
	"github.com/jobmediator/jobmediator/adaptors/common"
	"github.com/jobmediator/jobmediator/internal/urlenc"
)

// modernRequest is one language-http ≥6 request (common's request engine
// under undici) from resolved arguments to the response object, natively:
// host.modernRequest(method, path, options, state, composeNextState)
// returns the next state, composeNextState(state, body) with response
// {url, method, statusCode, statusMessage, headers, duration[, query]}
// (without compose: the response with its body) or throws
// what the JavaScript did (BASE_URL_MISMATCH, "<METHOD> to <url> returned
// <code>: <reason>" with the response's fields, JSON.parse's SyntaxError for
// parseAs "json").
//
// It was JavaScript in http.js, and interpreting it (URL splitting with
// regular expressions, header scans, the request and response objects) was
// about a third of the CPU of a routed post in the make bench profile: the
// same rules in Go cost a fraction. What jobs can change stays looked up in
// the VM at call time: JSON.stringify and JSON.parse, console.log and
// console.warn, a Buffer body's toString.
func modernRequest(env *adaptors.Env, request adaptors.RequestOptions) func(goja.FunctionCall) goja.Value {
	// none stands for missing options and configuration: it is only read
	// (never handed to the job), so one per VM serves every request
	none := env.VM.NewObject()
	return func(call goja.FunctionCall) goja.Value {
		vm := env.VM
		method := call.Argument(0).String()
		path := call.Argument(1)
		options, _ := call.Argument(2).(*goja.Object)
		if options == nil || !truthy(call.Argument(2)) {
			options = none
		}
		state, _ := call.Argument(3).(*goja.Object)
		conf := none
		if state != nil {
			if c, ok := state.Get("configuration").(*goja.Object); ok && truthy(c) {
				conf = c
			}
		}

		// tls: the request's, else its (deprecated) agentOptions, else
		// configuration.tls
		tls := options.Get("tls")
		if !adaptors.Present(tls) {
			tls = options.Get("agentOptions")
			if !adaptors.Present(tls) {
				tls = conf.Get("tls")
			}
		}
		if truthy(options.Get("agentOptions")) {
			consoleCall(vm, "warn", "WARNING: The `agentOptions` option has been deprecated. Add `tls` to state.configuration instead.")
		}
		headers := headerSet{obj: vm.NewObject()}
		if h, ok := options.Get("headers").(*goja.Object); ok && truthy(h) {
			for _, k := range h.Keys() {
				headers.set(k, h.Get(k))
			}
		}

		baseURL := conf.Get("baseUrl")
		hasBase := truthy(baseURL)
		var url string
		if p := adaptors.StringOf(path); isAbsolute(p) {
			if hasBase && !strings.EqualFold(splitURL(p).origin, splitURL(baseURL.String()).origin) {
				env.Throw("BASE_URL_MISMATCH: the request URL "+p+" does not share an origin with configuration.baseUrl", map[string]any{"code": "BASE_URL_MISMATCH"})
			}
			url = p
		} else {
			if !truthy(path) {
				p = ""
			}
			url = joinURL(adaptors.StringOf(baseURL), p)
		}
		url = appendQuery(url, searchParams(options.Get("query")))

		if hasBase && !headers.has("authorization") {
			if tok := conf.Get("access_token"); truthy(tok) {
				headers.set("Authorization", "Bearer "+tok.String())
			} else if user := conf.Get("username"); truthy(user) {
				pass := ""
				if pw := conf.Get("password"); adaptors.Present(pw) {
					pass = pw.String()
				}
				headers.set("Authorization", basicAuth(user.String(), pass))
			}
		}

		body := options.Get("body")
		contentType := "json"
		if ct := options.Get("contentType"); truthy(ct) {
			contentType = ct.String()
		}
		_, isString := exportString(body) // a String object is JSON-encoded: typeof says "object"
		switch {
		case adaptors.Present(body) && !isString:
			switch o, _ := body.(*goja.Object); {
			case contentType == "form":
				// common's encodeFormBody: one multipart/form-data part per key
				headers.deleteFold("content-type")
				text, ct := multipart(vm, o)
				body = vm.ToValue(text)
				headers.set("content-type", ct)
			case o != nil && truthy(o.Get("__isBuffer")):
				body = callMethod(vm, o, "toString", vm.ToValue("binary"))
			default:
				body = callJSON(vm, "stringify", body)
			}
			if !headers.has("content-type") && contentType == "json" {
				headers.set("Content-Type", "application/json")
			}
		case isString && !headers.has("content-type"):
			switch contentType {
			case "json":
				headers.set("Content-Type", "application/json")
			case "xml":
				headers.set("Content-Type", "application/xml")
			case "string":
				headers.set("Content-Type", "text/plain")
			}
		}

		if !adaptors.Present(body) {
			body = nil
		}
		// The response's fields are read in Go; only response.headers
		// becomes an object (the job sees it).
		res := request.Fetch(env, adaptors.Request{Method: vm.ToValue(method), URL: vm.ToValue(url), Headers: headers.obj,
			Body: body, Timeout: options.Get("timeout"), TLS: tls})
		status := int64(res.Status)
		duration := res.Duration.Milliseconds()

		parsed := parseBody(env, string(res.Body), strings.Join(res.Header.Values("Content-Type"), ", "), status, options.Get("parseAs"))
		consoleCall(vm, "log", method+" "+res.URL+" - "+strconv.FormatInt(status, 10)+" in "+strconv.FormatInt(duration, 10)+"ms")

		isErr := status >= 400
		if errs := options.Get("errors"); errs != nil && errs.StrictEquals(vm.ToValue(false)) {
			isErr = false
		} else if eo, ok := errs.(*goja.Object); ok && !isFunction(eo) {
			if v := eo.Get(strconv.FormatInt(status, 10)); v != nil {
				isErr = v.ToBoolean()
			}
		}
		response := vm.NewObject()
		_ = response.Set("url", res.URL)
		_ = response.Set("method", method)
		_ = response.Set("statusCode", status)
		_ = response.Set("statusMessage", res.StatusText)
		_ = response.Set("headers", request.Headers(vm, res.Header))
		_ = response.Set("duration", duration)
		if q := options.Get("query"); truthy(q) {
			_ = response.Set("query", q)
		}
		if isErr {
			ctor, _ := goja.AssertConstructor(vm.Get("Error"))
			e, err := ctor(nil, vm.ToValue(method+" to "+res.URL+" returned "+strconv.FormatInt(status, 10)+": "+res.StatusText))
			if err != nil {
				panic(err)
			}
			for _, k := range response.Keys() {
				_ = e.Set(k, response.Get(k))
			}
			_ = e.Set("body", parsed)
			panic(e)
		}
		compose, ok := goja.AssertFunction(call.Argument(4))
		if !ok {
			_ = response.Set("body", parsed)
			return response
		}
		// {...composeNextState(state, body), response}: the response never
		// carries the body that http.js used to delete from it
		next, err := compose(goja.Undefined(), call.Argument(3), parsed)
		if err != nil {
			throwErr(err)
		}
		no := next.ToObject(vm)
		if err := no.Set("response", response); err != nil {
			throwErr(err)
		}
		return no
	}
}

// throwErr rethrows an error of a JavaScript call into the VM: a thrown
// value as itself.
func throwErr(err error) {
	if ex, ok := err.(*goja.Exception); ok {
		panic(ex.Value())
	}
	panic(err)
}

// parseBody is language-http's: parseAs text, base64 or json as asked,
// otherwise JSON when the content type says so (text if it does not parse),
// nothing for 204 or an empty body. ct is the Content-Type, its values
// joined as response.headers has them.
func parseBody(env *adaptors.Env, body, ct string, status int64, parseAs goja.Value) goja.Value {
	vm := env.VM
	mode := ""
	if s, ok := exportString(parseAs); ok {
		mode = s
	}
	switch mode {
	case "text":
		return vm.ToValue(body)
	case "base64":
		return vm.ToValue(base64.StdEncoding.EncodeToString([]byte(body)))
	case "json":
		if body == "" {
			return goja.Undefined()
		}
		return callJSON(vm, "parse", vm.ToValue(body))
	case "stream":
		env.Throw(`parseAs: "stream" is not supported by Job Mediator`, nil)
	}
	if status == 204 || body == "" || ct == "" {
		if body == "" || status == 204 {
			return goja.Undefined()
		}
		return vm.ToValue(body)
	}
	if strings.Contains(ct, "application/json") || strings.Contains(ct, "+json") {
		if v, ok := tryJSONParse(vm, body); ok {
			return v
		}
	}
	return vm.ToValue(body)
}

func tryJSONParse(vm *goja.Runtime, s string) (v goja.Value, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			// callJSON rethrows JSON.parse's SyntaxError as the thrown
			// value itself (throwErr); an interrupt is neither and goes on
			switch r.(type) {
			case *goja.Exception, goja.Value:
				ok = false
			default:
				panic(r)
			}
		}
	}()
	return callJSON(vm, "parse", vm.ToValue(s)), true
}

// callJSON calls the VM's JSON.stringify or JSON.parse as a job would see
// them; a JavaScript error propagates as a throw.
func callJSON(vm *goja.Runtime, name string, arg goja.Value) goja.Value {
	j, _ := vm.Get("JSON").(*goja.Object)
	if j == nil {
		panic(vm.NewTypeError("JSON is not defined"))
	}
	return callMethod(vm, j, name, arg)
}

func callMethod(vm *goja.Runtime, o *goja.Object, name string, args ...goja.Value) goja.Value {
	f, ok := goja.AssertFunction(o.Get(name))
	if !ok {
		panic(vm.NewTypeError(name + " is not a function"))
	}
	v, err := f(o, args...)
	if err != nil {
		throwErr(err)
	}
	return v
}

// consoleCall logs through the job's console, as the adaptor's own
// console.log did.
func consoleCall(vm *goja.Runtime, level, msg string) {
	if c, ok := vm.Get("console").(*goja.Object); ok {
		if f, ok := goja.AssertFunction(c.Get(level)); ok {
			_, _ = f(c, vm.ToValue(msg))
		}
	}
}

func isFunction(o *goja.Object) bool {
	_, ok := goja.AssertFunction(o)
	return ok
}

func truthy(v goja.Value) bool { return v != nil && v.ToBoolean() }

// exportString is a primitive string's value (not boxed into an interface
// as Export would).
func exportString(v goja.Value) (string, bool) {
	if v == nil {
		return "", false
	}
	if _, isObj := v.(*goja.Object); isObj || v.ExportType() != stringType {
		return "", false
	}
	return v.String(), true
}

var stringType = reflect.TypeOf("")

// headerSet is a request's headers object with the names set on it, so
// the case-insensitive checks read a Go slice rather than enumerating the
// object (goja's Keys allocates per key).
type headerSet struct {
	obj   *goja.Object
	names []string
}

func (h *headerSet) set(k string, v any) {
	// "__proto__" is no own key of the object (Set makes it the
	// prototype), so it is none of names either
	if k != "__proto__" && !slices.Contains(h.names, k) {
		h.names = append(h.names, k)
	}
	_ = h.obj.Set(k, v)
}

// has: a name equal to lower (lower case) but for case.
func (h *headerSet) has(lower string) bool { return hasName(h.names, lower) }

// hasName: a name in names equal to lower (lower case) but for case, as
// language-http looks for a header the job set itself.
func hasName(names []string, lower string) bool {
	for _, k := range names {
		if strings.ToLower(k) == lower {
			return true
		}
	}
	return false
}

// basicAuth is the Authorization language-http sends for configuration's
// username and password.
func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// deleteFold deletes every name equal to name ignoring case.
func (h *headerSet) deleteFold(name string) {
	kept := h.names[:0]
	for _, k := range h.names {
		if strings.EqualFold(k, name) {
			_ = h.obj.Delete(k)
			continue
		}
		kept = append(kept, k)
	}
	h.names = kept
}

var absoluteURL = regexp.MustCompile(`(?i)^[a-z][a-z0-9+.-]*://`)

func isAbsolute(u string) bool { return absoluteURL.MatchString(u) }

type urlParts struct{ origin, path, query, hash string }

// splitURL splits a URL as http.js's regular expression did:
// origin (scheme://authority), path, query (without "?"), hash.
func splitURL(u string) urlParts {
	var p urlParts
	if loc := absoluteURL.FindStringIndex(u); loc != nil {
		end := len(u)
		if i := strings.IndexAny(u[loc[1]:], "/?#"); i >= 0 {
			end = loc[1] + i
		}
		p.origin, u = u[:end], u[end:]
	}
	if i := strings.IndexByte(u, '#'); i >= 0 {
		p.hash, u = u[i:], u[:i]
	}
	if i := strings.IndexByte(u, '?'); i >= 0 {
		p.query, u = u[i+1:], u[:i]
	}
	p.path = u
	return p
}

// joinURL is a relative request path on configuration.baseUrl: the
// paths joined as path.posix.join does, both queries kept, hashes dropped.
func joinURL(base, path string) string {
	b, p := splitURL(base), splitURL(path)
	u := b.origin + posixJoin(b.path, p.path)
	switch {
	case b.query != "" && p.query != "":
		u += "?" + b.query + "&" + p.query
	case b.query != "" || p.query != "":
		u += "?" + b.query + p.query
	}
	return u
}

// posixJoin is path.posix.join for the path part, keeping b's trailing
// slash.
func posixJoin(a, b string) string {
	var out []string
	for _, p := range strings.Split(a+"/"+b, "/") {
		switch p {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, p)
		}
	}
	joined := "/" + strings.Join(out, "/")
	if strings.HasSuffix(b, "/") && joined != "/" {
		joined += "/"
	}
	return joined
}

func appendQuery(url string, pairs []string) string {
	if len(pairs) == 0 {
		return url
	}
	s := splitURL(url)
	q := strings.Join(pairs, "&")
	if s.query != "" {
		q = s.query + "&" + q
	}
	return s.origin + s.path + "?" + q + s.hash
}

// searchParams is URLSearchParams-style: arrays repeat the key, undefined
// is left out.
func searchParams(query goja.Value) []string {
	o, ok := query.(*goja.Object)
	if !ok || !truthy(query) {
		return nil
	}
	var pairs []string
	for _, k := range o.Keys() {
		v := o.Get(k)
		if v == nil || goja.IsUndefined(v) {
			continue
		}
		if arr, ok := v.(*goja.Object); ok && arr.ClassName() == "Array" {
			n := arr.Get("length").ToInteger()
			for i := int64(0); i < n; i++ {
				pairs = append(pairs, urlenc.Form(k)+"="+urlenc.Form(arr.Get(strconv.FormatInt(i, 10)).String()))
			}
			continue
		}
		pairs = append(pairs, urlenc.Form(k)+"="+urlenc.Form(v.String()))
	}
	return pairs
}

// multipart encodes a form-data body (RFC 7578) from an object: one part
// per key, null/undefined skipped, objects as JSON, Buffers as their bytes.
func multipart(vm *goja.Runtime, data *goja.Object) (body, contentType string) {
	boundary := "----formdata-jobmediator-" + strings.ReplaceAll(common.UUID(), "-", "")
	var b strings.Builder
	if data != nil {
		for _, k := range data.Keys() {
			v := data.Get(k)
			if !adaptors.Present(v) {
				continue
			}
			var value string
			switch o, _ := v.(*goja.Object); {
			case o != nil && isFunction(o):
				value = v.String()
			case o != nil && truthy(o.Get("__isBuffer")):
				value = callMethod(vm, o, "toString", vm.ToValue("binary")).String()
			case o != nil:
				value = adaptors.StringOf(callJSON(vm, "stringify", v))
			default:
				value = v.String()
			}
			name := strings.NewReplacer(`"`, "%22", "\r", " ", "\n", " ").Replace(k)
			b.WriteString("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n")
		}
	}
	b.WriteString("--" + boundary + "--\r\n")
	return b.String(), "multipart/form-data; boundary=" + boundary
}
