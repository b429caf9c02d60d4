// Package common is Job Mediator's language-common: the helpers every OpenFn
// adaptor re-exports (fn, each, dataValue, JSONPath sources, references,
// cursor, parseCsv, …), written in JavaScript from the behaviour documented
// in design/openfn-jobs.md §4 and evaluated once per pooled VM.
//
// Version differences that change state are honoured (combine ≥3.3.2, map
// 3.x vs 1.x, composeNextState ≥1.15, expandReferences keeping RegExp ≥2.3).
// The `http` namespace per version: 1.x is the axios module
// (http.get/post/put/patch/head/options/delete({url, …}) resolving to the
// axios response; params expanded whole before 1.2.5, only the request
// keys from 1.2.5), 2.0+ the request helpers; both send through the run's
// recorded client (host.request). Not implemented: axios's agentOptions,
// proxies and streams, ajv beyond the subset documented in common.js, and
// URL schemas in validate.
package common

import (
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"fmt"

	"github.com/jobmediator/jobmediator/adaptors"
)

//go:embed common.js
var source string

// Source is the JavaScript body of language-common.
func Source() string { return source }

// Host returns the Go functions common.js uses.
func Host(env *adaptors.Env) map[string]any {
	return map[string]any{
		// now is the run's injectable clock in epoch milliseconds.
		"now": func() int64 { return env.Run().Now().UnixMilli() },
		"b64encode": func(s string) string {
			return base64.StdEncoding.EncodeToString([]byte(s))
		},
		"b64decode": func(s string) string {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				env.Throw("util.decode: "+err.Error(), nil)
			}
			return string(b)
		},
		"uuid": func() string { return UUID() },
		// expand is expandOne's walk in Go (expand.go).
		"expand": newExpander(env),
		// expandAll makes util.expandReferences (expand.go).
		"expandAll": newExpandAll(env),
		// request is the http namespace's one way out (recorded).
		"request": adaptors.HostRequest(env, "HTTP", "use an absolute http(s) URL, or give options.baseUrl"),
		// getRunValue/setRunValue keep language-common's module-level state
		// (cursor start time and key) per run rather than per VM.
		"getRunValue": func(k string) any {
			if v := env.Run().Values; v != nil {
				return v["common."+k]
			}
			return nil
		},
		"setRunValue": func(k string, val any) {
			if v := env.Run().Values; v != nil {
				v["common."+k] = val
			}
		},
	}
}

// UUID returns a random RFC 4122 version 4 UUID.
func UUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func init() {
	adaptors.Register(&adaptors.Definition{
		Name:    "common",
		Doc:     "language-common helpers (fn, each, dataValue, cursor, parseCsv, …)",
		Default: "3.3.4",
		Supports: func(v adaptors.Version) bool {
			return v.Major >= 1 && v.Major <= 3
		},
		Source: func(adaptors.Version) string { return source },
		Host:   Host,
	})
}
