// Package primero is Job Mediator's language-primero, per major:
//
//   - 2.x–4.x (Primero v2 API): getCases, getCase, createCase, updateCase,
//     upsertCase, getReferrals, createReferrals, updateReferral(s),
//     getForms, getLookups, getLocations with their state semantics
//     (default 2.12.4, what the UNICEF Cambodia jobs ran on). 4.x behaves
//     as 3.2 (its changes are language-common's: no common http namespace,
//     `log` re-exported from 4.1).
//   - 1.x (Primero v1 API, OpenFn/language-primero v1.0.0–v1.2.0):
//     getCases(query, callback), createCase, updateCase, upsertCase over a
//     session cookie from POST /api/login, and post(path, params) as
//     language-http 2.3.0's (its own cookie jar, Basic auth from
//     configuration.username, baseUrl prefix; formData and digest auth
//     refused by name); see the 1.x section of primero.js for its quirks.
//
// Configuration: url (required), user, password, basicAuth, and username
// (read before user by the 3.1+ http namespace only). execute logs in
// first (POST /api/v2/tokens → state.auth = {...reply, token: "Bearer …"},
// or Basic from user:password when basicAuth is true) and deletes
// state.auth after the last operation, so the token never reaches the final
// state. GET queries are serialised like the qs module (nested objects as
// a[b][c]=, arrays as a[0]=, empty objects dropped). Statuses other than
// 200/201/202/204 throw Error("Server responded with:\n<response JSON>")
// with the Authorization header replaced and statusCode set, so 5xx/429 are
// transient for the retry queue.
//
// Version differences kept on purpose, because jobs pinned to a version see
// exactly them: getCases sets state.metadata from 2.10; the re-exports of
// language-common follow each release (combine 2.2, fn 2.2.4, beta 2.3.5,
// dateFns 2.4.4, fnIf 2.12, as 3.2, log 4.1); from 3.2 createCase/updateCase
// (and so upsertCase) send {data: <whole params>} — i.e. {"data":{"data":…}},
// which Primero rejects with 422 — and createReferrals {data: params}. That
// double-wrap is OpenFn's regression in 3.2.0 and later; pin 2.x or ≤3.1 for
// jobs that create or update cases. createReferrals reads the reply in a way
// that throws a TypeError after the referrals were created, as in every
// OpenFn version documented (openfn-jobs.md §5.3), and updateReferral leaves
// {body: <reply>} in state.data for the same reason.
//
// One deliberate deviation: upsertCase (2.x–4.x) refuses (error code
// MISSING_EXTERNAL_ID) a case that has none of its externalIds set, where
// OpenFn would search with no filter and overwrite the first case found.
//
// From 3.1 the http namespace (http.get/post/patch) sends requests under
// {url}/api/v2/ with Basic auth as `username ?? user` and the body wrapped
// as {data: …}. Not implemented: language-common's http namespace as
// primero 1.2–3.x re-export it.
//
// Every request goes through the run's recorder client (orchestration
// names "Primero <METHOD> <path>"), so secrets are redacted there.
package primero

import (
	_ "embed"

	"github.com/jobmediator/jobmediator/adaptors"
)

//go:embed primero.js
var source string

// Default is the version used when a job names no version.
const Default = "2.12.4"

// Host returns the functions primero.js calls: request({method, url,
// headers, body, timeout}) performs one recorded call and returns {status,
// statusText, headers, body, url, duration}; transport failures throw with
// a Node-style code (ECONNREFUSED, ETIMEDOUT, …).
func Host(env *adaptors.Env) map[string]any {
	return map[string]any{
		"request": adaptors.HostRequest(env, "Primero", "configuration.url must be an absolute http(s) URL such as https://primero.example.org"),
	}
}

func init() {
	adaptors.Register(&adaptors.Definition{
		Name:     "primero",
		Doc:      "Primero v2 API (2.x–4.x: cases, referrals, forms/lookups/locations) and v1 API (1.x: getCases(query, callback), create/update/upsertCase) by version",
		Default:  Default,
		Supports: func(v adaptors.Version) bool { return v.Major >= 1 && v.Major <= 4 },
		Source:   func(adaptors.Version) string { return source },
		Host:     Host,
	})
}
