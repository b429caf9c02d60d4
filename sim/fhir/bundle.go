package fhir

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/jobmediator/jobmediator/fhir"
)

type wireEntry struct {
	FullURL  string          `json:"fullUrl"`
	Resource json.RawMessage `json:"resource"`
	Request  struct {
		Method          string `json:"method"`
		URL             string `json:"url"`
		IfNoneExist     string `json:"ifNoneExist"`
		IfMatch         string `json:"ifMatch"`
		IfNoneMatch     string `json:"ifNoneMatch"`
		IfModifiedSince string `json:"ifModifiedSince"`
	} `json:"request"`
}

// methodRank is the R4 transaction processing order (http.html#trules).
var methodRank = map[string]int{
	http.MethodDelete: 0, http.MethodPost: 1, http.MethodPut: 2, http.MethodPatch: 2, http.MethodGet: 3, http.MethodHead: 3,
}

// postBundle answers POST [base]. The caller holds s.mu.
func (s *Server) postBundle(body []byte, prefer string) *result {
	if len(strings.TrimSpace(string(fhir.StripBOM(body)))) == 0 {
		return failure(http.StatusBadRequest, fhir.IssueRequired, "", "request body is empty: POST to the base needs a transaction or batch Bundle")
	}
	doc, err := parseJSON(body)
	if err != nil {
		return failure(http.StatusBadRequest, fhir.IssueStructure, "", "request body is not a JSON object: %v", err)
	}
	if rt, _ := doc["resourceType"].(string); rt != "Bundle" {
		if oo := fhir.Validate(body); oo.HasErrors() {
			return invalid(oo, http.StatusBadRequest, "")
		}
		return failure(http.StatusBadRequest, codeInvalid, "resourceType",
			"POST to the base needs a Bundle of type transaction or batch, got a %s", rt)
	}
	typ, _ := doc["type"].(string)
	if typ != "transaction" && typ != "batch" {
		return failure(http.StatusBadRequest, codeInvalid, "Bundle.type",
			"POST to the base accepts Bundle.type transaction or batch, got %q", typ)
	}
	// Validate the envelope without the entry resources: a bad resource in a
	// batch fails only its entry, so resources are validated per entry.
	var bundle struct {
		Entry []wireEntry `json:"entry"`
	}
	if err := json.Unmarshal(fhir.StripBOM(body), &bundle); err != nil {
		return failure(http.StatusBadRequest, fhir.IssueStructure, "Bundle.entry", "cannot read the entries: %v", err)
	}
	if oo := fhir.Validate(encodeJSON(withoutResources(doc))); oo.HasErrors() {
		return invalid(oo, http.StatusBadRequest, "")
	}
	rqs := make([]*request, len(bundle.Entry))
	bad := make([]*result, len(bundle.Entry)) // entries whose request is unusable
	for i, e := range bundle.Entry {
		rq, fail := s.entryRequest(i, e)
		if fail != nil && typ == "transaction" {
			return entryFailure(rq, e.Request.URL, fail)
		}
		rq.prefer = prefer
		rqs[i], bad[i] = rq, fail
	}
	if typ == "transaction" {
		return s.transaction(bundle.Entry, rqs, prefer)
	}
	return s.batch(rqs, bad, prefer)
}

func withoutResources(doc map[string]any) map[string]any {
	c := make(map[string]any, len(doc))
	for k, v := range doc {
		c[k] = v
	}
	if es, ok := doc["entry"].([]any); ok {
		out := make([]any, len(es))
		for i, e := range es {
			m, ok := e.(map[string]any)
			if !ok {
				out[i] = e
				continue
			}
			cm := make(map[string]any, len(m))
			for k, v := range m {
				if k != "resource" {
					cm[k] = v
				}
			}
			out[i] = cm
		}
		c["entry"] = out
	}
	return c
}

// entryRequest turns Bundle.entry[i].request into a request.
func (s *Server) entryRequest(i int, e wireEntry) (*request, *result) {
	where := fmt.Sprintf("Bundle.entry[%d]", i)
	rq := &request{
		method:          strings.ToUpper(e.Request.Method),
		body:            e.Resource,
		ifMatch:         e.Request.IfMatch,
		ifNoneExist:     e.Request.IfNoneExist,
		ifNoneMatch:     e.Request.IfNoneMatch,
		ifModifiedSince: e.Request.IfModifiedSince,
		entry:           where,
		query:           url.Values{},
	}
	u := strings.TrimPrefix(e.Request.URL, s.URL()+"/")
	u = strings.TrimPrefix(u, "/")
	p, rawq, _ := strings.Cut(u, "?")
	for _, seg := range strings.Split(p, "/") {
		if seg == "" {
			continue
		}
		seg, err := url.PathUnescape(seg)
		if err != nil {
			return rq, failure(http.StatusBadRequest, codeInvalid, where+".request.url", "invalid url %q: %v", e.Request.URL, err)
		}
		rq.path = append(rq.path, seg)
	}
	if rawq != "" {
		q, err := url.ParseQuery(rawq)
		if err != nil {
			return rq, failure(http.StatusBadRequest, codeInvalid, where+".request.url", "invalid url %q: %v", e.Request.URL, err)
		}
		rq.query = q
	}
	if len(rq.path) == 0 {
		return rq, failure(http.StatusBadRequest, codeInvalid, where+".request.url", "request.url %q names no resource type", e.Request.URL)
	}
	if _, ok := methodRank[rq.method]; !ok {
		return rq, failure(http.StatusBadRequest, codeInvalid, where+".request.method", "unsupported method %q", e.Request.Method)
	}
	return rq, nil
}

// entryFailure names the entry in a failed transaction's outcome.
func entryFailure(rq *request, url string, res *result) *result {
	out := &result{status: res.status, oo: &fhir.OperationOutcome{}}
	for _, is := range res.oo.Issue {
		if len(is.Expression) == 0 {
			is.Expression = []string{rq.entry}
		}
		is.Diagnostics = fmt.Sprintf("%s (%s %s): %s", rq.entry, rq.method, url, is.Diagnostics)
		out.oo.Issue = append(out.oo.Issue, is)
	}
	return out
}

// transaction processes a transaction atomically on a clone of the store.
func (s *Server) transaction(entries []wireEntry, rqs []*request, prefer string) *result {
	tx := s.st.clone()
	fail := func(i int, res *result) *result { return entryFailure(rqs[i], entries[i].Request.URL, res) }

	// 1. Resolve every target before any write: server ids for creates,
	// conditional matches against the state before the transaction, and the
	// fullUrl → Type/id map for reference rewriting.
	mapping := map[string]string{}
	touched := map[string]int{}
	touch := func(i int, ref string) *result {
		if j, dup := touched[ref]; dup {
			return fail(i, failure(http.StatusBadRequest, codeDuplicate, rqs[i].entry,
				"%s is touched by Bundle.entry[%d] and Bundle.entry[%d]: a transaction may change a resource only once", ref, j, i))
		}
		touched[ref] = i
		return nil
	}
	reserved := map[string]bool{}
	for _, rq := range rqs {
		if len(rq.path) == 2 && (rq.method == http.MethodPut || rq.method == http.MethodDelete) {
			reserved[rq.path[0]+"/"+rq.path[1]] = true
		}
	}
	newID := func(typ string) string {
		for {
			id := s.newID(tx, typ)
			if !reserved[typ+"/"+id] {
				return id
			}
		}
	}
	for i, rq := range rqs {
		if len(rq.path) == 0 || !isResourceType(rq.path[0]) || strings.HasPrefix(rq.path[len(rq.path)-1], "$") {
			continue // exec reports it
		}
		typ := rq.path[0]
		target := ""
		switch {
		case rq.method == http.MethodDelete && len(rq.path) == 1 && len(rq.query) > 0:
			m, f := s.matchOne(tx, typ, rq.query, "conditional delete", rq.entry)
			if f != nil {
				return fail(i, f)
			}
			if len(m) == 1 {
				rq.path, rq.query = []string{typ, m[0].id}, url.Values{}
				target = m[0].ref()
			}
		case rq.method == http.MethodDelete && len(rq.path) == 2:
			target = typ + "/" + rq.path[1]
		case rq.method == http.MethodPost && len(rq.path) == 1:
			rq.resolved = true
			if rq.ifNoneExist != "" {
				q, err := criteria(rq.ifNoneExist)
				if err != nil {
					return fail(i, failure(http.StatusBadRequest, codeInvalid, rq.entry+".request.ifNoneExist", "%v", err))
				}
				m, f := s.matchOne(tx, typ, q, "conditional create", rq.entry)
				if f != nil {
					return fail(i, f)
				}
				if len(m) == 1 {
					rq.matched = m[0]
					if entries[i].FullURL != "" {
						mapping[entries[i].FullURL] = m[0].ref()
					}
					continue
				}
			}
			rq.assignedID = newID(typ)
			target = typ + "/" + rq.assignedID
		case rq.method == http.MethodPut && len(rq.path) == 1 && len(rq.query) > 0:
			m, f := s.matchOne(tx, typ, rq.query, "conditional update", rq.entry)
			if f != nil {
				return fail(i, f)
			}
			rq.resolved = true
			switch {
			case len(m) == 1:
				rq.assignedID = m[0].id
			default:
				var head struct {
					ID string `json:"id"`
				}
				_ = json.Unmarshal(fhir.StripBOM(rq.body), &head)
				rq.assignedID = head.ID
				if rq.assignedID == "" || !idRe.MatchString(rq.assignedID) {
					rq.assignedID = newID(typ)
				}
			}
			target = typ + "/" + rq.assignedID
		case (rq.method == http.MethodPut || rq.method == http.MethodPatch) && len(rq.path) == 2:
			target = typ + "/" + rq.path[1]
		}
		if target == "" {
			continue
		}
		if f := touch(i, target); f != nil {
			return f
		}
		if entries[i].FullURL != "" && rq.method != http.MethodDelete {
			mapping[entries[i].FullURL] = target
		}
	}

	// 2. Rewrite references to fullUrls of this transaction; an urn: that
	// names no entry cannot be resolved.
	for i, rq := range rqs {
		if len(rq.body) == 0 {
			continue
		}
		doc, err := parseJSON(rq.body)
		if err != nil {
			continue // parseBody reports it when the entry runs
		}
		var unresolved string
		walkRefs(doc, "", func(path string, ref map[string]any) {
			r := ref["reference"].(string)
			if to, ok := mapping[r]; ok {
				ref["reference"] = to
			} else if strings.HasPrefix(r, "urn:") && unresolved == "" {
				unresolved = r
			}
		})
		if unresolved != "" {
			return fail(i, failure(http.StatusBadRequest, codeProcessing, rq.entry+".resource",
				"reference %s does not match the fullUrl of any entry in the transaction", unresolved))
		}
		rewriteNarrative(doc, mapping)
		rq.body = encodeJSON(doc)
	}

	// 3. Run the entries in R4 order; the first failure aborts everything.
	order := make([]int, len(rqs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return methodRank[rqs[order[a]].method] < methodRank[rqs[order[b]].method] })
	results := make([]*result, len(rqs))
	for _, i := range order {
		res := s.exec(tx, rqs[i])
		if res.failed() {
			return fail(i, res)
		}
		results[i] = res
	}
	s.st = tx
	return s.responseBundle("transaction-response", rqs, results, prefer)
}

// rewriteNarrative replaces urn:uuid fullUrls inside narrative links.
func rewriteNarrative(doc map[string]any, mapping map[string]string) {
	text, ok := doc["text"].(map[string]any)
	if !ok {
		return
	}
	div, ok := text["div"].(string)
	if !ok {
		return
	}
	for from, to := range mapping {
		if strings.HasPrefix(from, "urn:") {
			div = strings.ReplaceAll(div, from, to)
		}
	}
	text["div"] = div
}

// batch processes each entry on its own, in order.
func (s *Server) batch(rqs []*request, bad []*result, prefer string) *result {
	results := make([]*result, len(rqs))
	for i, rq := range rqs {
		if bad[i] != nil {
			results[i] = bad[i]
			continue
		}
		rq.batch = true
		results[i] = s.exec(s.st, rq)
	}
	return s.responseBundle("batch-response", rqs, results, prefer)
}

// batchRefs rejects references to other entries in a batch entry, which
// (unlike in a transaction) nothing resolves.
func batchRefs(rq *request, doc map[string]any) *result {
	if !rq.batch {
		return nil
	}
	urn := ""
	walkRefs(doc, "", func(_ string, ref map[string]any) {
		if r := ref["reference"].(string); strings.HasPrefix(r, "urn:") && urn == "" {
			urn = r
		}
	})
	if urn == "" {
		return nil
	}
	return failure(http.StatusBadRequest, codeProcessing, rq.entry+".resource",
		"reference %s cannot be resolved: batch entries are independent (use a transaction to reference other entries)", urn)
}

// responseBundle builds the transaction-response or batch-response: one
// entry per request entry, in request order.
func (s *Server) responseBundle(typ string, rqs []*request, results []*result, prefer string) *result {
	out := make([]any, len(results))
	for i, res := range results {
		resp := map[string]any{"status": statusLine(res.status)}
		en := map[string]any{}
		if res.failed() {
			resp["outcome"] = res.oo
			en["response"] = resp
			out[i] = en
			continue
		}
		read := rqs[i].method == http.MethodGet || rqs[i].method == http.MethodHead
		if res.location != "" && !read {
			resp["location"] = res.location
		}
		if res.etag != "" {
			resp["etag"] = res.etag
		}
		if !res.modified.IsZero() {
			resp["lastModified"] = instant(res.modified)
		}
		if prefer == "OperationOutcome" && res.oo != nil {
			resp["outcome"] = res.oo
		}
		if res.body != nil && res.status != http.StatusNotModified && (read || prefer == "representation") {
			if res.location != "" {
				loc, _, _ := strings.Cut(res.location, "/_history/")
				en["fullUrl"] = s.URL() + "/" + loc
			}
			en["resource"] = rawJSON(res.body)
		}
		en["response"] = resp
		out[i] = en
	}
	b := map[string]any{
		"resourceType": "Bundle",
		"id":           s.newUUID(),
		"meta":         map[string]any{"lastUpdated": instant(s.opts.Now())},
		"type":         typ,
		"link":         []any{map[string]any{"relation": "self", "url": s.URL()}},
	}
	if len(out) > 0 {
		b["entry"] = out
	}
	return &result{status: http.StatusOK, body: encodeResource(b)}
}
