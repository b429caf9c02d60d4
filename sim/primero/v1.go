package primero

// The Primero v1 API (Primero 1.x, "/api", deprecated in v2 but "still
// available under /api" for the mobile app — primeroIMS/primero
// app/controllers/api/README.md), as @openfn/language-primero 1.x uses it.
// It serves the same case store as /api/v2, rendered the way v1 rendered
// records. Rules, from primeroIMS/primero v1.7.0:
//
//   - POST /api/login {"user_name","password"} (config/routes.rb → sessions
//     #create) answers 201 with the session JSON
//     (render_session_as_json: {"session":{"token","link"},"module_ids",
//     "role_ids","organization","language","verified"}) and a session
//     cookie; a bad login is 401 {"error":"Invalid User name or password."}.
//   - Every other /api route needs that cookie (Devise: 401 "You need to
//     sign in or sign up before continuing." without it).
//   - GET /api/cases (RecordActions#index, format json) answers a bare JSON
//     array of records (format_json_response: the CouchDB document, with
//     "_id", "_rev" and "couchrest-type"), "per" (default 20) and "page",
//     newest first, filtered by scope[field]=type||value (list, date_range,
//     range, or_op groups; RecordFilteringPagination#filter).
//   - POST /api/cases {"child":{…}} (record_params: params[model name])
//     answers 201 with the new record; PATCH /api/cases/:id {"child":{…}}
//     merges the fields and answers 200 with the record.
//   - An unknown record is 404 {"error":"Not Found"}.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/jobmediator/jobmediator/internal/jsonvalue"
	"github.com/jobmediator/jobmediator/sim/simkit"
)

// v1Cookie names the session cookie, as Rails names Primero's.
const v1Cookie = "_primero_session"

// isV1Route reports whether path is one of the v1 routes served here; any
// other path is routed (and 404s) before authentication, as in Rails.
func isV1Route(path string) bool {
	if path == "/api/login" || path == "/api/cases" {
		return true
	}
	rest, ok := strings.CutPrefix(path, "/api/cases/")
	return ok && rest != "" && !strings.Contains(rest, "/")
}

func (s *Server) serveV1(rq *request) {
	if rq.path == "/api/login" {
		if rq.r.Method != http.MethodPost {
			s.notFound(rq)
			return
		}
		s.loginV1(rq)
		return
	}
	c, err := rq.r.Cookie(v1Cookie)
	name, msg := "", "no session"
	if err == nil {
		s.mu.Lock()
		now := s.now()
		s.mu.Unlock()
		name, msg = s.checkToken(c.Value, now)
	}
	s.mu.Lock()
	u, known := s.users[name]
	s.mu.Unlock()
	if msg != "" || !known {
		writeJSON(rq.w, http.StatusUnauthorized, map[string]string{"error": "You need to sign in or sign up before continuing."})
		return
	}
	rq.user = u
	segs := strings.Split(strings.TrimPrefix(rq.path, "/api/"), "/")
	switch m := rq.r.Method; {
	case len(segs) == 1 && segs[0] == "cases" && m == http.MethodGet:
		s.listCasesV1(rq)
	case len(segs) == 1 && segs[0] == "cases" && m == http.MethodPost:
		s.saveCaseV1(rq, "")
	case len(segs) == 2 && segs[0] == "cases" && (m == http.MethodPatch || m == http.MethodPut):
		s.saveCaseV1(rq, segs[1])
	case len(segs) == 2 && segs[0] == "cases" && m == http.MethodGet:
		s.mu.Lock()
		rec, ok := s.cases[segs[1]]
		var out map[string]any
		if ok {
			out = s.renderV1(rec)
		}
		s.mu.Unlock()
		if !ok {
			writeJSON(rq.w, http.StatusNotFound, map[string]string{"error": "Not Found"})
			return
		}
		writeJSON(rq.w, http.StatusOK, out)
	default:
		s.notFound(rq)
	}
}

func (s *Server) loginV1(rq *request) {
	var body struct {
		UserName string `json:"user_name"`
		Password string `json:"password"`
	}
	if err := json.Unmarshal(rq.body, &body); err != nil {
		writeJSON(rq.w, http.StatusBadRequest, map[string]string{"error": "Error occurred while parsing request parameters"})
		return
	}
	s.mu.Lock()
	u, ok := s.users[body.UserName]
	now := s.now()
	s.mu.Unlock()
	if !ok || !simkit.PasswordOK(u.Password, body.Password) {
		writeJSON(rq.w, http.StatusUnauthorized, map[string]string{"error": "Invalid User name or password."})
		return
	}
	tok := s.issueToken(u.Username, now)
	http.SetCookie(rq.w, &http.Cookie{Name: v1Cookie, Value: tok, Path: "/", HttpOnly: true})
	writeJSON(rq.w, http.StatusCreated, map[string]any{
		"session":      map[string]any{"token": newUUID(), "link": map[string]any{"rel": "session", "uri": "/api/logout"}},
		"organization": u.Agency, "module_ids": []any{"primeromodule-cp"}, "role_ids": []any{"role-cp-case-worker"},
		"language": "en", "verified": true,
	})
}

// renderV1 is a record as v1 rendered it: the CouchDB document (s.mu held).
func (s *Server) renderV1(rec map[string]any) map[string]any {
	out := jsonvalue.Clone(rec).(map[string]any)
	id := sid(rec)
	out["_id"] = id
	out["_rev"] = fmt.Sprintf("%d-%032x", s.v1revs[id]+1, len(id)*7919+s.v1revs[id])
	out["couchrest-type"] = "Child"
	return out
}

func (s *Server) listCasesV1(rq *request) {
	params, err := parseQS(rq.r.URL.RawQuery)
	if err != nil {
		writeJSON(rq.w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	page, per := 1, 20
	for name, dst := range map[string]*int{"page": &page, "per": &per} {
		if v, ok := params[name].(string); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				*dst = n // Rails' to_i: anything else keeps the default
			}
		}
	}
	f, err := compileFilters(params)
	if err != nil {
		writeJSON(rq.w, http.StatusUnprocessableEntity, map[string]string{"error": err.Error()})
		return
	}
	s.mu.Lock()
	var hits []map[string]any
	for i := len(s.order) - 1; i >= 0; i-- { // created_at desc: newest first
		rec := s.cases[s.order[i]]
		if f.match(s.filterView(rec)) {
			hits = append(hits, s.renderV1(rec))
		}
	}
	s.mu.Unlock()
	sort.SliceStable(hits, func(i, j int) bool {
		return sortKey(hits[i]["created_at"]) > sortKey(hits[j]["created_at"])
	})
	start := min((page-1)*per, len(hits))
	end := min(start+per, len(hits))
	out := make([]any, 0, end-start)
	for _, h := range hits[start:end] {
		out = append(out, h)
	}
	writeJSON(rq.w, http.StatusOK, out)
}

// saveCaseV1 creates (id "") or updates a case from {"child": {...}}.
func (s *Server) saveCaseV1(rq *request, id string) {
	var env map[string]any
	dec := json.NewDecoder(bytes.NewReader(rq.body))
	dec.UseNumber()
	if err := dec.Decode(&env); err != nil {
		writeJSON(rq.w, http.StatusBadRequest, map[string]string{"error": "Error occurred while parsing request parameters"})
		return
	}
	child, _ := env["child"].(map[string]any)
	child = normalizeNumbers(child).(map[string]any)
	if child == nil {
		child = map[string]any{}
	}
	for _, k := range []string{"_id", "_rev", "couchrest-type", "created_at", "created_by", "last_updated_at", "last_updated_by"} {
		delete(child, k)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == "" {
		if len(child) == 0 {
			writeJSON(rq.w, http.StatusUnprocessableEntity, map[string]any{"child": []string{"can't be blank"}})
			return
		}
		newID := s.insert(child, rq.user)
		writeJSON(rq.w, http.StatusCreated, s.renderV1(s.cases[newID]))
		return
	}
	cur, ok := s.cases[id]
	if !ok {
		writeJSON(rq.w, http.StatusNotFound, map[string]string{"error": "Not Found"})
		return
	}
	rec := jsonvalue.Clone(cur).(map[string]any)
	for k, v := range child {
		switch k {
		case "id", "case_id", "short_id":
			continue
		}
		rec[k] = mergeValue(rec[k], v)
	}
	fillName(rec)
	s.touch(rec, rq.user.Username)
	s.cases[id] = rec
	s.v1revs[id]++
	writeJSON(rq.w, http.StatusOK, s.renderV1(rec))
}
