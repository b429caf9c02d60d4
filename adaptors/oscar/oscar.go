// Package oscar is Job Mediator's own convenience adaptor for the OSCaR
// interoperability API (/api/v1 of Children in Families' oscar-web). OpenFn
// has no OSCaR adaptor: the UNICEF Cambodia jobs talk to OSCaR with
// @openfn/language-http@5 (keepCookie, __headers, transformResponse), and
// the examples/cambodia-referrals project keeps doing exactly that. This
// adaptor is for new jobs that would rather not hand-carry the
// devise_token_auth headers:
//
//	signIn(callback?)                                   POST /api/v1/admin_auth/sign_in
//	getClients({since_date, end_date?, referred_external?}, callback?)
//	                                                    GET  /api/v1/organizations/clients
//	upsertClient({organization: {…}}, callback?)        POST /api/v1/organizations/clients/upsert
//	updateStatuses([{client_global_id, referral_id, referral_status}], callback?)
//	                                                    PUT  /api/v1/organizations/referrals/update_statuses
//	updateLinks([{global_id, external_id, external_id_display}], callback?)
//	                                                    PUT  /api/v1/organizations/clients/update_links
//	getOrganizations(callback?)                         GET  /api/v1/organizations
//
// plus everything language-common exports. Configuration is the seed's OSCaR
// credential: baseUrl, username (the admin user's e-mail), password.
//
// Sign-in happens on first use and the access-token/client/uid headers are
// kept in the run (adaptors.Run.Values), never in state, so they cannot
// reach a final state, a cursor or a log; a 401 (expired token) signs in
// again once and retries. state.data is the useful part of each reply (the
// clients array for getClients, OSCaR's {external_id, message} for
// upsertClient), references grow as in common. Null values in an
// organization are sent as "" because OSCaR requires it. Errors: status ≥400
// throws "OSCaR <METHOD> <path> returned <code>: <OSCaR's message>" with
// statusCode and body (5xx/429 are transient for the retry queue); a reply
// that is not JSON (an nginx error page) throws with code INVALID_JSON.
package oscar

import (
	_ "embed"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/jobmediator/jobmediator/adaptors"
	"github.com/jobmediator/jobmediator/adaptors/recorder"
)

//go:embed oscar.js
var source string

func headerMap(h http.Header) map[string]any {
	out := map[string]any{}
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

// Host returns the functions oscar.js calls.
func Host(env *adaptors.Env) map[string]any {
	return map[string]any{
		// request({method, url, headers, body, timeout}) performs one
		// recorded call; transport failures throw with a Node-style code.
		"request": func(m map[string]any) map[string]any {
			run := env.Run()
			method, _ := m["method"].(string)
			method = strings.ToUpper(method)
			if method == "" {
				method = "GET"
			}
			raw, _ := m["url"].(string)
			u, err := url.Parse(raw)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				env.Throw(fmt.Sprintf("invalid OSCaR URL %q: configuration.baseUrl must be an absolute http(s) URL such as https://oscar.example.org", raw),
					map[string]any{"code": "EINVALIDURL"})
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
			if t := toFloat(m["timeout"]); t > 0 {
				c := *client
				c.Timeout = time.Duration(t * float64(time.Millisecond))
				client = &c
			}
			resp, err := client.Do(run.Ctx, "OSCaR "+method+" "+u.EscapedPath(), req, body)
			if err != nil {
				props := map[string]any{}
				if ne, ok := err.(*recorder.NetError); ok {
					props["code"] = ne.Code
				}
				env.Throw(err.Error(), props)
			}
			return map[string]any{
				"status": resp.Status, "statusText": resp.StatusText, "headers": headerMap(resp.Header),
				"body": string(resp.Body), "url": resp.URL, "duration": resp.Duration.Milliseconds(),
			}
		},
		// session/setSession keep the devise_token_auth headers per run and
		// per server, out of state.
		"session": func(base string) string {
			if v := env.Run().Values; v != nil {
				s, _ := v["oscar.session "+base].(string)
				return s
			}
			return ""
		},
		"setSession": func(base, js string) {
			v := env.Run().Values
			if v == nil {
				return
			}
			if js == "" {
				delete(v, "oscar.session "+base)
				return
			}
			v["oscar.session "+base] = js
		},
	}
}

func toFloat(v any) float64 {
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

func init() {
	adaptors.Register(&adaptors.Definition{
		Name:     "oscar",
		Doc:      "OSCaR interoperability API (Job Mediator's own): signIn, getClients, upsertClient, updateStatuses, updateLinks",
		Default:  "1.0.0",
		Supports: func(v adaptors.Version) bool { return v.Major == 1 },
		Source:   func(adaptors.Version) string { return source },
		Host:     Host,
	})
}
