package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/tlsreload"
)

// Inbox methods, as Lightning's webhook auth methods; each names an entry
// of the credentials file holding the secret.
const (
	MethodAPIKey = "api_key" // field `key`, sent in the x-api-key header
	MethodBasic  = "basic"   // fields `username`, `password`, sent as Basic auth
	MethodHMAC   = "hmac"    // field `secret`; X-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>
)

// Header names of the inbox methods.
const (
	APIKeyHeader    = "X-Api-Key"
	SignatureHeader = "X-Signature-256"
)

// Method is one way a direct caller may prove who it is.
type Method struct {
	Type       string
	Credential string
	// TimestampHeader (hmac only) names a header holding the Unix time of
	// the request; the signature then covers "<timestamp>.<body>" and a
	// request older or newer than Tolerance is refused (a replay).
	TimestampHeader string
	Tolerance       time.Duration
}

// DefaultTolerance is an HMAC timestamp's allowed age when none is set.
const DefaultTolerance = 5 * time.Minute

// Policy is who may call one workflow endpoint.
type Policy struct {
	// RouteUsers are OpenHIM core's Basic credentials (JM_ROUTE_AUTH).
	RouteUsers []config.RouteUser
	// ClientCerts is set when a client CA is configured: a verified client
	// certificate is OpenHIM core, and a request without one needs another
	// way in.
	ClientCerts bool
	// Methods are the workflow's `inbox:` entries; none means open to
	// anyone (unless RouteUsers or ClientCerts ask for core).
	Methods []Method
	// Credential resolves a credential name at request time, so a secret
	// rotated in the OpenHIM console applies at once.
	Credential func(name string) (map[string]any, bool)
	// Limit throttles each client (nil: no limit).
	Limit *Limiter
	// BodyLimit bounds what an HMAC check reads.
	BodyLimit int64
	Now       func() time.Time
}

// Identity is who a request was admitted as.
type Identity struct {
	Core   bool   // OpenHIM core, by route credentials or certificate
	Client string // "api_key:<credential>", … or "addr:<ip>" for open endpoints
}

// verdict of checking one method.
type verdict int

const (
	absent verdict = iota // the request carries nothing for this method
	wrong                 // it carries something, and it does not match
	stale                 // a signature whose timestamp is outside the tolerance (a replay)
	right
)

// Guard wraps a workflow handler with the policy: core passes; then the
// inbox methods (none presented → 401, presented but wrong → 404, which
// does not confirm the endpoint exists); then the rate limit (429 with
// Retry-After). Credentials are taken off the request before the handler
// sees it, so they never reach state.request, history or logs.
func Guard(p Policy, reject Reject) func(http.HandlerFunc) http.Handler {
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.BodyLimit <= 0 {
		p.BodyLimit = 10 << 20
	}
	pairs := make([]string, len(p.RouteUsers))
	for i, u := range p.RouteUsers {
		pairs[i] = u.Username + ":" + u.Password
	}
	open := len(p.Methods) == 0 && len(pairs) == 0 && !p.ClientCerts
	return func(next http.HandlerFunc) http.Handler {
		if open && p.Limit == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, status, msg := p.admit(r, pairs)
			if status != 0 {
				if status == http.StatusUnauthorized {
					w.Header().Set("WWW-Authenticate", `Basic realm="jobmediator"`)
				}
				reject(w, r, status, msg)
				return
			}
			strip(r)
			if p.Limit != nil && !id.Core {
				if wait, ok := p.Limit.Allow(id.Client, p.Now()); !ok {
					w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
					reject(w, r, http.StatusTooManyRequests, "too many requests from this client; retry later")
					return
				}
			}
			next(w, r)
		})
	}
}

// admit decides; a zero status admits.
func (p Policy) admit(r *http.Request, routePairs []string) (Identity, int, string) {
	if p.ClientCerts && tlsreload.ClientVerified(r) {
		return Identity{Core: true}, 0, ""
	}
	u, pw, hasBasic := r.BasicAuth()
	if hasBasic && len(routePairs) > 0 && AnyEqual(u+":"+pw, routePairs) {
		return Identity{Core: true}, 0, ""
	}
	if len(p.Methods) == 0 {
		switch {
		case p.ClientCerts:
			return Identity{}, http.StatusUnauthorized, "this endpoint needs a client certificate signed by TLS_CLIENT_CA_FILE (OpenHIM core's, on a secured route)"
		case len(routePairs) > 0 && hasBasic:
			return Identity{}, http.StatusUnauthorized, "wrong username or password for this endpoint (JM_ROUTE_AUTH)"
		case len(routePairs) > 0:
			return Identity{}, http.StatusUnauthorized, "this endpoint needs Basic auth (JM_ROUTE_AUTH): set the channel route's username and password"
		}
		return Identity{Client: "addr:" + remoteIP(r)}, 0, ""
	}
	presented, replay := false, false
	for _, m := range p.Methods {
		switch p.check(r, m) {
		case right:
			return Identity{Client: m.Type + ":" + m.Credential}, 0, ""
		case wrong:
			presented = true
		case stale:
			replay = true
		}
	}
	if replay {
		// A correct signature from a known secret, only too old: say so
		// (401), rather than pretend the endpoint is not there.
		return Identity{}, http.StatusUnauthorized, "the signature's timestamp is outside the allowed window (a replay, or a clock far off): sign the request again"
	}
	if presented || (hasBasic && len(routePairs) > 0) {
		// Lightning answers 404: a wrong key learns nothing, not even that
		// the endpoint exists.
		return Identity{}, http.StatusNotFound, "no workflow is served at " + r.URL.Path
	}
	return Identity{}, http.StatusUnauthorized, "this endpoint needs authentication: " + describe(p.Methods)
}

func describe(ms []Method) string {
	seen := map[string]bool{}
	var out []string
	for _, m := range ms {
		var s string
		switch m.Type {
		case MethodAPIKey:
			s = "an API key in the x-api-key header"
		case MethodBasic:
			s = "Basic auth"
		case MethodHMAC:
			s = "an X-Signature-256: sha256=<HMAC-SHA256 of the body> header"
		}
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return strings.Join(out, ", or ")
}

// field reads a string field of a credential.
func (p Policy) field(cred, name string) string {
	if p.Credential == nil {
		return ""
	}
	c, ok := p.Credential(cred)
	if !ok {
		return ""
	}
	switch v := c[name].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

func (p Policy) check(r *http.Request, m Method) verdict {
	switch m.Type {
	case MethodAPIKey:
		got := r.Header.Get(APIKeyHeader)
		if got == "" {
			return absent
		}
		want := p.field(m.Credential, "key")
		if want != "" && AnyEqual(got, []string{want}) {
			return right
		}
		return wrong
	case MethodBasic:
		u, pw, ok := r.BasicAuth()
		if !ok {
			return absent
		}
		wu, wp := p.field(m.Credential, "username"), p.field(m.Credential, "password")
		if wu != "" && wp != "" && AnyEqual(u+":"+pw, []string{wu + ":" + wp}) {
			return right
		}
		return wrong
	case MethodHMAC:
		sig := r.Header.Get(SignatureHeader)
		if sig == "" {
			return absent
		}
		secret := p.field(m.Credential, "secret")
		if secret == "" {
			return wrong
		}
		body, err := readBody(r, p.BodyLimit)
		if err != nil {
			return wrong
		}
		signed := body
		if m.TimestampHeader != "" {
			ts := r.Header.Get(m.TimestampHeader)
			sec, err := strconv.ParseInt(strings.TrimSpace(ts), 10, 64)
			if err != nil {
				return wrong
			}
			tol := m.Tolerance
			if tol <= 0 {
				tol = DefaultTolerance
			}
			age := p.Now().Sub(time.Unix(sec, 0))
			signed = append([]byte(ts+"."), body...)
			if age > tol || age < -tol {
				// Only a correctly signed old request is a replay; anything
				// else is just wrong.
				if validSig(secret, signed, sig) {
					return stale
				}
				return wrong
			}
		}
		if validSig(secret, signed, sig) {
			return right
		}
		return wrong
	}
	return absent
}

func validSig(secret string, signed []byte, header string) bool {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(signed)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(strings.ToLower(strings.TrimSpace(header))), []byte(want))
}

// readBody reads the raw body for a signature check and puts it back for
// the handler.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("body over %d bytes", limit)
	}
	return b, nil
}

// strip removes credentials from the request, so nothing downstream
// (state.request, run history, logs, orchestrations) can keep them.
// The timestamp header is not a secret: it stays.
func strip(r *http.Request) {
	r.Header.Del("Authorization")
	r.Header.Del(APIKeyHeader)
	r.Header.Del(SignatureHeader)
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
