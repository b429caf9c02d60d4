// Package primero is Job Mediator's language-primero: OpenFn's Primero v2
// API operations (getCases, getCase, createCase, updateCase, upsertCase,
// getReferrals, createReferrals, updateReferral(s), getForms, getLookups,
// getLocations) with their state semantics, for @openfn/language-primero
// 2.x and 3.x (default 2.12.4, what the UNICEF Cambodia jobs ran on).
//
// Configuration: url (required), user, password, basicAuth. execute logs in
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
// exactly them: getCases sets state.metadata from 2.10; fnIf is exported
// from 2.12 and `as` from 3.2; from 3.2 createCase/updateCase (and so
// upsertCase) send {data: <whole params>} — i.e. {"data":{"data":…}}, which
// Primero rejects with 422 — and createReferrals {data: params}. That
// double-wrap is OpenFn's regression in 3.2.0 and later; pin 2.x or ≤3.1 for
// jobs that create or update cases. createReferrals reads the reply in a way
// that throws a TypeError after the referrals were created, as in every
// OpenFn version documented (openfn-jobs.md §5.3), and updateReferral leaves
// {body: <reply>} in state.data for the same reason.
//
// One deliberate deviation: upsertCase refuses (error code
// MISSING_EXTERNAL_ID) a case that has none of its externalIds set, where
// OpenFn would search with no filter and overwrite the first case found.
//
// Not implemented: the 3.1+ http namespace (http.get/post/patch).
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
		Doc:      "Primero v2 API: cases, referrals, forms/lookups/locations; language-primero 2.x–3.x semantics by version",
		Default:  Default,
		Supports: func(v adaptors.Version) bool { return v.Major >= 2 && v.Major <= 3 },
		Source:   func(adaptors.Version) string { return source },
		Host:     Host,
	})
}
