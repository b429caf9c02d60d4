package mediator

import (
	"crypto/rand"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"time"
)

// TokenTimeLayout is the auth-ts form: UTC ISO-8601 with milliseconds and a
// Z. Core runs Date.parse on it, and a zone-less string would be read in
// core's local time zone (openhim.md §1.1).
const TokenTimeLayout = "2006-01-02T15:04:05.000Z07:00"

// PasswordHash is the user's stored hash for the legacy token scheme:
// hex(sha512(userSalt + password)).
func PasswordHash(userSalt, password string) string {
	sum := sha512.Sum512([]byte(userSalt + password))
	return hex.EncodeToString(sum[:])
}

// Token is the auth-token header value:
// hex(sha512(passwordHash + authSalt + authTS)).
func Token(passwordHash, authSalt, authTS string) string {
	sum := sha512.Sum512([]byte(passwordHash + authSalt + authTS))
	return hex.EncodeToString(sum[:])
}

// TokenHeaders are the four headers of one token-authenticated request. The
// timestamp is formatted per request, because core accepts it only within
// api.authWindowSeconds (10 s) of its clock.
func TokenHeaders(username, passwordHash, authSalt string, now time.Time) map[string]string {
	ts := now.UTC().Format(TokenTimeLayout)
	return map[string]string{
		"auth-username": username,
		"auth-ts":       ts,
		"auth-salt":     authSalt,
		"auth-token":    Token(passwordHash, authSalt, ts),
	}
}

// newSalt is a random UUIDv4 string; core accepts any auth-salt and its own
// tests send random UUIDs, so no request ever reuses one.
func newSalt() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
