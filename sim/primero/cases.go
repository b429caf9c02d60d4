package primero

import (
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jobmediator/jobmediator/internal/jsonvalue"
)

// SeedCase stores c as an existing case (no validation: seeding is how tests
// set up state the API would refuse, e.g. legacy records) and returns its
// id. Missing bookkeeping fields are filled in as on creation: id, case_id,
// case_id_display, short_id, created_at, last_updated_at, status,
// record_state, module_id (CP) and subform unique_ids. A created_at or
// last_updated_at given in c is kept, so tests can seed history.
func (s *Server) SeedCase(c map[string]any) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := jsonvalue.Clone(c).(map[string]any)
	user := User{Username: "primero", Agency: "agency-unicef"}
	if len(s.opts.Users) > 0 { // cases seeded without a login belong to the first user
		user = s.opts.Users[0]
		if user.Agency == "" {
			user.Agency = "agency-unicef"
		}
	}
	return s.insert(rec, user)
}

// Cases returns copies of every case, newest first (created_at descending).
func (s *Server) Cases() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]map[string]any, 0, len(s.order))
	for i := len(s.order) - 1; i >= 0; i-- {
		out = append(out, jsonvalue.Clone(s.cases[s.order[i]]).(map[string]any))
	}
	return out
}

// Case returns a copy of one case by id.
func (s *Server) Case(id string) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cases[id]
	if !ok {
		return nil, false
	}
	return jsonvalue.Clone(c).(map[string]any), true
}

// insert fills server-managed fields and stores rec; s.mu must be held.
func (s *Server) insert(rec map[string]any, user User) string {
	now := stamp(s.now())
	id, _ := rec["id"].(string)
	if id == "" {
		id = newUUID()
	}
	rec["id"] = id
	caseID, _ := rec["case_id"].(string)
	if caseID == "" {
		caseID = newUUID()
		rec["case_id"] = caseID
	}
	short := caseID
	if len(short) > 7 {
		short = short[len(short)-7:]
	}
	setDefault(rec, "case_id_display", short)
	setDefault(rec, "short_id", short)
	setDefault(rec, "created_at", now)
	setDefault(rec, "last_updated_at", now)
	setDefault(rec, "created_by", user.Username)
	setDefault(rec, "last_updated_by", user.Username)
	setDefault(rec, "owned_by", user.Username)
	setDefault(rec, "owned_by_agency_id", user.Agency)
	setDefault(rec, "created_organization", user.Agency)
	setDefault(rec, "owned_by_groups", []any{})
	setDefault(rec, "associated_user_names", []any{rec["owned_by"]})
	setDefault(rec, "registration_date", s.now().Format("2006-01-02"))
	setDefault(rec, "status", "open")
	setDefault(rec, "record_state", true)
	setDefault(rec, "enabled", true)
	setDefault(rec, "module_id", "primeromodule-cp")
	setDefault(rec, "reopened_logs", []any{})
	setDefault(rec, "case_status_reopened", false)
	setDefault(rec, "record_in_scope", true)
	setDefault(rec, "alert_count", 0)
	fillName(rec)
	for k, v := range rec {
		if arr, ok := v.([]any); ok {
			for _, e := range arr {
				if m, ok := e.(map[string]any); ok {
					setDefault(m, "unique_id", newUUID())
				}
			}
			rec[k] = arr
		}
	}
	if _, exists := s.cases[id]; !exists {
		s.order = append(s.order, id)
	}
	s.cases[id] = rec
	return id
}

func setDefault(m map[string]any, k string, v any) {
	if cur, ok := m[k]; !ok || cur == nil || cur == "" {
		m[k] = v
	}
}

// fillName derives "name" from its parts, as Primero's calculated name does.
func fillName(rec map[string]any) {
	var parts []string
	for _, k := range []string{"name_first", "name_middle", "name_last"} {
		if v, _ := rec[k].(string); strings.TrimSpace(v) != "" {
			parts = append(parts, strings.TrimSpace(v))
		}
	}
	if len(parts) > 0 {
		rec["name"] = strings.Join(parts, " ")
	}
}

func (s *Server) showCase(rq *request, id string) {
	c, ok := s.Case(id)
	if !ok {
		s.notFound(rq)
		return
	}
	writeJSON(rq.w, http.StatusOK, map[string]any{"data": c})
}

// validateSchema checks field names and value types; it returns the JSON
// pointers of the offending properties (Primero's "Invalid Record JSON").
func (s *Server) validateSchema(data map[string]any) []string {
	var bad []string
	for k, v := range data {
		if !s.permitted[k] {
			bad = append(bad, "/"+k)
			continue
		}
		if v == nil {
			continue
		}
		switch {
		case booleanFields[k]:
			if _, ok := v.(bool); !ok {
				bad = append(bad, "/"+k)
			}
		case integerFields[k]:
			if _, ok := v.(int64); !ok {
				bad = append(bad, "/"+k)
			}
		case dateFields[k]:
			str, ok := v.(string)
			if !ok {
				bad = append(bad, "/"+k)
			} else if _, err := time.Parse("2006-01-02", str); err != nil && str != "" {
				bad = append(bad, "/"+k)
			}
		default:
			if arr, ok := v.([]any); ok {
				for i, e := range arr {
					if _, isObj := e.(map[string]any); !isObj && strings.HasSuffix(k, "_section") {
						bad = append(bad, fmt.Sprintf("/%s/%d", k, i))
					}
				}
			} else if _, isObj := v.(map[string]any); isObj {
				// No case field is an object; nested objects only appear as
				// subform elements inside arrays.
				bad = append(bad, "/"+k)
			}
		}
	}
	sort.Strings(bad)
	return bad
}

// validateModel applies the record validations after the merge; it returns
// Primero's per-field 422 errors.
func validateModel(rec map[string]any, path string) []apiError {
	var errs []apiError
	if m, _ := rec["module_id"].(string); !modules[m] {
		errs = append(errs, apiError{Code: 422, Resource: path, Message: []string{"errors.models.case.module_id.invalid"}, Detail: "module_id"})
	}
	named := false
	for _, k := range []string{"name", "name_first", "name_last"} {
		if v, _ := rec[k].(string); strings.TrimSpace(v) != "" {
			named = true
		}
	}
	if !named {
		errs = append(errs, apiError{Code: 422, Resource: path, Message: []string{"errors.models.case.name.presence"}, Detail: "name"})
	}
	if a, ok := rec["age"].(int64); ok && (a < 0 || a > 130) {
		errs = append(errs, apiError{Code: 422, Resource: path, Message: []string{"errors.models.case.age.range"}, Detail: "age"})
	}
	return errs
}

func (s *Server) createCase(rq *request) {
	data, ok := decodeData(rq)
	if !ok {
		return
	}
	if bad := s.validateSchema(data); len(bad) > 0 {
		writeErrors(rq.w, http.StatusUnprocessableEntity, apiError{Code: 422, Resource: rq.r.URL.Path, Message: "Invalid Record JSON", Detail: bad})
		return
	}
	rec := jsonvalue.Clone(data).(map[string]any)
	// Server-managed fields cannot be set by the client (Primero ignores
	// them); a client-generated id is the exception and is kept.
	for _, k := range []string{"created_at", "created_by", "last_updated_at", "last_updated_by", "short_id", "record_in_scope", "alert_count"} {
		delete(rec, k)
	}
	fillName(rec)
	if errs := validateModel(rec, rq.r.URL.Path); len(errs) > 0 {
		writeErrors(rq.w, http.StatusUnprocessableEntity, errs...)
		return
	}
	s.mu.Lock()
	if id, _ := rec["id"].(string); id != "" {
		if _, exists := s.cases[id]; exists {
			s.mu.Unlock()
			writeErrors(rq.w, http.StatusConflict, apiError{Code: 409, Resource: rq.r.URL.Path, Message: "Conflict: A record with this id already exists"})
			return
		}
	}
	id := s.insert(rec, rq.user)
	out := jsonvalue.Clone(s.cases[id])
	s.mu.Unlock()
	writeJSON(rq.w, http.StatusOK, map[string]any{"data": out})
}

func (s *Server) updateCase(rq *request, id string) {
	s.mu.Lock()
	_, exists := s.cases[id]
	s.mu.Unlock()
	if !exists {
		s.notFound(rq)
		return
	}
	data, ok := decodeData(rq)
	if !ok {
		return
	}
	if bad := s.validateSchema(data); len(bad) > 0 {
		writeErrors(rq.w, http.StatusUnprocessableEntity, apiError{Code: 422, Resource: rq.r.URL.Path, Message: "Invalid Record JSON", Detail: bad})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.cases[id]
	if !ok {
		s.notFound(rq)
		return
	}
	rec := jsonvalue.Clone(cur).(map[string]any)
	for k, v := range data {
		switch k {
		case "id", "case_id", "created_at", "created_by", "last_updated_at", "last_updated_by", "short_id":
			continue // immutable or server-managed
		}
		rec[k] = mergeValue(rec[k], jsonvalue.Clone(v))
	}
	fillName(rec)
	if errs := validateModel(rec, rq.r.URL.Path); len(errs) > 0 {
		writeErrors(rq.w, http.StatusUnprocessableEntity, errs...)
		return
	}
	s.touch(rec, rq.user.Username)
	s.cases[id] = rec
	writeJSON(rq.w, http.StatusOK, map[string]any{"data": jsonvalue.Clone(rec)})
}

// touch bumps last_updated_at/_by; s.mu must be held.
func (s *Server) touch(rec map[string]any, user string) {
	rec["last_updated_at"] = stamp(s.now())
	rec["last_updated_by"] = user
}

// mergeValue implements PATCH semantics: subform arrays (arrays of objects)
// merge by unique_id, honour "_delete" and append new elements; anything
// else replaces the old value.
func mergeValue(old, upd any) any {
	newArr, ok := upd.([]any)
	if !ok || len(newArr) == 0 {
		return upd
	}
	if _, isObj := newArr[0].(map[string]any); !isObj {
		return upd
	}
	oldArr, _ := old.([]any)
	out := make([]any, 0, len(oldArr)+len(newArr))
	index := map[string]int{}
	for _, e := range oldArr {
		if m, ok := e.(map[string]any); ok {
			if uid, _ := m["unique_id"].(string); uid != "" {
				index[uid] = len(out)
			}
		}
		out = append(out, e)
	}
	deleted := map[int]bool{}
	for _, e := range newArr {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		uid, _ := m["unique_id"].(string)
		del, _ := m["_delete"].(bool)
		if i, found := index[uid]; uid != "" && found {
			if del {
				deleted[i] = true
				continue
			}
			merged := out[i].(map[string]any)
			for k, v := range m {
				merged[k] = v
			}
			continue
		}
		if del {
			continue
		}
		delete(m, "_delete")
		if uid == "" {
			m["unique_id"] = newUUID()
		}
		index[m["unique_id"].(string)] = len(out)
		out = append(out, m)
	}
	if len(deleted) == 0 {
		return out
	}
	kept := out[:0]
	for i, e := range out {
		if !deleted[i] {
			kept = append(kept, e)
		}
	}
	return kept
}

// ---- listing ----

func (s *Server) listCases(rq *request) {
	params, err := parseQS(rq.r.URL.RawQuery)
	if err != nil {
		writeErrors(rq.w, http.StatusBadRequest, apiError{Code: 400, Resource: rq.r.URL.Path, Message: err.Error()})
		return
	}
	page, per := 1, s.opts.PageSize
	for name, dst := range map[string]*int{"page": &page, "per": &per} {
		if v, ok := params[name]; ok {
			str, _ := v.(string)
			n, err := strconv.Atoi(str)
			if err != nil || n < 1 {
				writeErrors(rq.w, http.StatusUnprocessableEntity, apiError{Code: 422, Resource: rq.r.URL.Path,
					Message: fmt.Sprintf("Invalid pagination parameter %s=%v: must be a positive integer", name, v), Detail: name})
				return
			}
			*dst = n
		}
	}
	f, err := compileFilters(params)
	if err != nil {
		writeErrors(rq.w, http.StatusUnprocessableEntity, apiError{Code: 422, Resource: rq.r.URL.Path, Message: err.Error()})
		return
	}
	orderBy, _ := params["order_by"].(string)
	if orderBy == "" {
		orderBy = "created_at"
	}
	asc := params["order"] == "asc"

	s.mu.Lock()
	type hit struct {
		seq int
		rec map[string]any
	}
	var hits []hit
	for seq, id := range s.order {
		rec := s.cases[id]
		if f.match(s.filterView(rec)) {
			hits = append(hits, hit{seq, jsonvalue.Clone(rec).(map[string]any)})
		}
	}
	s.mu.Unlock()

	sort.SliceStable(hits, func(i, j int) bool {
		a, b := sortKey(hits[i].rec[orderBy]), sortKey(hits[j].rec[orderBy])
		if a == b {
			if asc {
				return hits[i].seq < hits[j].seq
			}
			return hits[i].seq > hits[j].seq
		}
		if asc {
			return a < b
		}
		return a > b
	})
	total := len(hits)
	start := (page - 1) * per
	if start > total || per > math.MaxInt32 {
		start = total
	}
	end := start + per
	if end > total {
		end = total
	}
	data := make([]any, 0, end-start)
	for _, h := range hits[start:end] {
		data = append(data, h.rec)
	}
	writeJSON(rq.w, http.StatusOK, map[string]any{
		"data":     data,
		"metadata": map[string]any{"total": total, "per": per, "page": page},
	})
}

// sortKey orders strings (timestamps sort lexically in Primero's format) and
// numbers (zero-padded so they sort numerically among themselves).
func sortKey(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case int64:
		return fmt.Sprintf("%020d", t)
	case float64:
		return fmt.Sprintf("%020.6f", t)
	case bool:
		return strconv.FormatBool(t)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// filterView is the record as filters see it: its fields plus the derived
// fields Primero indexes for searching (s.mu must be held).
func (s *Server) filterView(rec map[string]any) map[string]any {
	v := make(map[string]any, len(rec)+3)
	for k, x := range rec {
		v[k] = x
	}
	var types []any
	if arr, ok := rec["services_section"].([]any); ok {
		for _, e := range arr {
			if m, ok := e.(map[string]any); ok {
				if t, ok := m["service_response_type"].(string); ok && t != "" {
					types = append(types, t)
				}
			}
		}
	}
	v["service_response_types"] = types
	var created, changed string
	for _, ref := range s.referrals[sid(rec)] {
		if c, _ := ref["created_at"].(string); c > created {
			created = c
		}
		for _, k := range []string{"created_at", "responded_at", "updated_at"} {
			if c, _ := ref[k].(string); c > changed {
				changed = c
			}
		}
	}
	if created != "" {
		v["transitions_created_at"] = created
		v["transitions_changed_at"] = changed
	}
	return v
}

func sid(rec map[string]any) string { id, _ := rec["id"].(string); return id }
