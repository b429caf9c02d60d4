package oscar_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/sim/oscar"
	"github.com/jobmediator/jobmediator/sim/primero"
)

// hc is a tiny HTTP client for the cycle test.
type hc struct {
	t *testing.T
}

func (c hc) do(method, rawURL string, headers map[string]string, body any) (int, http.Header, any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, rawURL, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		c.t.Fatalf("%s %s: non-JSON %d %s", method, rawURL, res.StatusCode, raw)
	}
	return res.StatusCode, res.Header, out
}

func (c hc) ok(method, rawURL string, headers map[string]string, body any) map[string]any {
	c.t.Helper()
	st, _, out := c.do(method, rawURL, headers, body)
	if st != 200 {
		c.t.Fatalf("%s %s: %d %v", method, rawURL, st, out)
	}
	m, _ := out.(map[string]any)
	return m
}

func list(v any) []map[string]any {
	arr, _ := v.([]any)
	out := make([]map[string]any, 0, len(arr))
	for _, x := range arr {
		out = append(out, x.(map[string]any))
	}
	return out
}

// TestCambodiaCycle plays one hourly cycle of the UNICEF Cambodia sync
// (openfn-jobs.md §6.2) with the HTTP calls the jobs make, against both
// simulators, and checks both systems afterwards.
func TestCambodiaCycle(t *testing.T) {
	start := time.Date(2025, 8, 2, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return start }
	ps := primero.New(primero.Options{Now: clock, Users: []primero.User{{Username: "openfn", Password: "openfn-password", Agency: "agency-unicef"}}})
	os := oscar.New(oscar.Options{Now: clock})
	for _, s := range []interface{ Start() error }{ps, os} {
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
	}
	defer ps.Close()
	defer os.Close()
	c := hc{t}
	P, O := ps.URL(), os.URL()
	basicOscar := "Basic " + base64.StdEncoding.EncodeToString([]byte("openfn@oscar.org:oscar-password"))

	// --- Before the cycle: a MoSVY worker refers a case to an NGO, and an
	// NGO refers one of its clients to MoSVY.
	pTok := "Bearer " + c.ok("POST", P+"/api/v2/tokens", nil, map[string]any{"user": map[string]any{"user_name": "openfn", "password": "openfn-password"}})["token"].(string)
	pH := map[string]string{"Authorization": pTok}
	created := c.ok("POST", P+"/api/v2/cases", pH, map[string]any{"data": map[string]any{
		"module_id": "primeromodule-cp", "name_first": "Aicha", "name_last": "Diallo", "sex": "female", "date_of_birth": "2016-01-01",
		"risk_level": "medium", "location_current": "1070101", "workflow": "referral_to_oscar", "consent_for_services": true, "disclosure_other_orgs": true,
		"services_section": []any{map[string]any{"unique_id": "svc-1", "service_type": "family_based_care",
			"service_subtype": []any{"family_based_care_long_term_foster_care"}, "service_response_type": "referral_to_oscar",
			"service_implementing_agency": "agency-cif"}},
	}})["data"].(map[string]any)
	caseRecordID, primeroCaseID := created["id"].(string), created["case_id"].(string)
	c.ok("POST", P+"/api/v2/cases/referrals", pH, map[string]any{"data": map[string]any{
		"ids": []any{caseRecordID}, "transitioned_to": "agency-cif-user", "service_record_id": "svc-1", "notes": "needs foster care"}})

	ngoGID := os.SeedClient(map[string]any{"given_name": "Mamadou", "family_name": "Lakhassane", "gender": "male",
		"date_of_birth": "2014-09-08", "location_current_village_code": "02040302", "organization_name": "cif", "is_referred": true,
		"services": []any{map[string]any{"uuid": "osc-svc-9", "name": "Trauma counselling", "referral_id": 501, "referral_status": "Referred"}}})

	cursor := start.Add(-time.Hour).Format("2006-01-02T15:04:05.000Z") // lastRunDateTime of the previous run
	ps.AdvanceClock(time.Hour)
	os.AdvanceClock(time.Hour)

	// --- Flow 1, f1-j1: Primero cases changed since the cursor, with referrals.
	pTok = "Bearer " + c.ok("POST", P+"/api/v2/tokens", nil, map[string]any{"user": map[string]any{"user_name": "openfn", "password": "openfn-password"}})["token"].(string)
	pH = map[string]string{"Authorization": pTok}
	q := url.Values{"remote": {"true"}, "last_updated_at": {cursor + ".."}, "page": {"1"}, "per": {"10000"}}
	cases := list(c.ok("GET", P+"/api/v2/cases?"+q.Encode(), pH, nil)["data"])
	if len(cases) != 1 {
		t.Fatalf("f1-j1: %d cases", len(cases))
	}
	var oscarRefs []map[string]any
	for _, cs := range cases {
		raw := c.ok("GET", P+"/api/v2/cases/"+cs["id"].(string)+"/referrals", pH, nil)["data"]
		cs["referrals"] = raw // getCases({withReferrals: true}) sets case.referrals
		refs := list(raw)
		for _, r := range refs {
			if r["status"] == "in_progress" && r["created_at"].(string) >= cursor {
				for _, svc := range list(cs["services_section"]) {
					if svc["unique_id"] == r["service_record_id"] {
						oscarRefs = append(oscarRefs, cs)
					}
				}
			}
		}
	}
	nextCursor := ps.Now().Format("2006-01-02T15:04:05.000Z") // currentAttempt → lastRunDateTime
	if len(oscarRefs) != 1 {
		t.Fatalf("f1-j1: %d oscar referrals", len(oscarRefs))
	}

	// --- Flow 1, f1-j2: sign in to OSCaR, post one upsert per service.
	_, hdr, _ := c.do("POST", O+"/api/v1/admin_auth/sign_in", map[string]string{"Authorization": basicOscar},
		map[string]any{"email": "openfn@oscar.org", "password": "oscar-password"})
	oH := map[string]string{"uid": "openfn@oscar.org", "client": hdr.Get("client"), "access-token": hdr.Get("access-token"), "Authorization": basicOscar}
	ref := oscarRefs[0]
	for _, svc := range list(ref["services_section"]) {
		body := map[string]any{"organization": map[string]any{
			"external_id": ref["case_id"], "external_id_display": ref["case_id_display"], "level_of_risk": ref["risk_level"],
			"mosvy_number": "", "given_name": ref["name_first"], "family_name": ref["name_last"], "gender": ref["sex"],
			"date_of_birth": ref["date_of_birth"], "location_current_village_code": "01070101", "address_current_village_code": "01070101",
			"reason_for_referral": list(ref["referrals"])[0]["notes"], "external_case_worker_name": ref["owned_by"],
			"external_case_worker_id": "", "external_case_worker_mobile": "000000000", "resource": "Primero", "is_referred": true,
			"organization_name": "cif", "organization_id": ref["owned_by_agency_id"],
			"services":         []any{map[string]any{"uuid": svc["unique_id"], "name": "Long term foster care"}},
			"date_of_referral": ref["last_updated_at"].(string)[:10],
		}}
		c.ok("POST", O+"/api/v1/organizations/clients/upsert/", oH, body)
	}

	// The NGO accepts the referral in OSCaR's UI.
	acceptedGID, err := os.AcceptReferral(primeroCaseID)
	if err != nil {
		t.Fatal(err)
	}
	os.AdvanceClock(time.Minute)
	ps.AdvanceClock(time.Minute)

	// --- Flow 2, f2-j1: sign in, GET clients since the (ISO) cursor.
	_, hdr, _ = c.do("POST", O+"/api/v1/admin_auth/sign_in", map[string]string{"Authorization": basicOscar},
		map[string]any{"email": "openfn@oscar.org", "password": "oscar-password"})
	oH = map[string]string{"uid": "openfn@oscar.org", "client": hdr.Get("client"), "access-token": hdr.Get("access-token"), "Authorization": basicOscar}
	clients := list(c.ok("GET", O+"/api/v1/organizations/clients?since_date="+url.QueryEscape(cursor), oH, nil)["data"])
	if len(clients) != 2 {
		t.Fatalf("f2-j1: %d clients", len(clients))
	}

	// --- Flow 2, f2-j2: decisions (resource == 'primero') and cases.
	for _, cl := range clients {
		if cl["resource"] == "primero" {
			q := url.Values{"case_id": {cl["external_id"].(string)}}
			hits := list(c.ok("GET", P+"/api/v2/cases?"+q.Encode(), pH, nil)["data"])
			if len(hits) != 1 {
				t.Fatalf("decision lookup: %d hits", len(hits))
			}
			pc := hits[0]
			refs := list(c.ok("GET", P+"/api/v2/cases/"+pc["id"].(string)+"/referrals", pH, nil)["data"])
			svc := list(cl["services"])[0]
			for _, r := range refs {
				if r["status"] == "in_progress" && r["service_record_id"] == svc["uuid"] {
					c.ok("PATCH", P+"/api/v2/cases/"+pc["id"].(string)+"/referrals/"+r["id"].(string), pH, map[string]any{"data": map[string]any{
						"status": "accepted", "id": r["id"], "type": "Referral", "record_id": pc["id"], "record_type": "case"}})
				}
			}
			// upsertCase({externalIds: ['case_id']})
			q = url.Values{"remote": {"true"}, "case_id": {pc["case_id"].(string)}}
			hits = list(c.ok("GET", P+"/api/v2/cases?"+q.Encode(), pH, nil)["data"])
			c.ok("PATCH", P+"/api/v2/cases/"+hits[0]["id"].(string), pH, map[string]any{"data": map[string]any{
				"oscar_number": cl["global_id"], "case_id": pc["case_id"], "oscar_status": cl["status"], "module_id": "primeromodule-cp",
				"services_section": []any{map[string]any{"unique_id": svc["uuid"], "referral_status_edf41f2": "accepted_340953",
					"oscar_referral_id_a4ac8a5": strconv.Itoa(int(svc["referral_id"].(float64)))}},
			}})
			continue
		}
		// upsertCase({externalIds: ['oscar_number']}) → not found → create.
		q := url.Values{"remote": {"true"}, "oscar_number": {cl["global_id"].(string)}}
		if hits := list(c.ok("GET", P+"/api/v2/cases?"+q.Encode(), pH, nil)["data"]); len(hits) != 0 {
			t.Fatalf("NGO client already in Primero: %v", hits)
		}
		svc := list(cl["services"])[0]
		c.ok("POST", P+"/api/v2/cases", pH, map[string]any{"data": map[string]any{
			"oscar_number": cl["global_id"], "oscar_short_id": cl["slug"], "mosvy_number": cl["mosvy_number"],
			"name_first": cl["given_name"], "name_last": cl["family_name"], "sex": cl["gender"], "age": 10,
			"date_of_birth": cl["date_of_birth"], "location_current": cl["location_current_village_code"], "oscar_status": cl["status"],
			"protection_status": "oscar_referral", "owned_by": "battambang_user", "consent_for_services": true, "disclosure_other_orgs": true,
			"risk_level": "medium", "interview_subject": "other", "module_id": "primeromodule-cp",
			"services_section": []any{map[string]any{"unique_id": svc["uuid"], "service_type": "mental_health_support",
				"service_response_type": "referral_from_oscar", "service_implementing_agency": "agency-cif",
				"oscar_referral_id_a4ac8a5": "501"}},
		}})
	}

	// --- Next f1-j1 run: both Primero cases changed since nextCursor, once.
	ps.AdvanceClock(time.Minute)
	q = url.Values{"remote": {"true"}, "last_updated_at": {nextCursor + ".."}, "page": {"1"}, "per": {"10000"}}
	changed := list(c.ok("GET", P+"/api/v2/cases?"+q.Encode(), pH, nil)["data"])
	if len(changed) != 2 {
		t.Fatalf("second f1-j1: %d cases", len(changed))
	}
	// f1-j2 nonReferrals: link the new Primero case back to the NGO client.
	var newCase map[string]any
	for _, cs := range changed {
		if cs["oscar_number"] == ngoGID {
			newCase = cs
		}
	}
	if newCase == nil {
		t.Fatal("case created from OSCaR not returned")
	}
	c.ok("PUT", O+"/api/v1/organizations/clients/update_links/", oH, map[string]any{"data": []any{map[string]any{
		"external_id": newCase["case_id"], "external_id_display": newCase["case_id_display"], "global_id": ngoGID, "is_referred": false}}})
	later := ps.Now().Format("2006-01-02T15:04:05.000Z")
	q.Set("last_updated_at", later+"..")
	ps.AdvanceClock(time.Minute)
	if again := list(c.ok("GET", P+"/api/v2/cases?"+q.Encode(), pH, nil)["data"]); len(again) != 0 {
		t.Fatalf("unchanged cases returned again: %d", len(again))
	}

	// --- State of Primero.
	orig, _ := ps.Case(caseRecordID)
	if orig["oscar_number"] != acceptedGID || orig["oscar_status"] != "Accepted" {
		t.Fatalf("Primero case not linked: %v", orig)
	}
	svc := list(orig["services_section"])[0]
	if svc["referral_status_edf41f2"] != "accepted_340953" || svc["oscar_referral_id_a4ac8a5"] == "" || svc["service_response_type"] != "referral_to_oscar" {
		t.Fatalf("service after decision: %v", svc)
	}
	if refs := ps.Referrals(caseRecordID); len(refs) != 1 || refs[0]["status"] != "accepted" {
		t.Fatalf("Primero referral: %v", refs)
	}
	if n := len(ps.Cases()); n != 2 {
		t.Fatalf("Primero has %d cases", n)
	}
	if newCase["module_id"] != "primeromodule-cp" || list(newCase["services_section"])[0]["service_response_type"] != "referral_from_oscar" {
		t.Fatalf("case from OSCaR: %v", newCase)
	}

	// --- State of OSCaR.
	byGID := map[string]map[string]any{}
	for _, cl := range os.Clients() {
		byGID[cl["global_id"].(string)] = cl
	}
	if len(byGID) != 2 {
		t.Fatalf("OSCaR has %d clients", len(byGID))
	}
	acc := byGID[acceptedGID]
	if acc["external_id"] != primeroCaseID || acc["status"] != "Accepted" || acc["given_name"] != "Aicha" {
		t.Fatalf("accepted client: %v", acc)
	}
	ngo := byGID[ngoGID]
	if ngo["external_id"] != newCase["case_id"] || ngo["resource"] != "primero" {
		t.Fatalf("NGO client not linked: %v", ngo)
	}
	if ngo["updated_at"] != start.Format(time.RFC3339Nano) {
		t.Fatalf("update_links touched the NGO client: %v", ngo["updated_at"])
	}
	refs := os.Referrals()
	if len(refs) != 2 || refs[1]["accepted"] != true || refs[1]["external_id"] != primeroCaseID {
		t.Fatalf("OSCaR referrals: %v", refs)
	}
}
