package adaptors

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/jobmediator/jobmediator/adaptors/recorder"
)

// HostRequest is the `request` host function most adaptors share:
// request({method, url, headers, body, timeout}) performs one recorded call
// and returns {status, statusText, headers, body, url, duration};
// transport failures throw with a Node-style code (ECONNREFUSED, ETIMEDOUT,
// …) so jobs and the retry classification can read it.
//
// system names the upstream in orchestration names ("DHIS2 POST
// /api/dataValueSets") and errors; urlHelp says which configuration field
// holds the base URL, for the error a relative or malformed URL gets.
func HostRequest(env *Env, system, urlHelp string) func(map[string]any) map[string]any {
	return func(m map[string]any) map[string]any {
		run := env.Run()
		method, _ := m["method"].(string)
		method = strings.ToUpper(method)
		if method == "" {
			method = http.MethodGet
		}
		raw, _ := m["url"].(string)
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			env.Throw(fmt.Sprintf("invalid %s URL %q: %s", system, raw, urlHelp), map[string]any{"code": "EINVALIDURL"})
		}
		req, err := http.NewRequest(method, u.String(), nil)
		if err != nil {
			env.Throw("building request: "+err.Error(), map[string]any{"code": "EINVALIDURL"})
		}
		if h, ok := m["headers"].(map[string]any); ok {
			for k, v := range h {
				if v != nil {
					req.Header.Set(k, fmt.Sprint(v))
				}
			}
		}
		var body []byte
		if b, ok := m["body"].(string); ok {
			body = []byte(b)
		}
		client := run.HTTP
		if client == nil {
			client = recorder.NewClient(nil, nil)
		}
		if t := Number(m["timeout"]); t > 0 {
			c := *client
			c.Timeout = time.Duration(t * float64(time.Millisecond))
			client = &c
		}
		resp, err := client.Do(run.Ctx, system+" "+method+" "+u.EscapedPath(), req, body)
		if err != nil {
			props := map[string]any{}
			if ne, ok := err.(*recorder.NetError); ok {
				props["code"] = ne.Code
			}
			env.Throw(err.Error(), props)
		}
		return map[string]any{
			"status": resp.Status, "statusText": resp.StatusText, "headers": HeaderMap(resp.Header),
			"body": string(resp.Body), "url": resp.URL, "duration": resp.Duration.Milliseconds(),
		}
	}
}

// HeaderMap flattens response headers the way Node exposes them: lower-case
// names, repeated values joined with ", ".
func HeaderMap(h http.Header) map[string]any {
	out := make(map[string]any, len(h))
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out[strings.ToLower(k)] = strings.Join(h[k], ", ")
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
