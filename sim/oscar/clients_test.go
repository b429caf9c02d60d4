package oscar

import (
	"reflect"
	"testing"
	"time"
)

func ngoClient(extra map[string]any) map[string]any {
	c := map[string]any{"given_name": "Mamadou", "family_name": "Lakhassane", "gender": "male", "date_of_birth": "2014-09-08",
		"location_current_village_code": "02040302", "organization_name": "cif", "status": "Active"}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

func TestSeedAndSerialise(t *testing.T) {
	s := startServer(t, Options{})
	gid := s.SeedClient(ngoClient(map[string]any{"services": []any{
		map[string]any{"uuid": "p-1", "name": "Family support", "enrollment_date": "2020-07-16", "program_name": "FS"},
		map[string]any{"uuid": "r-1", "name": "Trauma counselling", "referral_id": 77, "referral_status": "Referred"},
	}, "is_referred": true}))
	if len(gid) != 26 {
		t.Fatalf("global_id %q is not a ULID", gid)
	}
	h := signIn(t, s)
	list := clientsSince(t, s, h, "")
	if len(list) != 1 {
		t.Fatalf("%d clients", len(list))
	}
	c := list[0]
	for k, want := range map[string]any{"global_id": gid, "given_name": "Mamadou", "external_id": "", "organization_name": "cif",
		"organization_id": float64(1), "is_referred": true, "location_current_village_code": "02040302",
		"address_current_village_code": "02040302", "status": "Active", "resource": nil} {
		if !reflect.DeepEqual(c[k], want) {
			t.Errorf("%s = %#v, want %#v", k, c[k], want)
		}
	}
	if slug, _ := c["slug"].(string); len(slug) < 6 {
		t.Errorf("slug %q", slug)
	}
	svcs := c["services"].([]any)
	if len(svcs) != 2 {
		t.Fatalf("services %v", svcs)
	}
	ref := svcs[1].(map[string]any)
	if ref["referral_id"] != float64(77) || ref["referral_status"] != "Referred" || ref["uuid"] != "r-1" {
		t.Fatalf("referral service %v", ref)
	}
	all := s.Clients()
	if all[0]["updated_at"] != t0.Format(time.RFC3339Nano) {
		t.Fatalf("Clients() %v", all[0])
	}

	// Clients missing a name, gender or date of birth are not shared.
	s.SeedClient(ngoClient(map[string]any{"date_of_birth": ""}))
	s.SeedClient(ngoClient(map[string]any{"given_name": "", "local_given_name": "ដូដូ"}))
	list = clientsSince(t, s, h, "")
	if len(list) != 2 {
		t.Fatalf("shareable filter: %d clients", len(list))
	}
}

func TestSinceDate(t *testing.T) {
	s := startServer(t, Options{})
	h := signIn(t, s)
	ext := s.SeedClient(ngoClient(map[string]any{"is_referred": true})) // 10:00, timestamp precision
	ngo := s.SeedClient(ngoClient(nil))                                 // 10:00, date precision
	s.AdvanceClock(26 * time.Hour)                                      // 2025-08-03 12:00
	late := s.SeedClient(ngoClient(map[string]any{"is_referred": true}))

	tests := []struct {
		since string
		want  []string
	}{
		{"", []string{late, ext, ngo}},
		{"2025-08-02 00:00:00", []string{late, ext, ngo}},
		{"2025-08-02 10:00:00", []string{late, ext, ngo}}, // inclusive
		{"2025-08-02 10:00:01", []string{late, ngo}},      // ngo: same date still matches
		{"2025-08-02T10:00:01.000Z", []string{late, ngo}}, // the ISO cursor f2-j1 really sends
		{"'2025-08-03 00:00:00'", []string{late}},         // quoted, as in the integration docs
		{"2025-08-03 12:00:00", []string{late}},
		{"2025-08-04", nil},
	}
	for _, tc := range tests {
		t.Run(tc.since, func(t *testing.T) {
			got := gids(clientsSince(t, s, h, tc.since))
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	r := call(t, s, "GET", "/api/v1/organizations/clients?since_date=yesterday&referred_external=true", h, nil)
	if r.status != 500 {
		t.Fatalf("bad since_date: %d %s", r.status, r.raw)
	}
	r = call(t, s, "GET", "/api/v1/organizations/clients?since_date=2025-08-01&end_date=2025-08-02%2023:59:59", h, nil)
	if r.status != 200 {
		t.Fatal(r.status)
	}
	hist := r.body["data"].([]any)
	if len(hist) != 2 {
		t.Fatalf("historical: %d", len(hist))
	}
}

func TestZoneLessSinceUsesLocation(t *testing.T) {
	ict := time.FixedZone("ICT", 7*3600)
	s := startServer(t, Options{Location: ict})
	h := signIn(t, s)
	gid := s.SeedClient(ngoClient(map[string]any{"is_referred": true})) // 10:00Z = 17:00 ICT
	if got := gids(clientsSince(t, s, h, "2025-08-02 17:00:00")); !reflect.DeepEqual(got, []string{gid}) {
		t.Fatalf("17:00 ICT: %v", got)
	}
	if got := gids(clientsSince(t, s, h, "2025-08-02 17:00:01")); len(got) != 0 {
		t.Fatalf("17:00:01 ICT: %v", got)
	}
}

func TestUpsertReferralLifecycle(t *testing.T) {
	s := startServer(t, Options{})
	h := signIn(t, s)
	up := func(body any) resp { return call(t, s, "POST", "/api/v1/organizations/clients/upsert/", h, body) }

	r := up(referralPayload("cf579546-49fc-4352-afc6-6c2636392077", "svc-a", "Long term foster care"))
	if r.status != 200 || r.body["message"] != "Record saved." || r.body["external_id"] != "cf579546-49fc-4352-afc6-6c2636392077" {
		t.Fatalf("upsert: %d %s", r.status, r.raw)
	}
	// Same payload again: still one referral (idempotent), updated.
	again := referralPayload("cf579546-49fc-4352-afc6-6c2636392077", "svc-a", "Long term foster care")
	again["organization"].(map[string]any)["reason_for_referral"] = "updated reason"
	if r := up(again); r.status != 200 {
		t.Fatalf("repeat: %d %s", r.status, r.raw)
	}
	refs := s.Referrals()
	if len(refs) != 1 || refs[0]["reason_for_referral"] != "updated reason" || refs[0]["accepted"] != false {
		t.Fatalf("after repeat: %v", refs)
	}
	// Second service of the same case: second referral, same global id.
	if r := up(referralPayload("cf579546-49fc-4352-afc6-6c2636392077", "svc-b", "Trauma counselling")); r.status != 200 {
		t.Fatalf("second service: %d %s", r.status, r.raw)
	}
	refs = s.Referrals()
	if len(refs) != 2 || refs[0]["client_global_id"] != refs[1]["client_global_id"] {
		t.Fatalf("two services: %v", refs)
	}
	if len(s.Clients()) != 0 || len(clientsSince(t, s, h, "")) != 0 {
		t.Fatal("pending referral visible as a client")
	}

	s.AdvanceClock(time.Hour)
	gid, err := s.AcceptReferral("cf579546-49fc-4352-afc6-6c2636392077")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AcceptReferral("unknown"); err == nil {
		t.Fatal("accepting an unknown referral succeeded")
	}
	list := clientsSince(t, s, h, "2025-08-02 10:30:00")
	if len(list) != 1 {
		t.Fatalf("accepted client not listed: %v", list)
	}
	c := list[0]
	if c["global_id"] != gid || c["external_id"] != "cf579546-49fc-4352-afc6-6c2636392077" || c["resource"] != "primero" ||
		c["status"] != "Accepted" || c["is_referred"] != true || c["level_of_risk"] != "medium" {
		t.Fatalf("client %v", c)
	}
	svcs := c["services"].([]any)
	if len(svcs) != 2 || svcs[0].(map[string]any)["referral_status"] != "Accepted" {
		t.Fatalf("services %v", svcs)
	}

	// Posting the accepted case again without a global_id is "Record was found."
	r = up(referralPayload("cf579546-49fc-4352-afc6-6c2636392077", "svc-a", "Long term foster care"))
	if r.status != 422 || r.body["message"] != "Record was found." {
		t.Fatalf("found: %d %s", r.status, r.raw)
	}
	errs := r.body["errors"].(map[string]any)
	if errs["global_id"] != "global_id must exist." {
		t.Fatalf("errors %v", errs)
	}

	// With its global_id it updates the client; an unchanged payload does not
	// touch updated_at, a changed one does.
	s.AdvanceClock(time.Hour)
	known := referralPayload("cf579546-49fc-4352-afc6-6c2636392077", "svc-a", "Long term foster care")
	org := known["organization"].(map[string]any)
	org["global_id"] = gid
	org["is_referred"] = false
	before := s.Clients()[0]["updated_at"]
	if r := up(known); r.status != 200 || r.body["message"] != "Record saved." {
		t.Fatalf("known client: %d %s", r.status, r.raw)
	}
	if s.Clients()[0]["updated_at"] != before {
		t.Fatal("unchanged upsert touched the client")
	}
	org["given_name"] = "Aïcha"
	up(known)
	cl := s.Clients()[0]
	if cl["updated_at"] == before || cl["given_name"] != "Aïcha" {
		t.Fatalf("changed upsert: %v", cl)
	}
	// referral_status on a known client updates its latest referral.
	org["referral_status"] = "Exited"
	if r := up(known); r.status != 200 {
		t.Fatalf("status: %d %s", r.status, r.raw)
	}
	if refs := s.Referrals(); refs[1]["referral_status"] != "Exited" {
		t.Fatalf("latest referral %v", refs[1])
	}
	org["referral_status"] = "Done"
	if r := up(known); r.status != 422 || r.body["message"] != "Referral status must be one of ['Accepted', 'Exited', 'Referred']." {
		t.Fatalf("bad status: %d %s", r.status, r.raw)
	}
	// is_referred on a known client adds a referral to it.
	delete(org, "referral_status")
	org["is_referred"] = true
	org["services"] = []any{map[string]any{"uuid": "svc-c", "name": "Kinship care"}}
	if r := up(known); r.status != 200 {
		t.Fatalf("new referral on client: %d %s", r.status, r.raw)
	}
	if n := len(s.Clients()[0]["services"].([]any)); n != 3 {
		t.Fatalf("%d services after new referral", n)
	}
}

func TestUpsertValidation(t *testing.T) {
	s := startServer(t, Options{})
	h := signIn(t, s)
	mutate := func(f func(org map[string]any)) map[string]any {
		p := referralPayload("aac935f2-5e01-450b-8575-423915a04e68", "u1", "Emergency foster care")
		f(p["organization"].(map[string]any))
		return p
	}
	tests := []struct {
		name   string
		body   any
		status int
		field  string
	}{
		{"no organization", map[string]any{"client": map[string]any{}}, 422, ""},
		{"no organization_name", mutate(func(o map[string]any) { o["organization_name"] = "" }), 422, ""},
		{"no name", mutate(func(o map[string]any) { o["given_name"], o["family_name"] = "", "" }), 422, "client_name"},
		{"no case worker", mutate(func(o map[string]any) { delete(o, "external_case_worker_name") }), 422, "name_of_referee"},
		{"no phone", mutate(func(o map[string]any) { o["external_case_worker_mobile"] = "" }), 422, "referral_phone"},
		{"bad risk", mutate(func(o map[string]any) { o["level_of_risk"] = "no_action" }), 422, "level_of_risk"},
		{"missing risk", mutate(func(o map[string]any) { delete(o, "level_of_risk") }), 422, "level_of_risk"},
		{"Not Specified service", mutate(func(o map[string]any) {
			o["services"] = []any{map[string]any{"uuid": "u", "name": "Not Specified"}}
		}), 422, "services"},
		{"no services", mutate(func(o map[string]any) { delete(o, "services") }), 422, "services"},
		{"bad json", "{", 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, s, "POST", "/api/v1/organizations/clients/upsert", h, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			if tc.status == 422 && tc.field == "" && r.body["message"] != "Record error. Please check OSCaR logs for details." {
				t.Fatalf("body %s", r.raw)
			}
			if tc.field != "" {
				msgs, ok := r.body["message"].(map[string]any)
				if !ok || msgs[tc.field] == nil || r.body["external_id"] != "aac935f2-5e01-450b-8575-423915a04e68" {
					t.Fatalf("want messages for %s: %s", tc.field, r.raw)
				}
			}
			if len(s.Referrals()) != 0 {
				t.Fatal("invalid referral stored")
			}
		})
	}
}

func TestUpdateStatuses(t *testing.T) {
	s := startServer(t, Options{})
	h := signIn(t, s)
	gid := s.SeedClient(ngoClient(map[string]any{"is_referred": true, "services": []any{
		map[string]any{"uuid": "r-1", "name": "Trauma counselling", "referral_id": 1193, "referral_status": "Referred"},
		map[string]any{"uuid": "r-2", "name": "Kinship care", "referral_id": 1194, "referral_status": "Referred"},
	}}))
	put := func(items ...any) resp {
		return call(t, s, "PUT", "/api/v1/organizations/referrals/update_statuses/", h, map[string]any{"data": items})
	}
	item := func(id any, status string) map[string]any {
		return map[string]any{"external_id": "e", "external_id_display": "e", "client_global_id": gid, "referral_status": status, "referral_id": id}
	}
	s.AdvanceClock(time.Hour)
	if r := put(item(1193, "Accepted")); r.status != 200 || r.body["message"] != "Record saved." {
		t.Fatalf("update: %d %s", r.status, r.raw)
	}
	cl := s.Clients()[0]
	if cl["services"].([]any)[0].(map[string]any)["referral_status"] != "Accepted" || cl["updated_at"] != t0.Add(time.Hour).Format(time.RFC3339Nano) {
		t.Fatalf("after update: %v", cl)
	}
	bad := []struct {
		name  string
		items []any
		err   string
	}{
		{"unknown client", []any{map[string]any{"client_global_id": "nope", "referral_id": 1193, "referral_status": "Accepted"}}, "ActiveRecord::RecordNotFound"},
		{"unknown referral", []any{item(5, "Accepted")}, "Couldn't find Referral with 'id'=5"},
		{"bad status (Other Service)", []any{item(1194, "Other Service")}, "Referral status is not included in the list. Referral status must be one of ['Accepted', 'Exited', 'Referred']."},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			r := put(tc.items...)
			if r.status != 422 || r.body["error"] != tc.err || r.body["message"] != "Record error. Please check OSCaR logs for details." {
				t.Fatalf("%d %s", r.status, r.raw)
			}
		})
	}
	// No transaction: items before the failing one stay applied.
	if r := put(item(1194, "Exited"), item(9, "Accepted")); r.status != 422 {
		t.Fatalf("partial: %d", r.status)
	}
	if st := s.Clients()[0]["services"].([]any)[1].(map[string]any)["referral_status"]; st != "Exited" {
		t.Fatalf("first item not applied: %v", st)
	}
	if r := call(t, s, "PUT", "/api/v1/organizations/referrals/update_statuses", h, map[string]any{}); r.status != 500 {
		t.Fatalf("no data: %d", r.status)
	}
}

func TestUpdateLinks(t *testing.T) {
	s := startServer(t, Options{})
	h := signIn(t, s)
	gid := s.SeedClient(ngoClient(nil))
	s.AdvanceClock(48 * time.Hour)
	r := call(t, s, "PUT", "/api/v1/organizations/clients/update_links/", h, map[string]any{"data": []any{
		map[string]any{"external_id": "case-123", "external_id_display": "e-123", "global_id": gid, "is_referred": false},
		map[string]any{"external_id": "x", "global_id": "unknown"},
	}})
	if r.status != 200 || r.body["message"] != "Record saved." {
		t.Fatalf("update_links: %d %s", r.status, r.raw)
	}
	c := s.Clients()[0]
	if c["external_id"] != "case-123" || c["external_id_display"] != "e-123" || c["resource"] != "primero" {
		t.Fatalf("linked client %v", c)
	}
	if c["updated_at"] != t0.Format(time.RFC3339Nano) {
		t.Fatal("update_links touched updated_at")
	}
	if got := clientsSince(t, s, h, "2025-08-03 00:00:00"); len(got) != 0 {
		t.Fatalf("linked client reappeared: %v", got)
	}
	for _, body := range []any{map[string]any{}, map[string]any{"data": []any{}}} {
		if r := call(t, s, "PUT", "/api/v1/organizations/clients/update_links", h, body); r.status != 500 {
			t.Fatalf("missing data: %d %s", r.status, r.raw)
		}
	}
	r = call(t, s, "GET", "/api/v1/organizations", nil, nil)
	if r.status != 200 {
		t.Fatal(r.status)
	}
}
