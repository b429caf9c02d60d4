// Package auth holds the credential checks the ways in share: who may call
// a workflow endpoint (OpenHIM core by route Basic auth or its client
// certificate, direct callers by the workflow's inbox methods, at its rate
// limit: inbox.go), and the constant-time comparison the operator API's
// bearer tokens use too.
package auth

import (
	"crypto/subtle"
	"net/http"
)

// Reject answers a refused request; the ways in pass their own, so the
// refusal reads like their other answers (an OpenHIM envelope when routed).
type Reject func(w http.ResponseWriter, r *http.Request, status int, msg string)

// AnyEqual reports whether got equals one of wants. Every candidate is
// compared in constant time, so timing tells nothing about which one (or
// which part) was close.
func AnyEqual(got string, wants []string) bool {
	match := 0
	for _, w := range wants {
		match |= subtle.ConstantTimeCompare([]byte(got), []byte(w))
	}
	return match == 1
}
