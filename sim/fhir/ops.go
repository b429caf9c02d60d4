package fhir

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jobmediator/jobmediator/fhir"
	models "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// request is one interaction, from HTTP or from a Bundle entry.
type request struct {
	method          string
	path            []string // segments below the base
	query           url.Values
	body            []byte
	ifMatch         string
	ifNoneExist     string
	ifNoneMatch     string
	ifModifiedSince string
	prefer          string // the return= preference
	strict          bool   // Prefer: handling=strict
	entry           string // "Bundle.entry[i]" inside a bundle, else ""
	batch           bool   // an entry of a batch: urn: references are errors

	// Set by transaction pre-processing: the id a POST or conditional PUT
	// gets (resolved before any write, so urn:uuid references can be
	// rewritten) or the existing resource a conditional create matched.
	assignedID string
	matched    *entity
	resolved   bool
}

// exec runs one interaction against st. The caller holds s.mu.
func (s *Server) exec(st *store, rq *request) *result {
	p := rq.path
	if len(p) > 0 && strings.HasPrefix(p[len(p)-1], "$") {
		return failure(http.StatusBadRequest, codeNotSupported, "", "operation %s is not supported by this server", strings.Join(p, "/"))
	}
	if len(p) == 0 {
		return failure(http.StatusMethodNotAllowed, codeNotSupported, "", "%s is not supported on the server base", rq.method)
	}
	if p[0] == "metadata" && len(p) == 1 {
		if rq.method != http.MethodGet {
			return failure(http.StatusMethodNotAllowed, codeNotSupported, "", "%s is not supported on metadata", rq.method)
		}
		return &result{status: http.StatusOK, body: s.capabilityStatement()}
	}
	typ := p[0]
	if !isResourceType(typ) {
		return failure(http.StatusNotFound, codeNotSupported, "", "unknown resource type %q: not an R4 resource type", typ)
	}
	switch {
	case len(p) == 1:
		switch rq.method {
		case http.MethodGet:
			return s.search(st, typ, rq.query, rq.strict)
		case http.MethodPost:
			return s.create(st, typ, rq)
		case http.MethodPut:
			if len(rq.query) == 0 {
				return failure(http.StatusBadRequest, codeInvalid, "", "PUT needs %s/[id] or %s?[search criteria] (conditional update)", typ, typ)
			}
			return s.conditionalUpdate(st, typ, rq)
		case http.MethodDelete:
			if len(rq.query) == 0 {
				return failure(http.StatusBadRequest, codeInvalid, "", "DELETE needs %s/[id] or %s?[search criteria] (conditional delete)", typ, typ)
			}
			return s.conditionalDelete(st, typ, rq)
		}
	case len(p) == 2 && p[1] == "_search":
		if rq.method == http.MethodPost {
			return s.search(st, typ, rq.query, rq.strict)
		}
	case len(p) == 2:
		if !idRe.MatchString(p[1]) {
			return failure(http.StatusBadRequest, codeInvalid, "", "invalid id %q: R4 ids are 1-64 of [A-Za-z0-9-.]", p[1])
		}
		switch rq.method {
		case http.MethodGet:
			return s.read(st, typ, p[1], "", rq)
		case http.MethodPut:
			return s.update(st, typ, p[1], rq)
		case http.MethodDelete:
			return s.delete(st, st.get(typ, p[1]), typ, p[1], rq)
		}
	case len(p) == 3 && p[2] == "_history":
		if rq.method == http.MethodGet {
			return s.history(st, typ, p[1])
		}
	case len(p) == 4 && p[2] == "_history":
		if rq.method == http.MethodGet {
			return s.read(st, typ, p[1], p[3], rq)
		}
	default:
		return failure(http.StatusNotFound, codeNotFound, "", "unknown path %s", strings.Join(p, "/"))
	}
	return failure(http.StatusMethodNotAllowed, codeNotSupported, "", "%s is not supported on %s", rq.method, strings.Join(p, "/"))
}

const codeInvalid = fhir.IssueInvalid

var idRe = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

var (
	typeOnce  sync.Once
	typeNames []string
	typeSet   map[string]bool
)

// resourceTypes lists the R4 resource types, from golang-fhir-models'
// ResourceType enumeration filtered through fhir.Decode (the project's own
// registry), so both agree on what a resource type is.
func resourceTypes() []string {
	typeOnce.Do(func() {
		typeSet = map[string]bool{}
		for rt := models.ResourceTypeAccount; rt <= models.ResourceTypeVisionPrescription; rt++ {
			name := rt.Code()
			if _, err := fhir.Decode([]byte(`{"resourceType":"` + name + `"}`)); err == nil && !typeSet[name] {
				typeSet[name] = true
				typeNames = append(typeNames, name)
			}
		}
		sort.Strings(typeNames)
	})
	return typeNames
}

func isResourceType(t string) bool {
	resourceTypes()
	return typeSet[t]
}

// parseBody checks the body of a write: JSON, valid per fhir.Validate, of
// the URL's type. It returns the parsed document.
func parseBody(typ string, body []byte, entry string) (map[string]any, *result) {
	prefix := ""
	if entry != "" {
		prefix = entry + ".resource"
	}
	if len(strings.TrimSpace(string(fhir.StripBOM(body)))) == 0 {
		return nil, failure(http.StatusBadRequest, fhir.IssueRequired, prefix, "request body is empty: a %s resource is required", typ)
	}
	doc, err := parseJSON(body)
	if err != nil {
		return nil, failure(http.StatusBadRequest, fhir.IssueStructure, prefix, "request body is not a JSON object: %v", err)
	}
	if oo := fhir.Validate(body); oo.HasErrors() {
		return nil, invalid(oo, http.StatusBadRequest, prefix)
	}
	if rt, _ := doc["resourceType"].(string); rt != typ {
		return nil, failure(http.StatusBadRequest, codeInvalid, join(prefix, "resourceType"),
			"resource type %q does not match the type %q in the URL", rt, typ)
	}
	if id, ok := doc["id"].(string); ok && !idRe.MatchString(id) {
		return nil, failure(http.StatusBadRequest, codeInvalid, join(prefix, "id"), "invalid id %q: R4 ids are 1-64 of [A-Za-z0-9-.]", id)
	}
	return doc, nil
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func (s *Server) newID(st *store, typ string) string {
	for {
		s.seq++
		id := strconv.FormatInt(s.seq, 10)
		if st.get(typ, id) == nil {
			return id
		}
	}
}

// write stores doc as the next version of typ/id. An update whose content
// equals the current version is a no-op, as on HAPI: no new version, and
// the caller answers 200 with the current one (noop=true).
func (s *Server) write(st *store, typ, id string, doc map[string]any) (v *version, noop bool) {
	prev := st.get(typ, id)
	doc["id"] = id
	meta, _ := doc["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	delete(meta, "versionId")
	delete(meta, "lastUpdated")
	if prev.live() {
		cur := prev.current()
		if reflect.DeepEqual(stripVersioning(cur.doc), withMeta(doc, meta)) {
			return cur, true
		}
	}
	vid := 1
	if prev != nil {
		vid = prev.current().vid + 1
	}
	now := s.opts.Now()
	meta["versionId"] = strconv.Itoa(vid)
	meta["lastUpdated"] = instant(now)
	doc["meta"] = meta
	raw := encodeResource(doc)
	parsed, err := parseJSON(raw)
	if err != nil {
		panic(fmt.Sprintf("fhir sim: stored resource does not parse: %v", err))
	}
	v = &version{vid: vid, raw: raw, doc: parsed, updated: now}
	s.order++
	st.put(typ, id, s.order, v)
	return v, false
}

// withMeta returns doc with meta set to m, or without meta if m is empty.
func withMeta(doc map[string]any, m map[string]any) map[string]any {
	c := make(map[string]any, len(doc))
	for k, v := range doc {
		c[k] = v
	}
	delete(c, "meta")
	if len(m) > 0 {
		c["meta"] = m
	}
	return c
}

// stripVersioning returns doc without meta.versionId and meta.lastUpdated.
func stripVersioning(doc map[string]any) map[string]any {
	m := map[string]any{}
	if old, ok := doc["meta"].(map[string]any); ok {
		for k, v := range old {
			if k != "versionId" && k != "lastUpdated" {
				m[k] = v
			}
		}
	}
	return withMeta(doc, m)
}

func written(status int, e string, v *version, verb string) *result {
	loc := e + "/_history/" + strconv.Itoa(v.vid)
	return &result{
		status:   status,
		body:     v.raw,
		oo:       info("Successfully %s resource %q.", verb, loc),
		location: loc,
		etag:     v.etag(),
		modified: v.updated,
	}
}

// criteria parses the query of a conditional interaction ("identifier=a|b"
// or "Patient?identifier=a|b").
func criteria(s string) (url.Values, error) {
	if i := strings.IndexByte(s, '?'); i >= 0 {
		s = s[i+1:]
	}
	q, err := url.ParseQuery(s)
	if err != nil {
		return nil, fmt.Errorf("invalid search criteria %q: %v", s, err)
	}
	return q, nil
}

// matchOne resolves conditional criteria against st.
func (s *Server) matchOne(st *store, typ string, q url.Values, what, entry string) ([]*entity, *result) {
	if len(q) == 0 {
		return nil, failure(http.StatusBadRequest, codeInvalid, entry, "%s needs search criteria", what)
	}
	m, _, fail := s.find(st, typ, q, true)
	if fail != nil {
		return nil, fail
	}
	if len(m) > 1 {
		return nil, failure(http.StatusPreconditionFailed, codeMultipleMatches, entry,
			"%s failed: %d %s resources match %s", what, len(m), typ, q.Encode())
	}
	return m, nil
}

func (s *Server) create(st *store, typ string, rq *request) *result {
	doc, fail := parseBody(typ, rq.body, rq.entry)
	if fail == nil {
		fail = batchRefs(rq, doc)
	}
	if fail != nil {
		return fail
	}
	existing := rq.matched
	if !rq.resolved && rq.ifNoneExist != "" {
		q, err := criteria(rq.ifNoneExist)
		if err != nil {
			return failure(http.StatusBadRequest, codeInvalid, rq.entry, "If-None-Exist: %v", err)
		}
		m, fail := s.matchOne(st, typ, q, "conditional create", rq.entry)
		if fail != nil {
			return fail
		}
		if len(m) == 1 {
			existing = m[0]
		}
	}
	if existing != nil {
		v := existing.current()
		r := written(http.StatusOK, existing.ref(), v, "matched existing")
		r.oo = info("Conditional create matched %s: nothing created.", existing.ref())
		return r
	}
	// R4: a server SHALL ignore an id in the body of a create.
	id := rq.assignedID
	if id == "" {
		id = s.newID(st, typ)
	}
	if fail := s.checkRefs(st, doc, typ, rq.entry); fail != nil {
		return fail
	}
	v, _ := s.write(st, typ, id, doc)
	return written(http.StatusCreated, typ+"/"+id, v, "created")
}

func (s *Server) update(st *store, typ, id string, rq *request) *result {
	doc, fail := parseBody(typ, rq.body, rq.entry)
	if fail == nil {
		fail = batchRefs(rq, doc)
	}
	if fail != nil {
		return fail
	}
	bodyID, _ := doc["id"].(string)
	if bodyID == "" {
		return failure(http.StatusBadRequest, fhir.IssueRequired, join(rq.entry, typ+".id"),
			"the body of an update must have an id equal to the id in the URL (%s)", id)
	}
	if bodyID != id {
		return failure(http.StatusBadRequest, codeInvalid, join(rq.entry, typ+".id"),
			"resource id %q does not match the id %q in the URL", bodyID, id)
	}
	return s.store(st, typ, id, doc, rq)
}

// store is the common end of update and conditional update.
func (s *Server) store(st *store, typ, id string, doc map[string]any, rq *request) *result {
	prev := st.get(typ, id)
	if fail := checkIfMatch(prev, typ, id, rq); fail != nil {
		return fail
	}
	if fail := s.checkRefs(st, doc, typ, rq.entry); fail != nil {
		return fail
	}
	v, noop := s.write(st, typ, id, doc)
	if !prev.live() {
		return written(http.StatusCreated, typ+"/"+id, v, "created")
	}
	r := written(http.StatusOK, typ+"/"+id, v, "updated")
	if noop {
		r.oo = info("No changes detected: %s unchanged at version %d.", typ+"/"+id, v.vid)
	}
	return r
}

// checkIfMatch enforces optimistic locking (If-Match: W/"n").
func checkIfMatch(prev *entity, typ, id string, rq *request) *result {
	if rq.ifMatch == "" {
		return nil
	}
	want := parseETag(rq.ifMatch)
	if prev == nil {
		return failure(http.StatusPreconditionFailed, codeConflict, rq.entry,
			"If-Match %s: %s/%s does not exist", rq.ifMatch, typ, id)
	}
	cur := prev.current()
	if strconv.Itoa(cur.vid) != want {
		return failure(http.StatusPreconditionFailed, codeConflict, rq.entry,
			"If-Match %s does not match the current version %s of %s/%s", rq.ifMatch, cur.etag(), typ, id)
	}
	return nil
}

// parseETag turns W/"3", "3" or 3 into 3.
func parseETag(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "W/")
	return strings.Trim(s, `"`)
}

func (s *Server) conditionalUpdate(st *store, typ string, rq *request) *result {
	doc, fail := parseBody(typ, rq.body, rq.entry)
	if fail == nil {
		fail = batchRefs(rq, doc)
	}
	if fail != nil {
		return fail
	}
	bodyID, _ := doc["id"].(string)
	id := rq.assignedID
	if !rq.resolved {
		m, fail := s.matchOne(st, typ, rq.query, "conditional update", rq.entry)
		if fail != nil {
			return fail
		}
		switch {
		case len(m) == 1:
			id = m[0].id
		case bodyID != "":
			// R4: with no match, a client-supplied id is used for the create.
			id = bodyID
		default:
			id = s.newID(st, typ)
		}
	}
	if bodyID != "" && bodyID != id {
		return failure(http.StatusBadRequest, codeInvalid, join(rq.entry, typ+".id"),
			"resource id %q does not match %s/%s found by the conditional update", bodyID, typ, id)
	}
	return s.store(st, typ, id, doc, rq)
}

func (s *Server) delete(st *store, e *entity, typ, id string, rq *request) *result {
	if fail := checkIfMatch(e, typ, id, rq); fail != nil {
		return fail
	}
	if !e.live() {
		// Deleting what is not there succeeds (idempotent), as on HAPI.
		return &result{status: http.StatusNoContent, oo: info("Nothing to delete: %s/%s does not exist.", typ, id)}
	}
	now := s.opts.Now()
	v := &version{vid: e.current().vid + 1, updated: now, deleted: true}
	st.put(typ, id, e.seq, v)
	return &result{
		status:   http.StatusNoContent,
		oo:       info("Successfully deleted 1 resource(s): %s/%s.", typ, id),
		etag:     v.etag(),
		modified: now,
	}
}

func (s *Server) conditionalDelete(st *store, typ string, rq *request) *result {
	m, fail := s.matchOne(st, typ, rq.query, "conditional delete", rq.entry)
	if fail != nil {
		return fail
	}
	if len(m) == 0 {
		return &result{status: http.StatusNoContent, oo: info("Nothing to delete: no %s matches %s.", typ, rq.query.Encode())}
	}
	return s.delete(st, m[0], typ, m[0].id, rq)
}

func (s *Server) read(st *store, typ, id, vid string, rq *request) *result {
	e := st.get(typ, id)
	if e == nil {
		return failure(http.StatusNotFound, codeNotFound, rq.entry, "resource %s/%s is not known", typ, id)
	}
	v := e.current()
	if vid != "" {
		v = nil
		for _, c := range e.versions {
			if strconv.Itoa(c.vid) == vid {
				v = c
			}
		}
		if v == nil {
			return failure(http.StatusNotFound, codeNotFound, rq.entry, "version %s of %s/%s is not known", vid, typ, id)
		}
	}
	if v.deleted {
		r := failure(http.StatusGone, codeDeleted, rq.entry, "resource %s/%s was deleted (version %d)", typ, id, v.vid)
		r.etag, r.modified = v.etag(), v.updated
		return r
	}
	r := &result{status: http.StatusOK, body: v.raw, etag: v.etag(), modified: v.updated,
		location: typ + "/" + id + "/_history/" + strconv.Itoa(v.vid)}
	if rq.ifNoneMatch != "" && parseETag(rq.ifNoneMatch) == strconv.Itoa(v.vid) {
		return &result{status: http.StatusNotModified, etag: r.etag, modified: r.modified, location: r.location}
	}
	if rq.ifModifiedSince != "" {
		if t, ok := parseHTTPOrFHIRTime(rq.ifModifiedSince); ok && !v.updated.Truncate(time.Second).After(t) {
			return &result{status: http.StatusNotModified, etag: r.etag, modified: r.modified, location: r.location}
		}
	}
	return r
}

func parseHTTPOrFHIRTime(s string) (time.Time, bool) {
	if t, err := http.ParseTime(s); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// history answers GET [type]/[id]/_history: a history Bundle, newest first.
func (s *Server) history(st *store, typ, id string) *result {
	e := st.get(typ, id)
	if e == nil {
		return failure(http.StatusNotFound, codeNotFound, "", "resource %s/%s is not known", typ, id)
	}
	var entries []any
	for i := len(e.versions) - 1; i >= 0; i-- {
		v := e.versions[i]
		en := map[string]any{"fullUrl": s.URL() + "/" + typ + "/" + id}
		method, status := http.MethodPut, "200 OK"
		if i == 0 {
			method, status = http.MethodPost, "201 Created"
		}
		if v.deleted {
			method, status = http.MethodDelete, "204 No Content"
		} else {
			en["resource"] = rawJSON(v.raw)
		}
		en["request"] = map[string]any{"method": method, "url": typ + "/" + id}
		en["response"] = map[string]any{"status": status, "etag": v.etag(), "lastModified": instant(v.updated)}
		entries = append(entries, en)
	}
	b := map[string]any{
		"resourceType": "Bundle",
		"id":           s.newUUID(),
		"meta":         map[string]any{"lastUpdated": instant(s.opts.Now())},
		"type":         "history",
		"total":        len(e.versions),
		"link":         []any{map[string]any{"relation": "self", "url": s.URL() + "/" + typ + "/" + id + "/_history"}},
		"entry":        entries,
	}
	return &result{status: http.StatusOK, body: encodeResource(b)}
}

// newUUID returns a deterministic UUID-shaped id (for Bundle ids and search
// ids), so responses are reproducible in golden files.
func rawJSON(b []byte) json.RawMessage { return json.RawMessage(b) }

func (s *Server) newUUID() string {
	s.uuidSeq++
	return fmt.Sprintf("5eed0000-0000-4000-8000-%012x", s.uuidSeq)
}

// checkRefs implements Options.CheckReferences.
func (s *Server) checkRefs(st *store, doc map[string]any, typ, entry string) *result {
	if !s.opts.CheckReferences {
		return nil
	}
	var fail *result
	walkRefs(doc, typ, func(path string, ref map[string]any) {
		r, _ := ref["reference"].(string)
		t, id, ok := localRef(r)
		if fail != nil || !ok {
			return
		}
		if !st.get(t, id).live() {
			fail = failure(http.StatusUnprocessableEntity, codeProcessing, prefixPath(join(entry, "resource"), path),
				"resource %s/%s, referenced from %s, does not exist", t, id, path)
			if entry == "" {
				fail.oo.Issue[0].Expression = []string{path}
			}
		}
	})
	return fail
}

// localRef splits a relative literal reference "Type/id[/_history/n]".
func localRef(r string) (typ, id string, ok bool) {
	parts := strings.Split(r, "/")
	if len(parts) != 2 && !(len(parts) == 4 && parts[2] == "_history") {
		return "", "", false
	}
	if !isResourceType(parts[0]) || !idRe.MatchString(parts[1]) {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// walkRefs calls fn for every Reference-like object (one with a string
// "reference") in v, with its FHIRPath-ish path. Contained resources are
// skipped: their references are resolved within the container.
func walkRefs(v any, path string, fn func(path string, ref map[string]any)) {
	switch t := v.(type) {
	case map[string]any:
		if _, ok := t["reference"].(string); ok {
			fn(path, t)
		}
		keys := make([]string, 0, len(t))
		for k := range t {
			if k != "contained" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			walkRefs(t[k], path+"."+k, fn)
		}
	case []any:
		for i, e := range t {
			walkRefs(e, fmt.Sprintf("%s[%d]", path, i), fn)
		}
	}
}
