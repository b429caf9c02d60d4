package primero

import (
	"testing"
	"time"
)

func TestReferrals(t *testing.T) {
	s := startServer(t, Options{Users: []User{{Username: "openfn", Password: "openfn-password", Agency: "agency-unicef"}}})
	c1 := s.SeedCase(map[string]any{"name": "a", "services_section": []any{map[string]any{"unique_id": "svc-1", "service_response_type": "referral_to_oscar"}}})
	c2 := s.SeedCase(map[string]any{"name": "b"})
	s.AdvanceClock(time.Minute)

	r := call(t, s, "POST", "/api/v2/cases/referrals", defAuth, map[string]any{"data": map[string]any{
		"ids": []any{c1, c2}, "transitioned_to": "agency-cif-user", "service_record_id": "svc-1", "notes": "please help",
		"ignored_key": "dropped",
	}})
	if r.status != 200 {
		t.Fatalf("bulk refer: %d %s", r.status, r.raw)
	}
	created := dataList(t, r)
	if len(created) != 2 {
		t.Fatalf("%d referrals", len(created))
	}
	ref := created[0].(map[string]any)
	for k, want := range map[string]any{"type": "Referral", "status": "in_progress", "record_id": c1, "record_type": "case",
		"transitioned_to": "agency-cif-user", "transitioned_by": "openfn", "notes": "please help", "service_record_id": "svc-1",
		"created_at": "2025-08-02T10:01:00.000Z"} {
		if ref[k] != want {
			t.Errorf("%s = %v, want %v", k, ref[k], want)
		}
	}
	if _, ok := ref["ignored_key"]; ok {
		t.Error("unpermitted key kept")
	}
	case1, _ := s.Case(c1)
	if case1["last_updated_at"] != "2025-08-02T10:01:00.000Z" {
		t.Errorf("referral did not bump the case: %v", case1["last_updated_at"])
	}
	if svc := case1["services_section"].([]any)[0].(map[string]any); svc["service_status_referred"] != true {
		t.Errorf("service not marked referred: %v", svc)
	}
	if a := case1["assigned_user_names"].([]any); len(a) != 1 || a[0] != "agency-cif-user" {
		t.Errorf("assigned_user_names %v", a)
	}

	r = call(t, s, "GET", "/api/v2/cases/"+c1+"/referrals", defAuth, nil)
	if r.status != 200 || len(dataList(t, r)) != 1 {
		t.Fatalf("list: %d %s", r.status, r.raw)
	}
	// single-case form
	r = call(t, s, "POST", "/api/v2/cases/"+c2+"/referrals", defAuth, map[string]any{"data": map[string]any{"transitioned_to": "x-user"}})
	if r.status != 200 || dataObj(t, r)["record_id"] != c2 || len(s.Referrals(c2)) != 2 {
		t.Fatalf("single refer: %d %s", r.status, r.raw)
	}

	refID := ref["id"].(string)
	path := "/api/v2/cases/" + c1 + "/referrals/" + refID
	steps := []struct {
		name   string
		data   map[string]any
		status int
		want   string
	}{
		{"done before accept is ignored", map[string]any{"status": "done", "success_status": "successful"}, 200, "in_progress"},
		{"accept with extra keys (f2-j2 shape)", map[string]any{"status": "accepted", "id": refID, "type": "Referral", "record_id": c1, "record_type": "case"}, 200, "accepted"},
		{"reject after accept is ignored", map[string]any{"status": "rejected"}, 200, "accepted"},
		{"done without success_status", map[string]any{"status": "done"}, 422, "accepted"},
		{"bad success_status", map[string]any{"status": "done", "success_status": "great"}, 422, "accepted"},
		{"unknown status", map[string]any{"status": "finished"}, 422, "accepted"},
		{"status not a string", map[string]any{"status": 3}, 422, "accepted"},
		{"done", map[string]any{"status": "done", "success_status": "successful"}, 200, "done"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			r := call(t, s, "PATCH", path, defAuth, map[string]any{"data": st.data})
			if r.status != st.status {
				t.Fatalf("status %d, want %d: %s", r.status, st.status, r.raw)
			}
			if st.status != 200 {
				firstError(t, r)
			}
			if got := s.Referrals(c1)[0]["status"]; got != st.want {
				t.Fatalf("referral status %v, want %s", got, st.want)
			}
		})
	}
	if got := s.Referrals(c1)[0]["responded_at"]; got == nil {
		t.Error("responded_at not set on accept")
	}

	// reject from in_progress removes the assignee
	other := s.Referrals(c2)[0]["id"].(string)
	r = call(t, s, "PATCH", "/api/v2/cases/"+c2+"/referrals/"+other, defAuth, map[string]any{"data": map[string]any{"status": "rejected", "rejected_reason": "no capacity"}})
	if r.status != 200 || dataObj(t, r)["status"] != "rejected" || dataObj(t, r)["rejected_reason"] != "no capacity" {
		t.Fatalf("reject: %d %s", r.status, r.raw)
	}

	bad := []struct {
		name, method, path string
		body               any
		status             int
	}{
		{"bulk without ids", "POST", "/api/v2/cases/referrals", map[string]any{"data": map[string]any{"transitioned_to": "u"}}, 422},
		{"bulk with unknown id", "POST", "/api/v2/cases/referrals", map[string]any{"data": map[string]any{"ids": []any{c1, "nope"}, "transitioned_to": "u"}}, 404},
		{"bulk without recipient", "POST", "/api/v2/cases/referrals", map[string]any{"data": map[string]any{"ids": []any{c1}}}, 422},
		{"refer unknown case", "POST", "/api/v2/cases/nope/referrals", map[string]any{"data": map[string]any{"transitioned_to": "u"}}, 404},
		{"list unknown case", "GET", "/api/v2/cases/nope/referrals", nil, 404},
		{"update unknown referral", "PATCH", "/api/v2/cases/" + c1 + "/referrals/nope", map[string]any{"data": map[string]any{"status": "accepted"}}, 404},
		{"update on unknown case", "PATCH", "/api/v2/cases/nope/referrals/" + refID, map[string]any{"data": map[string]any{"status": "accepted"}}, 404},
		{"update without data", "PATCH", path, map[string]any{}, 422},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			n1, n2 := len(s.Referrals(c1)), len(s.Referrals(c2))
			r := call(t, s, tc.method, tc.path, defAuth, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			firstError(t, r)
			if len(s.Referrals(c1)) != n1 || len(s.Referrals(c2)) != n2 {
				t.Fatal("failed request created referrals")
			}
		})
	}
}
