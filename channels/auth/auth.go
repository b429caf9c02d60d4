// Package auth holds the credential checks the ways in share: Basic auth of
// the routes OpenHIM calls (channels/webhook, channels/schedule) and the
// constant-time comparison the operator API's bearer tokens use too.
package auth

import (
	"crypto/subtle"
	"net/http"

	"github.com/jobmediator/jobmediator/config"
)

// Reject answers a refused request; the ways in pass their own, so the
// refusal reads like their other answers (an OpenHIM envelope when routed).
type Reject func(w http.ResponseWriter, r *http.Request, status int, msg string)

// Basic admits a request to a workflow endpoint when users is empty or the
// request carries Basic auth of one of them; OpenHIM sends the route's
// username and password.
func Basic(users []config.RouteUser, reject Reject) func(http.HandlerFunc) http.Handler {
	if len(users) == 0 {
		return func(next http.HandlerFunc) http.Handler { return next }
	}
	// A Basic username cannot hold ":", so "user:password" is unambiguous.
	pairs := make([]string, len(users))
	for i, u := range users {
		pairs[i] = u.Username + ":" + u.Password
	}
	return func(next http.HandlerFunc) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, p, ok := r.BasicAuth()
			if !ok || !AnyEqual(u+":"+p, pairs) {
				w.Header().Set("WWW-Authenticate", `Basic realm="jobmediator"`)
				msg := "this endpoint needs Basic auth (JM_ROUTE_AUTH): set the channel route's username and password"
				if ok {
					msg = "wrong username or password for this endpoint (JM_ROUTE_AUTH)"
				}
				reject(w, r, http.StatusUnauthorized, msg)
				return
			}
			next(w, r)
		})
	}
}

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
