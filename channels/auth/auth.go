// Package auth holds the credential checks the ways in share: who may call
// a workflow endpoint (OpenHIM core by route Basic auth or its client
// certificate, direct callers by the workflow's inbox methods, at its rate
// limit: inbox.go), and the constant-time comparison the operator API's
// bearer tokens use too.
package auth

import (
	"crypto/subtle"
	"net/http"
	"strings"
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

// BearerToken is the token of an `Authorization: Bearer …` header. The
// scheme is case-insensitive (RFC 9110 §11.1: "bearer", "BEARER" are the
// same scheme), blanks around the token are ignored.
func BearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
