package primero

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/jobmediator/jobmediator/internal/jsonvalue"
)

// Referral statuses (Primero's Transition constants).
const (
	StatusInProgress = "in_progress"
	StatusAccepted   = "accepted"
	StatusRejected   = "rejected"
	StatusDone       = "done"
	StatusRevoked    = "revoked"
)

// Referrals returns copies of the referrals of a case (by record id), oldest
// first.
func (s *Server) Referrals(caseID string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	refs := s.referrals[caseID]
	out := make([]map[string]any, len(refs))
	for i, r := range refs {
		out[i] = jsonvalue.Clone(r).(map[string]any)
	}
	return out
}

func (s *Server) listReferrals(rq *request, caseID string) {
	s.mu.Lock()
	_, ok := s.cases[caseID]
	s.mu.Unlock()
	if !ok {
		s.notFound(rq)
		return
	}
	refs := s.Referrals(caseID)
	data := make([]any, len(refs))
	for i, r := range refs {
		data[i] = r
	}
	writeJSON(rq.w, http.StatusOK, map[string]any{"data": data})
}

// referralParams are the keys Primero permits on creation; others are
// dropped like Rails strong parameters drop them.
var referralParams = []string{"transitioned_to", "transitioned_to_remote", "transitioned_to_agency", "service",
	"service_record_id", "remote", "type_of_export", "notes", "consent_overridden"}

func (s *Server) createReferral(rq *request, caseID string) {
	s.mu.Lock()
	_, ok := s.cases[caseID]
	s.mu.Unlock()
	if !ok {
		s.notFound(rq)
		return
	}
	data, ok := decodeData(rq)
	if !ok {
		return
	}
	if errs := validateReferral(data, rq.r.URL.Path); len(errs) > 0 {
		writeErrors(rq.w, http.StatusUnprocessableEntity, errs...)
		return
	}
	s.mu.Lock()
	ref := s.refer(caseID, data, rq.user)
	s.mu.Unlock()
	writeJSON(rq.w, http.StatusOK, map[string]any{"data": ref})
}

func (s *Server) createReferralsBulk(rq *request) {
	data, ok := decodeData(rq)
	if !ok {
		return
	}
	rawIDs, _ := data["ids"].([]any)
	if len(rawIDs) == 0 {
		writeErrors(rq.w, http.StatusUnprocessableEntity, apiError{Code: 422, Resource: rq.r.URL.Path,
			Message: "param is missing or the value is empty: ids"})
		return
	}
	ids := make([]string, 0, len(rawIDs))
	for _, x := range rawIDs {
		id, _ := x.(string)
		ids = append(ids, id)
	}
	if errs := validateReferral(data, rq.r.URL.Path); len(errs) > 0 {
		writeErrors(rq.w, http.StatusUnprocessableEntity, errs...)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// All records are loaded before any referral is made: one unknown id
	// fails the whole request (ActiveRecord::RecordNotFound → 404).
	for _, id := range ids {
		if _, ok := s.cases[id]; !ok {
			writeErrors(rq.w, http.StatusNotFound, apiError{Code: 404, Resource: rq.r.URL.Path, Message: "Not Found",
				Detail: "Couldn't find Child with 'id'=" + id})
			return
		}
	}
	out := make([]any, 0, len(ids))
	for _, id := range ids {
		out = append(out, s.refer(id, data, rq.user))
	}
	writeJSON(rq.w, http.StatusOK, map[string]any{"data": out})
}

func validateReferral(data map[string]any, path string) []apiError {
	to, _ := data["transitioned_to"].(string)
	remote, _ := data["remote"].(bool)
	if strings.TrimSpace(to) == "" && !remote {
		return []apiError{{Code: 422, Resource: path, Message: []string{"errors.models.transition.transitioned_to.presence"}, Detail: "transitioned_to"}}
	}
	return nil
}

// refer creates one referral on a case; s.mu must be held.
func (s *Server) refer(caseID string, data map[string]any, user User) map[string]any {
	now := stamp(s.now())
	ref := map[string]any{
		"id":                          newUUID(),
		"type":                        "Referral",
		"status":                      StatusInProgress,
		"record_id":                   caseID,
		"record_type":                 "case",
		"transitioned_by":             user.Username,
		"transitioned_by_user_agency": user.Agency,
		"created_at":                  now,
		"remote":                      false,
		"consent_overridden":          false,
		"record_access_denied":        false,
		"user_can_accept_or_reject":   false,
	}
	for _, k := range referralParams {
		if v, ok := data[k]; ok && v != nil {
			ref[k] = jsonvalue.Clone(v)
		}
	}
	rec := s.cases[caseID]
	if srid, _ := data["service_record_id"].(string); srid != "" {
		if svc := findService(rec, srid); svc != nil {
			svc["service_status_referred"] = true
		}
	}
	if to, _ := ref["transitioned_to"].(string); to != "" && ref["remote"] != true {
		assigned, _ := rec["assigned_user_names"].([]any)
		if !containsAny(assigned, to) {
			rec["assigned_user_names"] = append(assigned, to)
		}
		referred, _ := rec["referred_users"].([]any)
		if !containsAny(referred, to) {
			rec["referred_users"] = append(referred, to)
		}
		rec["referred_users_present"] = true
	}
	s.touch(rec, user.Username)
	s.referrals[caseID] = append(s.referrals[caseID], ref)
	return jsonvalue.Clone(ref).(map[string]any)
}

func findService(rec map[string]any, uniqueID string) map[string]any {
	arr, _ := rec["services_section"].([]any)
	for _, e := range arr {
		if m, ok := e.(map[string]any); ok && m["unique_id"] == uniqueID {
			return m
		}
	}
	return nil
}

func containsAny(arr []any, v string) bool {
	for _, x := range arr {
		if x == v {
			return true
		}
	}
	return false
}

var referralStatuses = map[string]bool{StatusInProgress: true, StatusAccepted: true, StatusRejected: true, StatusDone: true, StatusRevoked: true}

// updateReferral is Referral#process!: the requested status moves the state
// machine or is ignored when the transition is not allowed from the current
// status, exactly as Primero silently ignores it ("revoked" is only reachable
// through DELETE in Primero, so a PATCH to it is ignored too).
func (s *Server) updateReferral(rq *request, caseID, refID string) {
	s.mu.Lock()
	_, ok := s.cases[caseID]
	s.mu.Unlock()
	if !ok {
		s.notFound(rq)
		return
	}
	var env map[string]any
	dec := json.NewDecoder(bytes.NewReader(rq.body))
	dec.UseNumber()
	if err := dec.Decode(&env); err != nil {
		writeErrors(rq.w, http.StatusBadRequest, apiError{Code: 400, Resource: rq.r.URL.Path,
			Message: "Error occurred while parsing request parameters"})
		return
	}
	data, _ := env["data"].(map[string]any)
	if len(data) == 0 {
		writeErrors(rq.w, http.StatusUnprocessableEntity, apiError{Code: 422, Resource: rq.r.URL.Path,
			Message: "param is missing or the value is empty: data"})
		return
	}
	status, isStr := data["status"].(string)
	if _, present := data["status"]; present && (!isStr || !referralStatuses[status]) {
		writeErrors(rq.w, http.StatusUnprocessableEntity, apiError{Code: 422, Resource: rq.r.URL.Path,
			Message: "Invalid Record JSON", Detail: []string{"/status"}})
		return
	}
	if ss, ok := data["success_status"]; ok && ss != nil && ss != "successful" && ss != "not_successful" {
		writeErrors(rq.w, http.StatusUnprocessableEntity, apiError{Code: 422, Resource: rq.r.URL.Path,
			Message: "Invalid Record JSON", Detail: []string{"/success_status"}})
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var ref map[string]any
	for _, r := range s.referrals[caseID] {
		if r["id"] == refID {
			ref = r
		}
	}
	if ref == nil {
		writeErrors(rq.w, http.StatusNotFound, apiError{Code: 404, Resource: rq.r.URL.Path, Message: "Not Found",
			Detail: "Couldn't find Referral with 'id'=" + refID})
		return
	}
	rec := s.cases[caseID]
	now := stamp(s.now())
	cur, _ := ref["status"].(string)
	changed := false
	switch {
	case status == "" || status == cur:
	case status == StatusAccepted && cur == StatusInProgress:
		ref["status"], ref["responded_at"] = StatusAccepted, now
		changed = true
	case status == StatusRejected && cur == StatusInProgress:
		ref["status"], ref["responded_at"] = StatusRejected, now
		if rr, ok := data["rejected_reason"].(string); ok {
			ref["rejected_reason"] = rr
		}
		removeAssigned(rec, ref)
		changed = true
	case status == StatusDone && cur == StatusAccepted:
		ss, _ := data["success_status"].(string)
		if ss == "" {
			writeErrors(rq.w, http.StatusUnprocessableEntity, apiError{Code: 422, Resource: rq.r.URL.Path,
				Message: []string{"errors.models.referral.success_status_present"}, Detail: "base"})
			return
		}
		ref["status"], ref["success_status"] = StatusDone, ss
		if note, ok := data["rejection_note"].(string); ok && note != "" {
			ref["rejection_note"] = note
		}
		removeAssigned(rec, ref)
		changed = true
	}
	if changed {
		s.touch(rec, rq.user.Username)
	}
	writeJSON(rq.w, http.StatusOK, map[string]any{"data": jsonvalue.Clone(ref)})
}

func removeAssigned(rec, ref map[string]any) {
	to, _ := ref["transitioned_to"].(string)
	assigned, _ := rec["assigned_user_names"].([]any)
	kept := make([]any, 0, len(assigned))
	for _, a := range assigned {
		if a != to {
			kept = append(kept, a)
		}
	}
	rec["assigned_user_names"] = kept
}
