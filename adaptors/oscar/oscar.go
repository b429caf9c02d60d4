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

	"github.com/jobmediator/jobmediator/adaptors"
)

//go:embed oscar.js
var source string

// Host returns the functions oscar.js calls.
func Host(env *adaptors.Env) map[string]any {
	return map[string]any{
		// request({method, url, headers, body, timeout}) performs one
		// recorded call; transport failures throw with a Node-style code.
		"request": adaptors.HostRequest(env, "OSCaR", "configuration.baseUrl must be an absolute http(s) URL such as https://oscar.example.org"),
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
