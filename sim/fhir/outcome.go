package fhir

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jobmediator/jobmediator/fhir"
)

// R4 IssueType codes the simulator emits beyond those the fhir package names.
const (
	codeProcessing      = "processing"
	codeNotSupported    = "not-supported"
	codeNotFound        = "not-found"
	codeDeleted         = "deleted"
	codeConflict        = "conflict"
	codeMultipleMatches = "multiple-matches"
	codeDuplicate       = "duplicate"
	codeThrottled       = "throttled"
	codeTransient       = "transient"
	codeException       = "exception"
	codeLogin           = "login"
	codeForbidden       = "forbidden"
	codeTooCostly       = "too-costly"
)

const (
	fhirCT = "application/fhir+json;charset=utf-8"
	jsonCT = "application/json;charset=utf-8"
)

// result is the outcome of one interaction, whether it came over HTTP or as
// a Bundle entry: the status, the resource (or Bundle) to return, the
// versioning headers and an OperationOutcome (the error, or information).
type result struct {
	status   int
	body     []byte // resource or Bundle JSON; nil for errors and deletes
	oo       *fhir.OperationOutcome
	location string // relative, e.g. Patient/1/_history/1
	etag     string
	modified time.Time
}

func (r *result) failed() bool { return r.status >= 400 }

func issue(sev, code, expr, diag string) fhir.Issue {
	is := fhir.Issue{Severity: sev, Code: code, Diagnostics: diag}
	if expr != "" {
		is.Expression = []string{expr}
	}
	return is
}

// failure builds an error result with one issue.
func failure(status int, code, expr, format string, args ...any) *result {
	return &result{status: status, oo: &fhir.OperationOutcome{Issue: []fhir.Issue{
		issue(fhir.SeverityError, code, expr, fmt.Sprintf(format, args...)),
	}}}
}

// info builds an informational OperationOutcome.
func info(format string, args ...any) *fhir.OperationOutcome {
	return &fhir.OperationOutcome{Issue: []fhir.Issue{
		issue(fhir.SeverityInformation, fhir.IssueInformational, "", fmt.Sprintf(format, args...)),
	}}
}

// errorIssues keeps the error and fatal issues of an outcome (warnings of a
// rejected resource are kept too: they help the client fix it).
func invalid(oo *fhir.OperationOutcome, status int, prefix string) *result {
	out := &fhir.OperationOutcome{}
	for _, is := range oo.Issue {
		if prefix != "" {
			if len(is.Expression) == 0 {
				is.Expression = []string{prefix}
			} else {
				is.Expression = []string{prefixPath(prefix, is.Expression[0])}
			}
		}
		out.Issue = append(out.Issue, is)
	}
	return &result{status: status, oo: out}
}

// prefixPath puts a bundle entry path in front of a FHIRPath expression
// that starts with the resource type ("Patient.name" → "Bundle.entry[2].resource.name").
func prefixPath(prefix, expr string) string {
	if _, rest, ok := strings.Cut(expr, "."); ok && expr[0] >= 'A' && expr[0] <= 'Z' {
		return prefix + "." + rest
	}
	if expr == "" || (expr[0] >= 'A' && expr[0] <= 'Z' && !strings.Contains(expr, ".")) {
		return prefix
	}
	return prefix + "." + expr
}

// statusLine is the Bundle.entry.response.status form: "201 Created".
func statusLine(code int) string { return strconv.Itoa(code) + " " + http.StatusText(code) }

func writeOutcome(w http.ResponseWriter, ct string, r *result) {
	oo := r.oo
	if oo == nil {
		oo = info("%s", http.StatusText(r.status))
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(r.status)
	_, _ = w.Write(encodeJSON(oo))
}
