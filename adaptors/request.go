package adaptors

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/dop251/goja"

	"github.com/jobmediator/jobmediator/adaptors/recorder"
)

// RequestOptions describe one adaptor's `request` host function (see
// HostRequestWith).
type RequestOptions struct {
	// System names the upstream in orchestration names ("DHIS2 POST
	// /api/dataValueSets"); empty: just "POST /path".
	System string
	// BadURL is the error a relative or malformed URL gets (it is given the
	// URL as written).
	BadURL func(raw string) string
	// AnyScheme lets URLs of any scheme with a host through to the client
	// (language-http reports an unsupported scheme as the transport does);
	// otherwise only http and https are requests.
	AnyScheme bool
	// SetCookie keeps Set-Cookie as a list: headers["set-cookie"] is an
	// array and the response has setCookie (language-http's cookie jar);
	// otherwise repeated headers are joined with ", " as Node does.
	SetCookie bool
	// Client, when set, may replace the run's client for one request given
	// the request's tls option; its error message becomes a thrown
	// ERR_TLS_OPTIONS.
	Client func(run *Run, client *recorder.Client, tls goja.Value) (*recorder.Client, error)
}

// Request is one outbound call as the JavaScript side describes it: the
// fields of host.request's argument, still goja values.
type Request struct {
	Method, URL goja.Value
	Headers     goja.Value // an object: names and values as the job wrote them
	Body        goja.Value // sent when a string
	Timeout     goja.Value // ms
	TLS         goja.Value // for Client
}

// HostRequest is the `request` host function most adaptors share:
// request({method, url, headers, body, timeout}) performs one recorded call
// and returns {status, statusText, headers, body, url, duration};
// transport failures throw with a Node-style code (ECONNREFUSED, ETIMEDOUT,
// …) so jobs and the retry classification can read it.
//
// system names the upstream in orchestration names and errors; urlHelp says
// which configuration field holds the base URL, for the error a relative
// or malformed URL gets.
func HostRequest(env *Env, system, urlHelp string) func(goja.FunctionCall) goja.Value {
	return HostRequestWith(env, RequestOptions{System: system, BadURL: func(raw string) string {
		return fmt.Sprintf("invalid %s URL %q: %s", system, raw, urlHelp)
	}})
}

// HostRequestWith builds a `request` host function. It reads the request
// object's fields and builds the response object directly on the VM: every
// outbound call of every job passes through here, and the generic
// conversions (exporting the argument into Go maps, wrapping the answer's
// maps by reflection) were a measurable share of a routed request, and
// left the order of response.headers to Go's map iteration.
func HostRequestWith(env *Env, o RequestOptions) func(goja.FunctionCall) goja.Value {
	return func(call goja.FunctionCall) goja.Value {
		arg, _ := call.Argument(0).(*goja.Object)
		if arg == nil {
			arg = env.VM.NewObject()
		}
		return o.Do(env, Request{Method: arg.Get("method"), URL: arg.Get("url"), Headers: arg.Get("headers"),
			Body: arg.Get("body"), Timeout: arg.Get("timeout"), TLS: arg.Get("tls")})
	}
}

// Do performs one recorded call and returns the response object
// {status, statusText, headers, [setCookie,] body, url, duration}; a bad URL
// or a transport failure throws into the VM.
func (o RequestOptions) Do(env *Env, r Request) *goja.Object {
	resp := o.Fetch(env, r)
	vm := env.VM
	out := vm.NewObject()
	_ = out.Set("status", resp.Status)
	_ = out.Set("statusText", resp.StatusText)
	_ = out.Set("headers", o.Headers(vm, resp.Header))
	if o.SetCookie {
		var list []any
		for _, c := range resp.Header.Values("Set-Cookie") {
			list = append(list, c)
		}
		_ = out.Set("setCookie", vm.NewArray(list...))
	}
	_ = out.Set("body", string(resp.Body))
	_ = out.Set("url", resp.URL)
	_ = out.Set("duration", resp.Duration.Milliseconds())
	return out
}

// Headers is a response's headers as the response object of Do has them.
func (o RequestOptions) Headers(vm *goja.Runtime, h http.Header) *goja.Object {
	return headerObject(vm, h, o.SetCookie)
}

// Fetch is Do without the response object: adaptors that read the
// response in Go (language-http's native request) take its fields from
// here rather than build an object only to read it back field by field.
func (o RequestOptions) Fetch(env *Env, r Request) *recorder.Response {
	run := env.Run()
	method := strings.ToUpper(StringOf(r.Method))
	if method == "" {
		method = http.MethodGet
	}
	raw := StringOf(r.URL)
	req, err := o.NewRequest(method, raw)
	if err != nil {
		env.Throw(err.Error(), map[string]any{"code": "EINVALIDURL"})
	}
	if h, ok := r.Headers.(*goja.Object); ok {
		for _, k := range h.Keys() {
			if v := h.Get(k); Present(v) {
				req.Header.Set(k, fmt.Sprint(v.Export()))
			}
		}
	}
	var body []byte
	if r.Body != nil {
		if s, ok := r.Body.Export().(string); ok {
			body = []byte(s)
		}
	}
	client := run.HTTP
	if client == nil {
		client = recorder.NewClient(nil, nil)
	}
	if o.Client != nil {
		c, err := o.Client(run, client, r.TLS)
		if err != nil {
			env.Throw(err.Error(), map[string]any{"code": "ERR_TLS_OPTIONS"})
		}
		client = c
	}
	if r.Timeout != nil {
		if ms := Number(r.Timeout.Export()); ms > 0 {
			c := *client
			c.Timeout = time.Duration(ms * float64(time.Millisecond))
			client = &c
		}
	}
	resp, err := o.Send(run, client, req, body)
	if err != nil {
		props := map[string]any{}
		if ne, ok := err.(*recorder.NetError); ok {
			props["code"] = ne.Code
		}
		env.Throw(err.Error(), props)
	}
	return resp
}

// NewRequest is the request for method and raw (an absolute URL of a
// scheme this adaptor sends), or the error a bad URL gets: nothing can be
// sent then.
func (o RequestOptions) NewRequest(method, raw string) (*http.Request, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Scheme == "" || !o.AnyScheme && u.Scheme != "http" && u.Scheme != "https" {
		return nil, errors.New(o.BadURL(raw))
	}
	req, err := http.NewRequest(method, u.String(), nil)
	if err != nil {
		return nil, errors.New("building request: " + err.Error())
	}
	return req, nil
}

// Send makes the recorded call of req (from NewRequest, its headers set)
// with body (nil: none) through client, and names its orchestration
// "[System ]METHOD /path". A transport failure is a *recorder.NetError.
func (o RequestOptions) Send(run *Run, client *recorder.Client, req *http.Request, body []byte) (*recorder.Response, error) {
	name := req.Method + " " + req.URL.EscapedPath()
	if o.System != "" {
		name = o.System + " " + name
	}
	return client.Do(run.Ctx, name, req, body)
}

// StringOf is String(v) for a present value and "" for a missing,
// undefined or null one (where JavaScript would write "undefined").
func StringOf(v goja.Value) string {
	if !Present(v) {
		return ""
	}
	return v.String()
}

// Present: neither missing, undefined nor null.
func Present(v goja.Value) bool {
	return v != nil && !goja.IsUndefined(v) && !goja.IsNull(v)
}

// headerObject is the response headers as Node's fetch (undici) exposes
// them: lower-case names in sorted order, repeated values joined with ", "
// (Set-Cookie kept as a list when setCookie).
func headerObject(vm *goja.Runtime, h http.Header, setCookie bool) *goja.Object {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, strings.ToLower(k))
	}
	sort.Strings(keys)
	out := vm.NewObject()
	for _, lk := range keys {
		vs := h[http.CanonicalHeaderKey(lk)]
		if vs == nil {
			vs = h[lk] // a non-canonical key set by hand
		}
		if setCookie && lk == "set-cookie" {
			list := make([]any, len(vs))
			for i, v := range vs {
				list[i] = v
			}
			_ = out.Set(lk, vm.NewArray(list...))
			continue
		}
		_ = out.Set(lk, strings.Join(vs, ", "))
	}
	return out
}

// Number reads a JS number handed to Go (goja gives int64 or float64).
func Number(v any) float64 {
	switch t := v.(type) {
	case int64:
		return float64(t)
	case float64:
		return t
	case int:
		return float64(t)
	}
	return 0
}
