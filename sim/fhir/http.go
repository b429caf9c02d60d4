package fhir

import (
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// jsonMedia are the request/response media types the simulator speaks.
// application/json+fhir is the DSTU2 name that HAPI still accepts.
var jsonMedia = map[string]bool{
	"application/fhir+json": true, "application/json": true, "application/json+fhir": true,
}

// formatOK interprets _format (which overrides Accept, R4 http.html#mime).
func formatOK(f string) bool {
	f = strings.ToLower(strings.TrimSpace(f))
	if mt, _, err := mime.ParseMediaType(f); err == nil {
		f = mt
	}
	return f == "json" || jsonMedia[f]
}

// negotiate returns the response content type, or "" when the client
// accepts nothing the simulator can produce (only XML, say).
func negotiate(r *http.Request) string {
	if f := r.URL.Query().Get("_format"); f != "" {
		if !formatOK(f) {
			return ""
		}
		if strings.HasPrefix(strings.ToLower(f), "application/json") {
			return jsonCT
		}
		return fhirCT
	}
	accepts := r.Header.Values("Accept")
	if len(accepts) == 0 {
		return fhirCT
	}
	plainJSON := false
	for _, a := range accepts {
		for _, part := range strings.Split(a, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			if params["q"] == "0" {
				continue
			}
			switch mt {
			case "application/fhir+json", "application/json+fhir", "*/*", "application/*":
				return fhirCT
			case "application/json":
				plainJSON = true
			}
		}
	}
	if plainJSON {
		return jsonCT
	}
	return ""
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request, body []byte) {
	rel, ok := strings.CutPrefix(r.URL.Path, s.base)
	if !ok || (rel != "" && rel[0] != '/') {
		writeOutcome(w, fhirCT, failure(http.StatusNotFound, codeNotFound, "", "%s is outside the FHIR base %s", r.URL.Path, s.base+"/"))
		return
	}
	var path []string
	for _, seg := range strings.Split(strings.Trim(rel, "/"), "/") {
		if seg != "" {
			path = append(path, seg)
		}
	}
	ct := negotiate(r)
	if ct == "" {
		writeOutcome(w, fhirCT, failure(http.StatusNotAcceptable, codeNotSupported, "",
			"this server produces only JSON (application/fhir+json); Accept %q / _format %q cannot be satisfied",
			r.Header.Get("Accept"), r.URL.Query().Get("_format")))
		return
	}
	public := r.Method == http.MethodGet && len(path) == 1 && path[0] == "metadata"
	if !public {
		if reason := s.authenticate(r); reason != "" {
			s.challenge(w, reason)
			return
		}
	}
	q := r.URL.Query()
	search := len(path) == 2 && path[1] == "_search" && r.Method == http.MethodPost
	if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		switch {
		case search && (mt == "application/x-www-form-urlencoded" || len(body) == 0):
			form, err := url.ParseQuery(string(body))
			if err != nil {
				writeOutcome(w, ct, failure(http.StatusBadRequest, codeProcessing, "", "invalid form body: %v", err))
				return
			}
			for k, vs := range form {
				q[k] = append(q[k], vs...)
			}
		case !jsonMedia[mt]:
			got := r.Header.Get("Content-Type")
			if got == "" {
				got = "none"
			}
			writeOutcome(w, ct, failure(http.StatusUnsupportedMediaType, codeNotSupported, "",
				"unsupported Content-Type %s: send application/fhir+json", got))
			return
		}
	}
	rq := &request{
		method:          r.Method,
		path:            path,
		query:           q,
		body:            body,
		ifMatch:         r.Header.Get("If-Match"),
		ifNoneExist:     r.Header.Get("If-None-Exist"),
		ifNoneMatch:     r.Header.Get("If-None-Match"),
		ifModifiedSince: r.Header.Get("If-Modified-Since"),
	}
	rq.prefer, rq.strict = parsePrefer(r.Header.Values("Prefer"))

	s.mu.Lock()
	var res *result
	switch {
	case len(path) == 0 && r.Method == http.MethodGet && q.Get("_getpages") != "":
		res = s.getPages(s.st, q)
	case len(path) == 0 && r.Method == http.MethodPost:
		res = s.postBundle(body, rq.prefer)
	default:
		res = s.exec(s.st, rq)
	}
	s.mu.Unlock()
	s.respond(w, ct, rq, res)
}

// parsePrefer reads return=… and handling=… from Prefer headers.
func parsePrefer(vals []string) (ret string, strict bool) {
	for _, v := range vals {
		for _, part := range strings.Split(v, ";") {
			for _, p := range strings.Split(part, ",") {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				val = strings.Trim(val, `"`)
				switch strings.ToLower(k) {
				case "return":
					ret = val
				case "handling":
					strict = val == "strict"
				}
			}
		}
	}
	return ret, strict
}

func (s *Server) respond(w http.ResponseWriter, ct string, rq *request, res *result) {
	h := w.Header()
	if res.etag != "" {
		h.Set("ETag", res.etag)
	}
	if !res.modified.IsZero() {
		h.Set("Last-Modified", res.modified.UTC().Format(http.TimeFormat))
	}
	write := rq.method == http.MethodPost || rq.method == http.MethodPut
	if res.location != "" && write && !res.failed() {
		h.Set("Location", s.URL()+"/"+res.location)
	}
	if res.failed() {
		writeOutcome(w, ct, res)
		return
	}
	if res.status == http.StatusNotModified {
		w.WriteHeader(res.status)
		return
	}
	body := res.body
	isWrite := write || rq.method == http.MethodDelete
	// A transaction or batch is answered with its response Bundle whatever
	// Prefer says; Prefer shapes the entries instead.
	if isWrite && len(rq.path) > 0 && !(len(rq.path) == 2 && rq.path[1] == "_search") {
		switch rq.prefer {
		case "minimal":
			body = nil
		case "OperationOutcome":
			body = encodeJSON(res.oo)
			if res.status == http.StatusNoContent {
				res.status = http.StatusOK
			}
		}
	}
	if body == nil {
		w.WriteHeader(res.status)
		return
	}
	h.Set("Content-Type", ct)
	w.WriteHeader(res.status)
	_, _ = w.Write(body)
}
