package primero

import (
	"fmt"
	"net/url"
	"reflect"
	"testing"
	"time"
)

func TestCreateCase(t *testing.T) {
	s := startServer(t, Options{Users: []User{{Username: "openfn", Password: "openfn-password", Agency: "agency-unicef"}}})
	valid := map[string]any{"module_id": "primeromodule-cp", "name_first": "Aicha", "name_last": "Diallo", "age": 9, "sex": "female",
		"services_section": []any{map[string]any{"service_type": "family_based_care", "service_response_type": "referral_to_oscar"}}}
	r := call(t, s, "POST", "/api/v2/cases", defAuth, map[string]any{"data": valid})
	if r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	c := dataObj(t, r)
	caseID := c["case_id"].(string)
	checks := map[string]any{
		"name": "Aicha Diallo", "owned_by": "openfn", "owned_by_agency_id": "agency-unicef", "status": "open",
		"record_state": true, "created_at": "2025-08-02T10:00:00.000Z", "last_updated_at": "2025-08-02T10:00:00.000Z",
		"case_id_display": caseID[len(caseID)-7:], "registration_date": "2025-08-02", "age": float64(9),
	}
	for k, want := range checks {
		if !reflect.DeepEqual(c[k], want) {
			t.Errorf("%s = %#v, want %#v", k, c[k], want)
		}
	}
	svc := c["services_section"].([]any)[0].(map[string]any)
	if svc["unique_id"] == nil || svc["unique_id"] == "" {
		t.Error("subform element got no unique_id")
	}
	if stored, ok := s.Case(c["id"].(string)); !ok || stored["name"] != "Aicha Diallo" {
		t.Fatalf("not stored: %v", stored)
	}

	tests := []struct {
		name   string
		body   any
		status int
		msg    any
		detail any
	}{
		{"double wrapped (adaptor >=3.2)", map[string]any{"data": map[string]any{"data": valid}}, 422, "Invalid Record JSON", []any{"/data"}},
		{"unknown field", map[string]any{"data": map[string]any{"module_id": "primeromodule-cp", "name": "x", "favourite_colour": "red"}}, 422, "Invalid Record JSON", []any{"/favourite_colour"}},
		{"age not integer", map[string]any{"data": map[string]any{"module_id": "primeromodule-cp", "name": "x", "age": "nine"}}, 422, "Invalid Record JSON", []any{"/age"}},
		{"bad date", map[string]any{"data": map[string]any{"module_id": "primeromodule-cp", "name": "x", "date_of_birth": "01/02/2012"}}, 422, "Invalid Record JSON", []any{"/date_of_birth"}},
		{"bool as string", map[string]any{"data": map[string]any{"module_id": "primeromodule-cp", "name": "x", "consent_for_services": "yes"}}, 422, "Invalid Record JSON", []any{"/consent_for_services"}},
		{"missing name", map[string]any{"data": map[string]any{"module_id": "primeromodule-cp", "age": 3}}, 422, []any{"errors.models.case.name.presence"}, "name"},
		{"missing module", map[string]any{"data": map[string]any{"name": "x"}}, 422, []any{"errors.models.case.module_id.invalid"}, "module_id"},
		{"age out of range", map[string]any{"data": map[string]any{"module_id": "primeromodule-cp", "name": "x", "age": 200}}, 422, []any{"errors.models.case.age.range"}, "age"},
		{"no data", map[string]any{"case": map[string]any{"name": "x"}}, 422, "param is missing or the value is empty: data", nil},
		{"empty data", map[string]any{"data": map[string]any{}}, 422, "param is missing or the value is empty: data", nil},
		{"malformed json", `{"data":`, 400, "Error occurred while parsing request parameters", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(s.Cases())
			r := call(t, s, "POST", "/api/v2/cases", defAuth, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			e := firstError(t, r)
			if !reflect.DeepEqual(e["message"], tc.msg) || !reflect.DeepEqual(e["detail"], tc.detail) {
				t.Fatalf("error %v", e)
			}
			if e["resource"] != "/api/v2/cases" || e["code"] != float64(tc.status) {
				t.Fatalf("error shape %v", e)
			}
			if len(s.Cases()) != before {
				t.Fatal("invalid case was stored")
			}
		})
	}

	// A client-generated id is kept; reusing it conflicts.
	r = call(t, s, "POST", "/api/v2/cases", defAuth, map[string]any{"data": map[string]any{"id": "fixed-id", "module_id": "primeromodule-cp", "name": "n"}})
	if r.status != 200 || dataObj(t, r)["id"] != "fixed-id" {
		t.Fatalf("client id: %d %s", r.status, r.raw)
	}
	r = call(t, s, "POST", "/api/v2/cases", defAuth, map[string]any{"data": map[string]any{"id": "fixed-id", "module_id": "primeromodule-cp", "name": "n"}})
	if r.status != 409 {
		t.Fatalf("duplicate id: %d %s", r.status, r.raw)
	}
}

func TestExtraFields(t *testing.T) {
	s := startServer(t, Options{ExtraFields: []string{"custom_field_123"}})
	r := call(t, s, "POST", "/api/v2/cases", defAuth, map[string]any{"data": map[string]any{"module_id": "primeromodule-cp", "name": "x", "custom_field_123": "v"}})
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
}

func TestShowAndPatchCase(t *testing.T) {
	s := startServer(t, Options{})
	id := s.SeedCase(map[string]any{"name_first": "Mmu", "name_last": "Referral", "oscar_number": "01EQ",
		"services_section": []any{
			map[string]any{"unique_id": "svc-1", "service_type": "family_based_care", "referral_status_edf41f2": "pending_310366"},
			map[string]any{"unique_id": "svc-2", "service_type": "legal_support"},
		}})
	r := call(t, s, "GET", "/api/v2/cases/"+id, defAuth, nil)
	if r.status != 200 || dataObj(t, r)["oscar_number"] != "01EQ" {
		t.Fatalf("show: %d %s", r.status, r.raw)
	}
	if r := call(t, s, "GET", "/api/v2/cases/nope", defAuth, nil); r.status != 404 || firstError(t, r)["resource"] != "/api/v2/cases/nope" {
		t.Fatalf("show 404: %d %s", r.status, r.raw)
	}

	s.AdvanceClock(time.Hour)
	patch := map[string]any{"data": map[string]any{
		"id":         id,
		"risk_level": "high",
		"services_section": []any{
			map[string]any{"unique_id": "svc-1", "referral_status_edf41f2": "accepted_340953"},
			map[string]any{"unique_id": "svc-2", "_delete": true},
			map[string]any{"service_type": "medical_support"},
		},
	}}
	r = call(t, s, "PATCH", "/api/v2/cases/"+id, defAuth, patch)
	if r.status != 200 {
		t.Fatalf("patch: %d %s", r.status, r.raw)
	}
	c := dataObj(t, r)
	if c["risk_level"] != "high" || c["name"] != "Mmu Referral" || c["last_updated_at"] != "2025-08-02T11:00:00.000Z" || c["created_at"] != "2025-08-02T10:00:00.000Z" {
		t.Fatalf("patched case %v", c)
	}
	svcs := c["services_section"].([]any)
	if len(svcs) != 2 {
		t.Fatalf("services %v", svcs)
	}
	first := svcs[0].(map[string]any)
	if first["unique_id"] != "svc-1" || first["referral_status_edf41f2"] != "accepted_340953" || first["service_type"] != "family_based_care" {
		t.Fatalf("merged service %v", first)
	}
	second := svcs[1].(map[string]any)
	if second["service_type"] != "medical_support" || second["unique_id"] == nil {
		t.Fatalf("appended service %v", second)
	}

	bad := []struct {
		name, path string
		body       any
		status     int
	}{
		{"unknown case", "/api/v2/cases/nope", map[string]any{"data": map[string]any{"risk_level": "low"}}, 404},
		{"double wrapped", "/api/v2/cases/" + id, map[string]any{"data": map[string]any{"data": map[string]any{"risk_level": "low"}}}, 422},
		{"no data", "/api/v2/cases/" + id, map[string]any{}, 422},
		{"blank the name", "/api/v2/cases/" + id, map[string]any{"data": map[string]any{"name": "", "name_first": "", "name_last": ""}}, 422},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := s.Case(id)
			r := call(t, s, "PATCH", tc.path, defAuth, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			firstError(t, r)
			after, _ := s.Case(id)
			if !reflect.DeepEqual(before, after) {
				t.Fatal("rejected PATCH changed the case")
			}
		})
	}
}

func TestListCasesFilters(t *testing.T) {
	s := startServer(t, Options{PageSize: 2})
	mk := func(extra map[string]any) string {
		c := map[string]any{"name": "n", "module_id": "primeromodule-cp"}
		for k, v := range extra {
			c[k] = v
		}
		id := s.SeedCase(c)
		s.AdvanceClock(time.Hour)
		return id
	}
	a := mk(map[string]any{"case_id": "case-a", "oscar_number": "OSC1", "age": int64(5), "sex": "male", "workflow": "referral_from_oscar",
		"services_section": []any{map[string]any{"service_response_type": "referral_to_oscar"}}})
	b := mk(map[string]any{"case_id": "case-b", "age": int64(12), "sex": "female", "record_state": false})
	c := mk(map[string]any{"case_id": "case-c", "oscar_number": "OSC3", "age": int64(15), "sex": "female",
		"services_section": []any{map[string]any{"service_response_type": "referral_from_oscar"}}})
	// created_at: a 10:00, b 11:00, c 12:00.

	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{c, b}}, // default per from Options, newest first
		{"per=10", []string{c, b, a}},
		{"remote=true&case_id=case-b", []string{b}},
		{"oscar_number=OSC1", []string{a}},
		{"sex=female&per=10", []string{c, b}},
		{"sex=male,female&per=10", []string{c, b, a}},
		{"age=10..15", []string{c, b}},
		{"age=..5", []string{a}},
		{"record_state=false", []string{b}},
		{"id=" + b, []string{b}},
		{"workflow=referral_from_oscar", []string{a}},
		{"last_updated_at=2025-08-02T11:00:00Z..", []string{c, b}},
		{"last_updated_at=2025-08-02T11:00:00.000Z..2025-08-02T11:00:00.000Z", []string{b}},
		{"last_updated_at=" + url.QueryEscape("2025-08-02T11:30:00.400Z") + "..", []string{c}},
		{"created_at=2025-08-02..2025-08-02&per=10", []string{c, b, a}},
		{"created_at=2025-08-03..", nil},
		{"service_response_types=referral_to_oscar", []string{a}},
		{"scope[oscar_number]=range||*.*&per=10", []string{c, a}},
		{"scope[or][service_response_types][]=referral_to_oscar&scope[or][service_response_types][]=referral_from_oscar&per=10", []string{c, a}},
		{"scope[service_response_types]=list||referral_from_oscar", []string{c}},
		{"scope[record_state]=list||true&per=10", []string{c, a}},
		{"scope[or][created_at]=or_op||date_range||02-08-2025%2011:30.01-01-4020%2000:00&scope[or][age]=or_op||range||0.6&per=10", []string{c, a}},
		{"order_by=age&order=asc&per=10", []string{a, b, c}},
		{"query=OSC3", []string{c}},
		{"page=2", []string{a}},
		{"page=3", nil},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			r := call(t, s, "GET", "/api/v2/cases?"+tc.query, defAuth, nil)
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			var got []string
			for _, x := range dataList(t, r) {
				got = append(got, x.(map[string]any)["id"].(string))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}

	r := call(t, s, "GET", "/api/v2/cases?page=2&sex=female&per=1", defAuth, nil)
	if md := r.body["metadata"].(map[string]any); md["total"] != float64(2) || md["per"] != float64(1) || md["page"] != float64(2) {
		t.Fatalf("metadata %v", md)
	}

	for _, q := range []string{"per=0", "page=x", "age=a..b", "last_updated_at=..", "scope=x", "scope[x]=bogus||1", "scope[x]=date_range||nope.01-01-2020", "foo[bar]=1", "a[b]=1&a=2"} {
		t.Run("bad "+q, func(t *testing.T) {
			r := call(t, s, "GET", "/api/v2/cases?"+q, defAuth, nil)
			if r.status != 422 && r.status != 400 {
				t.Fatalf("%s: %d %s", q, r.status, r.raw)
			}
			if msg, _ := firstError(t, r)["message"].(string); msg == "" {
				t.Fatalf("no message: %s", r.raw)
			}
		})
	}
}

// A case changed through the API shows up in exactly one cursor window.
func TestCursorWindows(t *testing.T) {
	s := startServer(t, Options{})
	id := s.SeedCase(map[string]any{"name": "x", "module_id": "primeromodule-cp"})
	window := func(cursor time.Time) []string {
		r := call(t, s, "GET", "/api/v2/cases?remote=true&per=10000&page=1&last_updated_at="+url.QueryEscape(cursor.Format("2006-01-02T15:04:05.000Z"))+"..", defAuth, nil)
		var ids []string
		for _, c := range dataList(t, r) {
			ids = append(ids, c.(map[string]any)["id"].(string))
		}
		return ids
	}
	cursor := s.Now().Add(time.Minute)
	s.AdvanceClock(10 * time.Minute)
	if got := window(cursor); len(got) != 0 {
		t.Fatalf("untouched case returned: %v", got)
	}
	r := call(t, s, "PATCH", "/api/v2/cases/"+id, defAuth, map[string]any{"data": map[string]any{"risk_level": "low"}})
	if r.status != 200 {
		t.Fatal(r.status)
	}
	s.AdvanceClock(time.Minute)
	if got := window(cursor); !reflect.DeepEqual(got, []string{id}) {
		t.Fatalf("changed case not returned once: %v", got)
	}
	cursor = s.Now()
	s.AdvanceClock(time.Minute)
	if got := window(cursor); len(got) != 0 {
		t.Fatalf("case returned again without change: %v", got)
	}
}

func TestSeedKeepsGivenFields(t *testing.T) {
	s := startServer(t, Options{})
	id := s.SeedCase(map[string]any{"id": "given", "case_id": "abcdefghijk", "last_updated_at": "2020-01-01T00:00:00.000Z"})
	c, ok := s.Case(id)
	if !ok || id != "given" || c["case_id_display"] != "defghijk"[1:] || c["last_updated_at"] != "2020-01-01T00:00:00.000Z" {
		t.Fatalf("%s %v", id, c)
	}
	// Returned copies are independent of the store.
	c["name"] = "mutated"
	if again, _ := s.Case(id); again["name"] == "mutated" {
		t.Fatal("Case returned shared storage")
	}
	if len(s.Cases()) != 1 {
		t.Fatal(fmt.Sprint(s.Cases()))
	}
}
