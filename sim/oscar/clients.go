package oscar

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jobmediator/jobmediator/internal/jsonvalue"
)

// client is an OSCaR client (a child's case in an NGO).
type client struct {
	id        int
	fields    map[string]any // serialised fields (without services)
	programs  []any          // services from program enrolments
	refs      []int          // referral ids attached to this client
	external  bool           // referred from/to the external system (MoSVY/Primero)
	createdAt time.Time
	updatedAt time.Time
}

// referral is OSCaR's Referral: a request from the external system (or to
// it) for one or more services for a child.
type referral struct {
	id        int
	globalID  string // client_global_id
	fields    map[string]any
	services  []any // [{uuid,name}]
	status    string
	clientGID string // set once the referral belongs to a client
	createdAt time.Time
}

// clientFields are the attributes an upsert may set on a client
// (Client.get_client_attribute).
var clientFields = []string{"mosvy_number", "given_name", "family_name", "local_given_name", "local_family_name",
	"gender", "date_of_birth", "external_case_worker_id", "external_case_worker_name",
	"location_current_village_code", "address_current_village_code"}

var clientStatuses = map[string]bool{"Accepted": true, "Active": true, "Exited": true, "Referred": true}
var upsertStatuses = map[string]bool{"Accepted": true, "Exited": true, "Referred": true}
var levelsOfRisk = map[string]bool{"high": true, "medium": true, "low": true, "no action": true}

// SeedClient stores c as an existing OSCaR client and returns its
// global_id. It fills global_id (a ULID) and slug when missing and sets
// created_at/updated_at from the clock. "is_referred": true marks it as
// referred to/from the external system (so since queries use timestamp
// precision for it). Entries of c["services"] that carry a referral_id
// become referrals that update_statuses can address; the others are program
// services. organization_name defaults to "cif".
func (s *Server) SeedClient(c map[string]any) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := jsonvalue.Clone(c).(map[string]any)
	now := s.now()
	gid, _ := f["global_id"].(string)
	if gid == "" {
		gid = newULID(now)
	}
	f["global_id"] = gid
	s.clientSeq++
	cl := &client{id: s.clientSeq, createdAt: now, updatedAt: now}
	if slug, _ := f["slug"].(string); slug == "" {
		f["slug"] = slugFor(cl.id)
	}
	org, _ := f["organization_name"].(string)
	if org == "" {
		org = "cif"
	}
	f["organization_name"] = org
	f["organization_id"] = s.orgID(org)
	if b, _ := f["is_referred"].(bool); b {
		cl.external = true
	}
	svcs, _ := f["services"].([]any)
	delete(f, "services")
	for _, e := range svcs {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		rid, ok := toInt(m["referral_id"])
		if !ok {
			cl.programs = append(cl.programs, m)
			continue
		}
		status, _ := m["referral_status"].(string)
		if status == "" {
			status = "Referred"
		}
		ref := s.referrals[rid]
		if ref == nil {
			ref = &referral{id: rid, globalID: gid, clientGID: gid, status: status, createdAt: now, fields: map[string]any{}}
			s.referrals[rid] = ref
			s.refOrder = append(s.refOrder, rid)
			cl.refs = append(cl.refs, rid)
			if rid > s.refSeq {
				s.refSeq = rid
			}
		}
		ref.services = append(ref.services, map[string]any{"uuid": m["uuid"], "name": m["name"]})
		cl.external = true
	}
	cl.fields = f
	if _, exists := s.clients[gid]; !exists {
		s.order = append(s.order, gid)
	}
	s.clients[gid] = cl
	return gid
}

func slugFor(id int) string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 4)
	for i := range b {
		b[i] = letters[rand.IntN(len(letters))]
	}
	return fmt.Sprintf("%s-%d", b, id)
}

func toInt(v any) (int, bool) {
	switch t := v.(type) {
	case float64:
		return int(t), t == float64(int(t))
	case int:
		return t, true
	case int64:
		return int(t), true
	case json.Number:
		i, err := t.Int64()
		return int(i), err == nil
	case string:
		i, err := strconv.Atoi(t)
		return i, err == nil
	}
	return 0, false
}

// Clients returns every client as the API serialises it plus created_at
// and updated_at (RFC 3339), oldest first.
func (s *Server) Clients() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]map[string]any, 0, len(s.order))
	for _, gid := range s.order {
		cl := s.clients[gid]
		m := s.serialise(cl)
		m["created_at"] = cl.createdAt.Format(time.RFC3339Nano)
		m["updated_at"] = cl.updatedAt.Format(time.RFC3339Nano)
		out = append(out, m)
	}
	return out
}

// Referrals returns every referral (pending or attached to a client),
// oldest first: id, client_global_id, external_id, referral_status,
// services, accepted (whether it belongs to a client) and the referral
// attributes stored from the upsert.
func (s *Server) Referrals() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]map[string]any, 0, len(s.refOrder))
	for _, id := range s.refOrder {
		r := s.referrals[id]
		m := jsonvalue.Clone(r.fields).(map[string]any)
		m["id"] = r.id
		m["client_global_id"] = r.globalID
		m["referral_status"] = r.status
		m["services"] = jsonvalue.Clone(r.services)
		m["accepted"] = r.clientGID != ""
		out = append(out, m)
	}
	return out
}

// AcceptReferral plays the NGO case worker accepting the pending referrals
// of a Primero case (by external_id): they become one client (global_id =
// the referrals' client_global_id) with status Accepted, referred
// external, created now. It returns the global_id.
func (s *Server) AcceptReferral(externalID string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var pending []*referral
	for _, id := range s.refOrder {
		r := s.referrals[id]
		if r.clientGID == "" && r.fields["external_id"] == externalID {
			pending = append(pending, r)
		}
	}
	if len(pending) == 0 {
		return "", fmt.Errorf("oscar sim: no pending referral with external_id %q", externalID)
	}
	first := pending[0]
	gid := first.globalID
	now := s.now()
	cl := s.clients[gid]
	if cl == nil {
		s.clientSeq++
		cl = &client{id: s.clientSeq, createdAt: now, external: true, fields: map[string]any{}}
		s.clients[gid] = cl
		s.order = append(s.order, gid)
		f := cl.fields
		f["global_id"] = gid
		f["slug"] = slugFor(cl.id)
		for _, k := range append(clientFields, "external_id", "external_id_display", "organization_name", "reason_for_referral", "level_of_risk") {
			if v, ok := first.fields[k]; ok {
				f[k] = v
			}
		}
		if v, ok := first.fields["location_current_village_code"]; ok && f["address_current_village_code"] == nil {
			f["address_current_village_code"] = v
		}
		org, _ := f["organization_name"].(string)
		f["organization_id"] = s.orgID(org)
		f["status"] = "Accepted"
		f["case_worker_name"] = "NGO Case Worker"
		f["case_worker_mobile"] = ""
	}
	for _, r := range pending {
		r.clientGID = gid
		r.status = "Accepted"
		cl.refs = append(cl.refs, r.id)
	}
	cl.updatedAt = now
	return gid, nil
}

// serialise renders a client like OrganizationClientSerializer /
// ClientShareExternalSerializer; s.mu must be held.
func (s *Server) serialise(cl *client) map[string]any {
	f := cl.fields
	str := func(k string) any {
		if v, ok := f[k]; ok && v != nil {
			return v
		}
		return ""
	}
	nullable := func(k string) any { return f[k] }
	given := str("given_name")
	if given == "" {
		given = str("local_given_name")
	}
	family := str("family_name")
	if family == "" {
		family = str("local_family_name")
	}
	loc := str("location_current_village_code")
	if loc == "" {
		loc = str("address_current_village_code")
	}
	services := []any{}
	for _, p := range cl.programs {
		services = append(services, jsonvalue.Clone(p))
	}
	lastReason, lastRisk := any(nil), any(nil)
	for _, rid := range cl.refs {
		r := s.referrals[rid]
		for _, sv := range r.services {
			m, _ := sv.(map[string]any)
			services = append(services, map[string]any{"program_name": nil, "enrollment_date": nil,
				"uuid": m["uuid"], "name": m["name"], "referral_id": r.id, "referral_status": r.status})
		}
		if v := r.fields["reason_for_referral"]; v != nil {
			lastReason = v
		}
		if v := r.fields["level_of_risk"]; v != nil {
			lastRisk = v
		}
	}
	reason := lastReason
	if reason == nil {
		reason = str("reason_for_referral")
	}
	risk := lastRisk
	if risk == nil {
		risk = str("level_of_risk")
	}
	out := map[string]any{
		"slug": f["slug"], "global_id": f["global_id"],
		"external_id": str("external_id"), "external_id_display": str("external_id_display"),
		"mosvy_number": str("mosvy_number"), "given_name": given, "family_name": family,
		"local_given_name": str("local_given_name"), "local_family_name": str("local_family_name"),
		"gender": str("gender"), "date_of_birth": nullable("date_of_birth"),
		"location_current_village_code": loc, "address_current_village_code": loc,
		"organization_id": f["organization_id"], "organization_name": f["organization_name"],
		"external_case_worker_name": nullable("external_case_worker_name"),
		"external_case_worker_id":   nullable("external_case_worker_id"),
		"reason_for_referral":       reason, "reason_for_exiting": str("reason_for_exiting"),
		"status": str("status"), "case_worker_name": str("case_worker_name"), "case_worker_mobile": str("case_worker_mobile"),
		"is_referred": cl.external, "referral_consent_form": []any{},
		"organization_address_code": str("organization_address_code"), "level_of_risk": risk,
		"services": services,
	}
	// ClientShareExternalSerializer: resource is "primero" when the client
	// carries a Primero case id (f2-j2 compares against exactly that).
	if out["external_id"] != "" {
		out["resource"] = "primero"
	} else {
		out["resource"] = nil
	}
	if v, ok := f["status"]; !ok || v == "" {
		out["status"] = "Active"
	}
	return out
}

// shareable is OSCaR's condition for exposing a client: a name, a gender
// and a date of birth.
func shareable(cl *client) bool {
	nonEmpty := func(keys ...string) bool {
		for _, k := range keys {
			if v, _ := cl.fields[k].(string); strings.TrimSpace(v) != "" {
				return true
			}
		}
		return false
	}
	return nonEmpty("given_name", "local_given_name") && nonEmpty("family_name", "local_family_name") &&
		nonEmpty("gender") && nonEmpty("date_of_birth")
}

// parseRubyTime accepts what Time.parse accepts in practice from the jobs.
func (s *Server) parseRubyTime(v string) (time.Time, error) {
	v = strings.TrimSpace(strings.Trim(v, `'"`))
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z07:00"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02", "2006/01/02", "02-01-2006"} {
		if t, err := time.ParseInLocation(layout, v, s.opts.Location); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("no time information")
}

func (s *Server) listClients(rq *request) {
	q := rq.r.URL.Query()
	var since, end time.Time
	hasSince, hasEnd := q.Get("since_date") != "", q.Get("end_date") != ""
	var err error
	if hasSince {
		if since, err = s.parseRubyTime(q.Get("since_date")); err != nil {
			serverError(rq.w) // ArgumentError in Time.parse
			return
		}
	}
	if hasEnd {
		if end, err = s.parseRubyTime(q.Get("end_date")); err != nil {
			serverError(rq.w)
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []*client
	for _, gid := range s.order {
		if cl := s.clients[gid]; shareable(cl) {
			all = append(all, cl)
		}
	}
	var picked []*client
	if hasEnd {
		for _, cl := range all {
			if (!hasSince || !cl.createdAt.Before(since)) && !cl.createdAt.After(end) {
				picked = append(picked, cl)
			}
		}
		sort.SliceStable(picked, func(i, j int) bool { return picked[i].createdAt.Before(picked[j].createdAt) })
	} else {
		var referred, others []*client
		sinceDate := since.In(s.opts.Location).Format("2006-01-02")
		for _, cl := range all {
			if cl.external {
				if !hasSince || !cl.createdAt.Before(since) || !cl.updatedAt.Before(since) {
					referred = append(referred, cl)
				}
				continue
			}
			if !hasSince || cl.createdAt.In(s.opts.Location).Format("2006-01-02") >= sinceDate ||
				cl.updatedAt.In(s.opts.Location).Format("2006-01-02") >= sinceDate {
				others = append(others, cl)
			}
		}
		byUpdated := func(list []*client) {
			sort.SliceStable(list, func(i, j int) bool { return list[i].updatedAt.After(list[j].updatedAt) })
		}
		byUpdated(referred)
		byUpdated(others)
		picked = append(referred, others...)
	}
	data := make([]any, 0, len(picked))
	for _, cl := range picked {
		data = append(data, s.serialise(cl))
	}
	writeJSON(rq.w, http.StatusOK, map[string]any{"data": data})
}

const recordError = "Record error. Please check OSCaR logs for details."

func decode(body []byte) (map[string]any, error) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return normalize(m).(map[string]any), nil
}

func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, c := range t {
			t[k] = normalize(c)
		}
	case []any:
		for i, c := range t {
			t[i] = normalize(c)
		}
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return float64(i)
		}
		f, _ := t.Float64()
		return f
	}
	return v
}

func truthy(v any) bool {
	switch t := v.(type) {
	case bool:
		return t
	case string:
		return t == "true" || t == "1"
	case float64:
		return t != 0
	}
	return false
}

func (s *Server) upsert(rq *request) {
	body, err := decode(rq.body)
	if err != nil {
		writeJSON(rq.w, http.StatusBadRequest, map[string]any{"status": 400, "error": "Bad Request"})
		return
	}
	org, _ := body["organization"].(map[string]any)
	orgName, _ := org["organization_name"].(string)
	if org == nil || strings.TrimSpace(orgName) == "" {
		writeJSON(rq.w, http.StatusUnprocessableEntity, map[string]any{"message": recordError})
		return
	}
	p := permitClientParams(org)
	externalID := p["external_id"]
	gid, _ := p["global_id"].(string)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.orgID(orgName)
	now := s.now()
	if cl := s.clients[gid]; gid != "" && cl != nil {
		status, hasStatus := p["referral_status"].(string)
		if truthy(p["is_referred"]) {
			ref, errs := s.buildReferral(p, now)
			if len(errs) > 0 {
				writeJSON(rq.w, http.StatusUnprocessableEntity, map[string]any{"external_id": externalID, "message": errs})
				return
			}
			if hasStatus && upsertStatuses[status] {
				ref.status = status
			}
			s.attachReferral(cl, ref)
			cl.external = true
		}
		if changed := applyClientAttrs(cl, p); changed {
			cl.updatedAt = now
		}
		if hasStatus {
			if !upsertStatuses[status] {
				writeJSON(rq.w, http.StatusUnprocessableEntity, map[string]any{"external_id": cl.fields["external_id"],
					"message": "Referral status must be one of ['Accepted', 'Exited', 'Referred']."})
				return
			}
			if n := len(cl.refs); n > 0 {
				if r := s.referrals[cl.refs[n-1]]; r.status != status {
					r.status = status
					cl.updatedAt = now
				}
			}
		}
		writeJSON(rq.w, http.StatusOK, map[string]any{"external_id": cl.fields["external_id"], "message": "Record saved."})
		return
	}

	// A referral from the external system, keyed by external_id.
	var sameCase []*referral
	for _, id := range s.refOrder {
		if r := s.referrals[id]; externalID != nil && externalID != "" && r.fields["external_id"] == externalID {
			sameCase = append(sameCase, r)
		}
	}
	for _, r := range sameCase {
		if r.clientGID != "" {
			errs := map[string]any{}
			if gid == "" {
				errs["global_id"] = "global_id must exist."
				errs["referral_status"] = "referral_status must be present."
			}
			writeJSON(rq.w, http.StatusUnprocessableEntity, map[string]any{"external_id": externalID, "message": "Record was found.", "errors": errs})
			return
		}
	}
	ref, errs := s.buildReferral(p, now)
	if len(errs) > 0 {
		writeJSON(rq.w, http.StatusUnprocessableEntity, map[string]any{"external_id": externalID, "message": errs})
		return
	}
	if len(sameCase) > 0 {
		ref.globalID = sameCase[0].globalID
	}
	// Idempotence (see package comment): same external_id and same service
	// uuids → update that referral in place.
	for _, r := range sameCase {
		if reflect.DeepEqual(serviceUUIDs(r.services), serviceUUIDs(ref.services)) {
			r.fields, r.services = ref.fields, ref.services
			writeJSON(rq.w, http.StatusOK, map[string]any{"external_id": externalID, "message": "Record saved."})
			return
		}
	}
	s.addReferral(ref)
	writeJSON(rq.w, http.StatusOK, map[string]any{"external_id": externalID, "message": "Record saved."})
}

func serviceUUIDs(svcs []any) []string {
	var out []string
	for _, sv := range svcs {
		m, _ := sv.(map[string]any)
		u, _ := m["uuid"].(string)
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

// permitClientParams keeps the keys OSCaR's clients_params permits.
func permitClientParams(org map[string]any) map[string]any {
	allowed := []string{"global_id", "external_id", "external_id_display", "mosvy_number", "given_name", "family_name",
		"gender", "date_of_birth", "location_current_village_code", "address_current_village_code", "reason_for_referral",
		"reason_for_exiting", "organization_id", "organization_name", "external_case_worker_name", "external_case_worker_id",
		"external_case_worker_mobile", "external_case_worker_email", "level_of_risk", "is_referred", "referral_status"}
	p := map[string]any{}
	for _, k := range allowed {
		if v, ok := org[k]; ok {
			p[k] = v
		}
	}
	if svcs, ok := org["services"].([]any); ok {
		var kept []any
		for _, sv := range svcs {
			if m, ok := sv.(map[string]any); ok {
				kept = append(kept, map[string]any{"uuid": m["uuid"], "name": m["name"]})
			}
		}
		p["services"] = kept
	}
	return p
}

// buildReferral maps upsert params to a Referral and validates it like
// OSCaR's model; s.mu must be held.
func (s *Server) buildReferral(p map[string]any, now time.Time) (*referral, map[string][]string) {
	str := func(k string) string { v, _ := p[k].(string); return strings.TrimSpace(v) }
	errs := map[string][]string{}
	add := func(k, msg string) { errs[k] = append(errs[k], msg) }
	if strings.TrimSpace(str("given_name")+" "+str("family_name")) == "" {
		add("client_name", "can't be blank")
	}
	if str("external_case_worker_name") == "" {
		add("name_of_referee", "can't be blank")
	}
	if str("external_case_worker_mobile") == "" {
		add("referral_phone", "can't be blank")
	}
	risk := str("level_of_risk")
	if risk == "" {
		add("level_of_risk", "can't be blank")
	}
	if !levelsOfRisk[risk] {
		add("level_of_risk", "is not included in the list")
	}
	var svcs []any
	in, _ := p["services"].([]any)
	for _, sv := range in {
		m := sv.(map[string]any)
		if name, _ := m["name"].(string); s.services[name] {
			svcs = append(svcs, m)
		}
	}
	if len(svcs) == 0 {
		add("services", "can't be blank")
	}
	if len(errs) > 0 {
		return nil, errs
	}
	reason := str("reason_for_referral")
	if reason == "" {
		reason = "N/A"
	}
	gid := str("global_id")
	if gid == "" {
		gid = newULID(now)
	}
	fields := map[string]any{"date_of_referral": now.Format("2006-01-02"), "reason_for_referral": reason,
		"referred_to": p["organization_name"], "referred_from": "MoSVY", "ngo_name": "MoSVY"}
	for _, k := range []string{"external_id", "external_id_display", "mosvy_number", "given_name", "family_name", "gender",
		"date_of_birth", "location_current_village_code", "external_case_worker_name", "external_case_worker_id",
		"external_case_worker_mobile", "external_case_worker_email", "level_of_risk", "organization_name"} {
		if v, ok := p[k]; ok {
			fields[k] = v
		}
	}
	return &referral{globalID: gid, fields: fields, services: svcs, status: "Referred", createdAt: now}, nil
}

func (s *Server) addReferral(r *referral) {
	s.refSeq++
	r.id = s.refSeq
	s.referrals[r.id] = r
	s.refOrder = append(s.refOrder, r.id)
}

// attachReferral adds r to a client, replacing a referral of the same
// services (the idempotence rule); s.mu must be held.
func (s *Server) attachReferral(cl *client, r *referral) {
	gid, _ := cl.fields["global_id"].(string)
	r.globalID, r.clientGID = gid, gid
	for _, id := range cl.refs {
		old := s.referrals[id]
		if old.fields["external_id"] == r.fields["external_id"] && reflect.DeepEqual(serviceUUIDs(old.services), serviceUUIDs(r.services)) {
			if !reflect.DeepEqual(old.fields, r.fields) || !reflect.DeepEqual(old.services, r.services) {
				cl.updatedAt = r.createdAt
			}
			old.fields, old.services = r.fields, r.services
			return
		}
	}
	s.addReferral(r)
	cl.refs = append(cl.refs, r.id)
	cl.updatedAt = r.createdAt // ClientRetouch
}

// applyClientAttrs applies Client.get_client_attribute; it reports whether a
// value changed (Rails only bumps updated_at then).
func applyClientAttrs(cl *client, p map[string]any) bool {
	changed := false
	set := func(k string, v any) {
		if !reflect.DeepEqual(cl.fields[k], v) {
			cl.fields[k] = v
			changed = true
		}
	}
	for _, k := range clientFields {
		if v, ok := p[k]; ok {
			set(k, v)
		}
	}
	if ext, _ := p["external_id"].(string); ext != "" {
		set("external_id", ext)
		if v, ok := p["external_id_display"]; ok {
			set("external_id_display", v)
		}
	}
	return changed
}

func (s *Server) updateStatuses(rq *request) {
	body, err := decode(rq.body)
	if err != nil {
		writeJSON(rq.w, http.StatusBadRequest, map[string]any{"status": 400, "error": "Bad Request"})
		return
	}
	items, ok := body["data"].([]any)
	if !ok {
		// data.each on nil raises NoMethodError → 500 in OSCaR.
		serverError(rq.w)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	fail := func(msg string) {
		writeJSON(rq.w, http.StatusUnprocessableEntity, map[string]any{"error": msg, "message": recordError})
	}
	for _, it := range items {
		m, _ := it.(map[string]any)
		gid, _ := m["client_global_id"].(string)
		cl := s.clients[gid]
		if cl == nil {
			fail("ActiveRecord::RecordNotFound")
			return
		}
		rid, ok := toInt(m["referral_id"])
		r := s.referrals[rid]
		if !ok || r == nil {
			fail(fmt.Sprintf("Couldn't find Referral with 'id'=%v", m["referral_id"]))
			return
		}
		status, _ := m["referral_status"].(string)
		if !clientStatuses[status] {
			fail("Referral status is not included in the list. Referral status must be one of ['Accepted', 'Exited', 'Referred'].")
			return
		}
		if r.status != status {
			r.status = status
			if owner := s.clients[r.clientGID]; owner != nil {
				owner.updatedAt = now
			}
		}
	}
	writeJSON(rq.w, http.StatusOK, map[string]any{"message": "Record saved."})
}

func (s *Server) updateLinks(rq *request) {
	body, err := decode(rq.body)
	if err != nil {
		writeJSON(rq.w, http.StatusBadRequest, map[string]any{"status": 400, "error": "Bad Request"})
		return
	}
	items, ok := body["data"].([]any)
	if !ok || len(items) == 0 {
		serverError(rq.w) // OSCaR's else branch references an undefined local
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	today := s.now().Format("2006-01-02")
	for _, it := range items {
		m, _ := it.(map[string]any)
		gid, _ := m["global_id"].(string)
		cl := s.clients[gid]
		if cl == nil {
			continue
		}
		cl.fields["external_id"] = m["external_id"]
		cl.fields["external_id_display"] = m["external_id_display"]
		cl.fields["synced_date"] = today
	}
	writeJSON(rq.w, http.StatusOK, map[string]any{"message": "Record saved."})
}
