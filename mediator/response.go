package mediator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Validate checks what core needs from a mediator response (openhim.md
// §5.1): a client status core can set (100–599), response.timestamp (without
// it the transaction drops out of core's metrics), a name on every
// orchestration and a timestamp on every orchestration request and response
// (core's schema requires the request one; a zero time would be stored as
// year 1), a known status (core stores typos unvalidated, which breaks the
// console's filters), an error message when error is set, and orchestration
// header names without "." or a leading "$" (stored as Mongo keys unescaped).
func (r *Response) Validate() error {
	if r == nil {
		return errors.New("mediator response is nil")
	}
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if r.Response.Status < 100 || r.Response.Status > 599 {
		add("response.status %d is not an HTTP status (100–599)", r.Response.Status)
	}
	if r.Response.Timestamp.IsZero() {
		add("response.timestamp is required (core leaves transactions without it out of metrics)")
	}
	if r.Status != "" && !knownStatuses[r.Status] {
		add("status %q is not one core knows (Processing, Successful, Completed, Completed with error(s), Failed, Pending Async)", r.Status)
	}
	if r.Error != nil && r.Error.Message == "" {
		add("error.message is required when error is set")
	}
	for i, o := range r.Orchestrations {
		if strings.TrimSpace(o.Name) == "" {
			add("orchestrations[%d]: name is required", i)
		}
		if o.Request != nil {
			if o.Request.Timestamp.IsZero() {
				add("orchestrations[%d] %q: request.timestamp is required when request is present", i, o.Name)
			}
			if err := checkHeaderNames(o.Request.Headers); err != nil {
				add("orchestrations[%d] %q: request headers: %v", i, o.Name, err)
			}
		}
		if o.Response != nil {
			if o.Response.Timestamp.IsZero() {
				add("orchestrations[%d] %q: response.timestamp is required when response is present", i, o.Name)
			}
			if err := checkHeaderNames(o.Response.Headers); err != nil {
				add("orchestrations[%d] %q: response headers: %v", i, o.Name, err)
			}
		}
		if o.Error != nil && o.Error.Message == "" {
			add("orchestrations[%d] %q: error.message is required when error is set", i, o.Name)
		}
	}
	return errors.Join(errs...)
}

func checkHeaderNames(h map[string]string) error {
	for k := range h {
		if strings.Contains(k, ".") || strings.HasPrefix(k, "$") {
			return fmt.Errorf("header name %q has a dot or leading $", k)
		}
	}
	return nil
}

// WriteResponse validates resp and writes it as the mediator response:
// Content-Type exactly "application/json+openhim" (core's check is a
// case-sensitive substring match), never compressed, the outer HTTP status
// equal to response.status (core records it in its own orchestration). An
// invalid response is not written: the error says why, and the caller
// answers otherwise. Nil response.headers are sent as {} as core expects.
func WriteResponse(w http.ResponseWriter, resp Response) error {
	if err := resp.Validate(); err != nil {
		return fmt.Errorf("mediator response not sent: %w", err)
	}
	if resp.Response.Headers == nil {
		resp.Response.Headers = map[string]string{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Bodies are often XML or HTML; escaping <>& is legal but makes the
	// stored text harder to read.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(resp); err != nil {
		return fmt.Errorf("mediator response not sent: encode: %w", err)
	}
	h := w.Header()
	h.Del("Content-Encoding") // core does not decode compressed mediator responses
	h.Set("Content-Type", ContentType)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(resp.Response.Status)
	_, err := w.Write(buf.Bytes())
	return err
}
