package mediator

import (
	"errors"
	"fmt"
)

// Sentinels callers test with errors.Is.
var (
	// ErrNotRegistered: core does not know the mediator's urn (404 on
	// heartbeat or channel install), e.g. it was deleted in the console.
	ErrNotRegistered = errors.New("mediator is not registered with OpenHIM core")
	// ErrChannelExists: a channel with a default channel's name already
	// exists (core's 500 E11000 duplicate key), usually from an earlier
	// install.
	ErrChannelExists = errors.New("a channel with that name already exists in OpenHIM core")
	// ErrUnauthorized: core answered 401, i.e. it did not accept the
	// credentials or the auth scheme.
	ErrUnauthorized = errors.New("OpenHIM core rejected the API credentials")
	// ErrForbidden: core answered 403: the user authenticated but lacks the
	// permission (the admin group up to core 8.5, a role with
	// mediator-manage-all or channel-manage-all on newer cores).
	ErrForbidden = errors.New("the OpenHIM API user is not permitted to do this")
)

// APIError is a non-success answer from core's API. Body is the start of
// core's answer with secrets removed (core's errors are plain text).
type APIError struct {
	Status int
	Body   string
	Op     string

	kind error  // sentinel it matches, if any
	msg  string // explanation overriding the default one
	user string
}

// Error explains what the status means for this client, because core's own
// texts are terse (401 says only "Unauthorized").
func (e *APIError) Error() string {
	var why string
	switch {
	case e.msg != "":
		why = e.msg
	case e.Status == 401:
		why = "credentials or auth scheme not accepted: check the OpenHIM API username (an email) and password, and the auth mode (basic needs core ≥7.1 with basic enabled; token works on every core)"
	case e.Status == 403:
		who := "the API user"
		if e.user != "" {
			who = fmt.Sprintf("user %s", e.user)
		}
		why = fmt.Sprintf("authenticated, but %s is not permitted: add it to the admin group (core ≤8.5) or give it a role with mediator-manage-all / channel-manage-all", who)
	case e.kind == ErrNotRegistered:
		why = "core does not know this mediator urn (never registered, or deleted in the console)"
	case e.kind == ErrChannelExists:
		why = "a channel with that name already exists (installed before, or created by hand)"
	case e.Status >= 500:
		why = "core failed"
	case e.Status == 400:
		why = "core rejected the request"
	default:
		why = "unexpected answer"
	}
	s := fmt.Sprintf("openhim: %s: HTTP %d: %s", e.Op, e.Status, why)
	if e.Body != "" && e.Body != "Unauthorized" && e.Body != "User Authenticated Successfully" {
		s += fmt.Sprintf(" (core said: %q)", e.Body)
	}
	return s
}

// Unwrap exposes the sentinel (ErrNotRegistered, ErrUnauthorized, …).
func (e *APIError) Unwrap() error { return e.kind }

// TransportError is a failure to reach core or read its answer (refused,
// TLS, timeout). URL has no credentials.
type TransportError struct {
	Op  string
	URL string
	msg string
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("openhim: %s: cannot reach core at %s: %s", e.Op, e.URL, e.msg)
}
