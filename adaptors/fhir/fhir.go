// Package fhir is Job Mediator's language-fhir-4 (registered as "fhir-4",
// default 0.5.0) and language-fhir v5 (registered as "fhir", default 5.1.2):
// two Definitions sharing one request engine and the conversions helpers.
//
// fhir-4: read(reference), search(type, {query, count, lastUpdated, …}),
// create(resource), update(reference, resource), delete(reference),
// createBundle, addToBundle, uploadBundle (entries sorted so referenced
// resources come first), and the `datatypes` and `builders`/`b` namespaces
// (builders.js): b.identifier/concept/coding/reference/composite/extension,
// value and system maps, and all 107 resource builders (b.patient,
// b.encounter, b.observation, b.episodeOfCare, b.organization, b.location,
// b.measureReport, b.practitioner, …) with OpenFn's per-field rules
// (profiles.js), checked against goldens recorded from the real package
// source (testdata/builders). fhir v5: create(resourceType, resource, params, cb),
// createTransactionBundle(entries, cb), get(path, params, options, cb),
// post(path, data, options, cb), getClaim, request(method, path, options, cb).
// Configuration: baseUrl + apiPath (fhir-4 defaults apiPath to /fhir), auth
// from authorization (raw header, fhir-4), access_token (Bearer) or
// username+password (Basic); requests send application/fhir+json.
//
// Job Mediator additions, documented because OpenFn lacks them:
//   - fhir-4 create(resource, {ifNoneExist}) sends If-None-Exist (conditional
//     create); update accepts a conditional reference ("Patient?identifier=…");
//   - search(type, {…, all: true, maxPages}) follows Bundle.link "next"
//     verbatim (same origin only), bounded; v5 get(path, params, {all: true})
//     does the same and returns one searchset with every entry;
//   - search tolerates a Bundle without entry (OpenFn throws a TypeError);
//   - the conversions helper namespace (package conversions).
//
// HTTP ≥400 throws "<METHOD> to <url> returned <code>: <reason> — <issues>"
// where issues are the OperationOutcome's severity, code, expression and
// diagnostics; the error carries statusCode, body and issues. Every request
// goes through the run's recorder client (an OpenHIM orchestration, secrets
// redacted). Not implemented: fhir ≤4.
package fhir

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/dop251/goja"

	"github.com/jobmediator/jobmediator/adaptors"
	"github.com/jobmediator/jobmediator/adaptors/fhir/conversions"
)

//go:embed fhir.js
var source string

// buildersSource is fhir-4's datatypes and builders (b.patient(…), …),
// profilesSource the per-field rules of its 107 resource builders.
//
//go:embed builders.js
var buildersSource string

//go:embed profiles.js
var profilesSource string

// OutcomeMessage summarises an OperationOutcome body as
// "error invalid Patient.gender: Unknown code 'M'; …" (at most 10 issues).
// ok is false when body is not an OperationOutcome with issues.
func OutcomeMessage(body []byte) (string, bool) {
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Severity    string   `json:"severity"`
			Code        string   `json:"code"`
			Diagnostics string   `json:"diagnostics"`
			Expression  []string `json:"expression"`
			Location    []string `json:"location"`
			Details     *struct {
				Text string `json:"text"`
			} `json:"details"`
		} `json:"issue"`
	}
	body = []byte(strings.TrimPrefix(string(body), "\ufeff"))
	if json.Unmarshal(body, &oo) != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
		return "", false
	}
	var parts []string
	for i, is := range oo.Issue {
		if i == 10 {
			parts = append(parts, fmt.Sprintf("… %d more issue(s)", len(oo.Issue)-10))
			break
		}
		where := strings.Join(is.Expression, ", ")
		if where == "" {
			where = strings.Join(is.Location, ", ")
		}
		text := is.Diagnostics
		if text == "" && is.Details != nil {
			text = is.Details.Text
		} else if is.Details != nil && is.Details.Text != "" && is.Details.Text != text {
			text = is.Details.Text + " (" + text + ")"
		}
		p := strings.TrimSpace(is.Severity + " " + is.Code)
		if where != "" {
			p += " " + where
		}
		if text != "" {
			p += ": " + text
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; "), true
}

// Host returns the functions fhir.js calls.
func Host(env *adaptors.Env) map[string]any {
	return conversions.Merge(env, map[string]any{
		"request": adaptors.HostRequest(env, "FHIR", "configuration.baseUrl must be an absolute http(s) URL such as https://hapi.fhir.org"),
		// runStore is the run's own object for fhir-4's value and system
		// maps (module state in OpenFn, where every run has a fresh worker).
		"runStore": func() goja.Value {
			run := env.Run()
			if run.Values == nil {
				return env.VM.NewObject()
			}
			if o, ok := run.Values["fhir-4.store"].(*goja.Object); ok {
				return o
			}
			o := env.VM.NewObject()
			run.Values["fhir-4.store"] = o
			return o
		},
		"outcome": func(text string) string {
			msg, _ := OutcomeMessage([]byte(text))
			return msg
		},
	})
}

func init() {
	adaptors.Register(&adaptors.Definition{
		Name:     "fhir-4",
		Doc:      "FHIR R4: read/search/create/update/delete, bundles, conditional create, paging (OpenFn fhir-4 0.x)",
		Default:  "0.5.0",
		Supports: func(v adaptors.Version) bool { return v.Major == 0 },
		Source: func(adaptors.Version) string {
			return conversions.Source() + "var FLAVOUR = 'fhir-4';\n" + source + "\n" + profilesSource + buildersSource
		},
		Host: Host,
	})
	adaptors.Register(&adaptors.Definition{
		Name:     "fhir",
		Doc:      "FHIR: get/post/create/createTransactionBundle/request with callbacks (OpenFn fhir 5.x)",
		Default:  "5.1.2",
		Supports: func(v adaptors.Version) bool { return v.Major == 5 },
		Source:   func(adaptors.Version) string { return conversions.Source() + "var FLAVOUR = 'fhir';\n" + source },
		Host:     Host,
	})
}
