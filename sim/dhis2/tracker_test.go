package dhis2

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func stats(v any) [5]int {
	return [5]int{num(at(v, "created")), num(at(v, "updated")), num(at(v, "deleted")), num(at(v, "ignored")), num(at(v, "total"))}
}

func errorCodes(rep any) []string {
	var out []string
	list, _ := at(rep, "validationReport", "errorReports").([]any)
	for _, e := range list {
		out = append(out, at(e, "errorCode").(string))
	}
	return out
}

func syncTracker(t *testing.T, s *Server, query string, body any) resp {
	t.Helper()
	path := "/api/tracker?async=false"
	if query != "" {
		path += "&" + strings.TrimPrefix(query, "?")
	}
	return post(t, s, path, body)
}

func TestTrackerDocsNestedPayload(t *testing.T) {
	s := startSim(t, Options{})
	r := syncTracker(t, s, "", readShared(t, "docs-tracker-nested-payload.json"))
	if r.code != 200 || at(r.body, "status") != "OK" {
		t.Fatalf("HTTP %d %s", r.code, r.raw)
	}
	assertShape(t, "import report", sharedJSON(t, "docs-tracker-import-report.json"), r.body)
	if st := stats(at(r.body, "stats")); st != [5]int{3, 0, 0, 0, 3} {
		t.Errorf("stats %v", st)
	}
	for _, typ := range trackerTypes {
		want := 1
		if typ == typeREL {
			want = 0
		}
		if st := stats(at(r.body, "bundleReport", "typeReportMap", typ, "stats")); st[0] != want {
			t.Errorf("%s stats %v", typ, st)
		}
	}
	// Server UIDs were minted and children linked to parents.
	tes, ens, evs := s.TrackedEntities(), s.Enrollments(), s.Events()
	if len(tes) != 1 || len(ens) != 1 || len(evs) != 1 {
		t.Fatalf("stored %d/%d/%d", len(tes), len(ens), len(evs))
	}
	te := strv(tes[0], "trackedEntity")
	if !validUID(te) || strv(ens[0], "trackedEntity") != te || strv(evs[0], "enrollment") != strv(ens[0], "enrollment") || strv(evs[0], "trackedEntity") != te {
		t.Errorf("links: te=%v en=%v ev=%v", tes[0], ens[0], evs[0])
	}
	if got := at(r.body, "bundleReport", "typeReportMap", typeTE, "objectReports", 0, "uid"); got != te {
		t.Errorf("object report uid %v, want %s", got, te)
	}
	// Program attributes posted on the enrollment land on the TE.
	if n := len(listOf(tes[0], "attributes")); n != 2 {
		t.Errorf("TE attributes %v", tes[0]["attributes"])
	}
}

func TestTrackerFlatAndNestedAgree(t *testing.T) {
	for _, mode := range []string{"ALL", "OBJECT"} {
		var reports []any
		for _, f := range []string{"tracker-import-flat.json", "tracker-import-nested.json"} {
			s := startSim(t, Options{})
			r := syncTracker(t, s, "atomicMode="+mode, readShared(t, f))
			// The events carry no occurredAt: E1031 for both.
			if r.code != 409 || at(r.body, "status") != "ERROR" {
				t.Fatalf("%s %s: HTTP %d %s", mode, f, r.code, r.raw)
			}
			if got := fmt.Sprint(errorCodes(r.body)); got != "[E1031 E1031]" {
				t.Errorf("%s %s: errors %s", mode, f, got)
			}
			switch mode {
			case "ALL":
				if st := stats(at(r.body, "stats")); st != [5]int{0, 0, 0, 9, 9} || len(s.TrackedEntities()) != 0 {
					t.Errorf("%s %s: stats %v, %d TEs stored", mode, f, st, len(s.TrackedEntities()))
				}
			case "OBJECT":
				if st := stats(at(r.body, "stats")); st != [5]int{7, 0, 0, 2, 9} {
					t.Errorf("%s %s: stats %v", mode, f, st)
				}
				if len(s.TrackedEntities()) != 3 || len(s.Enrollments()) != 2 || len(s.Events()) != 0 || len(s.Relationships()) != 2 {
					t.Errorf("%s %s: stored %d/%d/%d/%d", mode, f, len(s.TrackedEntities()), len(s.Enrollments()), len(s.Events()), len(s.Relationships()))
				}
			}
			b, _ := json.Marshal(at(r.body, "stats"))
			reports = append(reports, string(b)+fmt.Sprint(errorCodes(r.body)))
		}
		if reports[0] != reports[1] {
			t.Errorf("%s: flat %v != nested %v", mode, reports[0], reports[1])
		}
	}
}

func TestTrackerEventProgramPayload(t *testing.T) {
	s := startSim(t, Options{})
	r := syncTracker(t, s, "", readShared(t, "tracker-events.json"))
	if r.code != 200 || stats(at(r.body, "stats")) != [5]int{4, 0, 0, 0, 4} {
		t.Fatalf("HTTP %d %s", r.code, r.raw)
	}
	evs := s.Events()
	if len(evs) != 4 || strv(evs[0], "event") != "uairHTqZ5ye" || len(listOf(evs[0], "dataValues")) != 5 {
		t.Errorf("events %v", evs)
	}
	// Re-post: CREATE_AND_UPDATE updates; CREATE fails with E1030.
	r = syncTracker(t, s, "importStrategy=CREATE_AND_UPDATE", readShared(t, "tracker-events.json"))
	if stats(at(r.body, "stats")) != [5]int{0, 4, 0, 0, 4} || len(s.Events()) != 4 {
		t.Errorf("rerun: %s", r.raw)
	}
	r = syncTracker(t, s, "importStrategy=CREATE", readShared(t, "tracker-events.json"))
	if r.code != 409 || fmt.Sprint(errorCodes(r.body)) != "[E1030 E1030 E1030 E1030]" {
		t.Errorf("create on existing: %s", r.raw)
	}
	if msg := at(r.body, "validationReport", "errorReports", 0, "message"); msg != "Event: `uairHTqZ5ye` already exists." {
		t.Errorf("message %v", msg)
	}
	// DELETE with only UIDs.
	r = syncTracker(t, s, "importStrategy=DELETE", `{"events":[{"event":"uairHTqZ5ye"},{"event":"lwBnlOXhd9P"}]}`)
	if stats(at(r.body, "stats")) != [5]int{0, 0, 2, 0, 2} || len(s.Events()) != 2 {
		t.Errorf("delete: %s", r.raw)
	}
	r = syncTracker(t, s, "importStrategy=UPDATE", `{"events":[{"event":"uairHTqZ5ye","programStage":"jKLB23QZS4I","orgUnit":"O6uvpzGd5pu","occurredAt":"2019-01-01"}]}`)
	if fmt.Sprint(errorCodes(r.body)) != "[E1032]" {
		t.Errorf("update missing: %s", r.raw)
	}
}

func person(uid string, attrs ...string) map[string]any {
	var as []any
	for i := 0; i+1 < len(attrs); i += 2 {
		if attrs[i+1] == "<null>" {
			as = append(as, map[string]any{"attribute": attrs[i], "value": nil})
			continue
		}
		as = append(as, map[string]any{"attribute": attrs[i], "value": attrs[i+1]})
	}
	te := map[string]any{"trackedEntityType": "nEenWmSyUEp", "orgUnit": "DiszpKrYNg8", "attributes": as}
	if uid != "" {
		te["trackedEntity"] = uid
	}
	return te
}

func enrollment(uid, te string) map[string]any {
	return map[string]any{"enrollment": uid, "trackedEntity": te, "program": "IpHINAT79UW", "orgUnit": "DiszpKrYNg8", "enrolledAt": "2024-01-10T00:00:00.000", "occurredAt": "2024-01-09"}
}

func TestTrackerUpsertAndAttributes(t *testing.T) {
	s := startSim(t, Options{})
	payload := map[string]any{"trackedEntities": []any{person("PQfMcpmXeFE", "w75KJ2mc4zz", "Jane", "zDhUuAYrxNC", "Doe")},
		"enrollments": []any{enrollment("EnrPQfMcpmX", "PQfMcpmXeFE")}}
	r := syncTracker(t, s, "", payload)
	if stats(at(r.body, "stats")) != [5]int{2, 0, 0, 0, 2} {
		t.Fatalf("first: %s", r.raw)
	}
	r = syncTracker(t, s, "", payload)
	if stats(at(r.body, "stats")) != [5]int{0, 2, 0, 0, 2} || len(s.TrackedEntities()) != 1 {
		t.Fatalf("rerun: %s", r.raw)
	}
	// null deletes an attribute value; other values are kept.
	r = syncTracker(t, s, "", map[string]any{"trackedEntities": []any{person("PQfMcpmXeFE", "zDhUuAYrxNC", "<null>", "cejWyOfXge6", "Female")}})
	if r.code != 200 {
		t.Fatalf("%s", r.raw)
	}
	got := map[string]string{}
	for _, a := range listOf(s.TrackedEntities()[0], "attributes") {
		got[strv(a, "attribute")] = strv(a, "value")
	}
	if fmt.Sprint(got) != "map[cejWyOfXge6:Female w75KJ2mc4zz:Jane]" {
		t.Errorf("attributes after update %v", got)
	}
	if r := syncTracker(t, s, "importStrategy=CREATE", map[string]any{"trackedEntities": []any{person("PQfMcpmXeFE")}}); fmt.Sprint(errorCodes(r.body)) != "[E1002]" {
		t.Errorf("create existing: %s", r.raw)
	}
	if r := syncTracker(t, s, "importStrategy=UPDATE", map[string]any{"trackedEntities": []any{person("NewNewNew01")}}); fmt.Sprint(errorCodes(r.body)) != "[E1063]" {
		t.Errorf("update missing: %s", r.raw)
	}
	if r := syncTracker(t, s, "importStrategy=CREATE", map[string]any{"enrollments": []any{enrollment("EnrPQfMcpmX", "PQfMcpmXeFE")}}); fmt.Sprint(errorCodes(r.body)) != "[E1080]" {
		t.Errorf("create existing enrollment: %s", r.raw)
	}
	if r := syncTracker(t, s, "importStrategy=UPDATE", map[string]any{"enrollments": []any{enrollment("EnrMissing1", "PQfMcpmXeFE")}}); fmt.Sprint(errorCodes(r.body)) != "[E1081]" {
		t.Errorf("update missing enrollment: %s", r.raw)
	}
	// A second active enrollment in the same program.
	if r := syncTracker(t, s, "", map[string]any{"enrollments": []any{enrollment("EnrSecond01", "PQfMcpmXeFE")}}); fmt.Sprint(errorCodes(r.body)) != "[E1015]" {
		t.Errorf("double enrollment: %s", r.raw)
	}
	// Deleting the TE cascades.
	r = syncTracker(t, s, "importStrategy=DELETE", `{"trackedEntities":[{"trackedEntity":"PQfMcpmXeFE"}]}`)
	if stats(at(r.body, "stats")) != [5]int{0, 0, 1, 0, 1} || len(s.TrackedEntities())+len(s.Enrollments()) != 0 {
		t.Errorf("delete: %s", r.raw)
	}
}

func TestTrackerValidationErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload map[string]any
		code    string
		typ     string
		message string
	}{
		{"invalid uid", map[string]any{"trackedEntities": []any{person("invalid_uid")}}, "E1048", typeTE, "Object: `invalid_uid`, uid: `invalid_uid`, has an invalid uid format."},
		{"uid starting with digit", map[string]any{"trackedEntities": []any{person("1bcdefghijk")}}, "E1048", typeTE, ""},
		{"unknown TE type", map[string]any{"trackedEntities": []any{map[string]any{"trackedEntity": "Kj6vYde4LHh", "trackedEntityType": "Q9GufDoplCL", "orgUnit": "DiszpKrYNg8"}}}, "E1005", typeTE, "Could not find TrackedEntityType: `Q9GufDoplCL`."},
		{"unknown TE org unit", map[string]any{"trackedEntities": []any{map[string]any{"trackedEntity": "Kj6vYde4LHh", "trackedEntityType": "nEenWmSyUEp", "orgUnit": "NoOrgUnit01"}}}, "E1049", typeTE, "Could not find OrganisationUnit: `NoOrgUnit01` linked to TrackedEntity."},
		{"missing TE org unit", map[string]any{"trackedEntities": []any{map[string]any{"trackedEntity": "Kj6vYde4LHh", "trackedEntityType": "nEenWmSyUEp"}}}, "E1121", typeTE, "Missing required trackedEntity property: `orgUnit`."},
		{"unknown attribute", map[string]any{"trackedEntities": []any{person("Kj6vYde4LHh", "NoAttribute", "x")}}, "E1006", typeTE, "Attribute: `NoAttribute` does not exist."},
		{"attribute value type", map[string]any{"trackedEntities": []any{person("Kj6vYde4LHh", "iESIqZ0R0R0", "not a date")}}, "E1007", typeTE, "Error validating attribute value type: `iESIqZ0R0R0`; Error: `value_not_valid_date`."},
		{"attribute option", map[string]any{"trackedEntities": []any{person("Kj6vYde4LHh", "cejWyOfXge6", "Other")}}, "E1125", typeTE, "Value `Other` is not a valid option code in OptionSet `jRbMi0aBjYn`."},
		{"unique attribute in payload", map[string]any{"trackedEntities": []any{person("Kj6vYde4LHh", "lZGmxYbs97q", "ID-1"), person("Kj6vYde4LHi", "lZGmxYbs97q", "ID-1")}}, "E1064", typeTE, "Non-unique attribute value `ID-1` for attribute `lZGmxYbs97q`."},
		{"unknown program", map[string]any{"trackedEntities": []any{person("Kj6vYde4LHh")}, "enrollments": []any{map[string]any{"enrollment": "EnrKj6vYde4", "trackedEntity": "Kj6vYde4LHh", "program": "NoProgram01", "orgUnit": "DiszpKrYNg8", "enrolledAt": "2024-01-01"}}}, "E1069", typeEN, "Could not find Program: `NoProgram01` linked to Enrollment."},
		{"unknown enrollment org unit", map[string]any{"trackedEntities": []any{person("Kj6vYde4LHh", "w75KJ2mc4zz", "A")}, "enrollments": []any{map[string]any{"enrollment": "EnrKj6vYde4", "trackedEntity": "Kj6vYde4LHh", "program": "IpHINAT79UW", "orgUnit": "NoOrgUnit01", "enrolledAt": "2024-01-01"}}}, "E1070", typeEN, ""},
		{"mandatory program attribute", map[string]any{"trackedEntities": []any{person("Kj6vYde4LHh")}, "enrollments": []any{enrollment("EnrKj6vYde4", "Kj6vYde4LHh")}}, "E1018", typeEN, "Attribute: `w75KJ2mc4zz` is mandatory in Program `IpHINAT79UW` but not declared in Enrollment `EnrKj6vYde4`."},
		{"enrolledAt missing", map[string]any{"trackedEntities": []any{person("Kj6vYde4LHh", "w75KJ2mc4zz", "A")}, "enrollments": []any{map[string]any{"enrollment": "EnrKj6vYde4", "trackedEntity": "Kj6vYde4LHh", "program": "IpHINAT79UW", "orgUnit": "DiszpKrYNg8"}}}, "E1025", typeEN, "Property enrolledAt is null."},
		{"enrolledAt in future", map[string]any{"trackedEntities": []any{person("Kj6vYde4LHh", "w75KJ2mc4zz", "A")}, "enrollments": []any{map[string]any{"enrollment": "EnrKj6vYde4", "trackedEntity": "Kj6vYde4LHh", "program": "IpHINAT79UW", "orgUnit": "DiszpKrYNg8", "enrolledAt": "2030-01-01"}}}, "E1020", typeEN, ""},
		{"enrollment into event program", map[string]any{"trackedEntities": []any{person("Kj6vYde4LHh")}, "enrollments": []any{map[string]any{"enrollment": "EnrKj6vYde4", "trackedEntity": "Kj6vYde4LHh", "program": "Zd2rkv8FsWq", "orgUnit": "DiszpKrYNg8", "enrolledAt": "2024-01-01"}}}, "E1014", typeEN, ""},
		{"TE type mismatch", map[string]any{"trackedEntities": []any{person("Kj6vYde4LHh")}, "enrollments": []any{map[string]any{"enrollment": "EnrKj6vYde4", "trackedEntity": "Kj6vYde4LHh", "program": "XrZRFi7rU9e", "orgUnit": "DiszpKrYNg8", "enrolledAt": "2024-01-01"}}}, "E1022", typeEN, ""},
		{"unknown TE for enrollment", map[string]any{"enrollments": []any{enrollment("EnrKj6vYde4", "NoTrackedEn")}}, "E1068", typeEN, "Could not find TrackedEntity: `NoTrackedEn` linked to Enrollment."},
		{"unknown stage", map[string]any{"events": []any{map[string]any{"event": "EvKj6vYde4L", "programStage": "NoStage0001", "orgUnit": "DiszpKrYNg8", "occurredAt": "2024-01-01"}}}, "E1013", typeEV, "Could not find ProgramStage: `NoStage0001`, linked to Event."},
		{"unknown event org unit", map[string]any{"events": []any{map[string]any{"event": "EvKj6vYde4L", "programStage": "jKLB23QZS4I", "orgUnit": "NoOrgUnit01", "occurredAt": "2024-01-01"}}}, "E1011", typeEV, "Could not find OrganisationUnit: `NoOrgUnit01`, linked to Event."},
		{"stage of another program", map[string]any{"events": []any{map[string]any{"event": "EvKj6vYde4L", "program": "eBAyeGv0exc", "programStage": "jKLB23QZS4I", "orgUnit": "DiszpKrYNg8", "occurredAt": "2024-01-01"}}}, "E1089", typeEV, ""},
		{"tracker event without enrollment", map[string]any{"events": []any{map[string]any{"event": "EvKj6vYde4L", "programStage": "A03MvHHogjR", "orgUnit": "DiszpKrYNg8", "occurredAt": "2024-01-01"}}}, "E1033", typeEV, "Event: `EvKj6vYde4L` Enrollment value is null."},
		{"unknown data element", map[string]any{"events": []any{map[string]any{"event": "EvKj6vYde4L", "programStage": "jKLB23QZS4I", "orgUnit": "DiszpKrYNg8", "occurredAt": "2024-01-01", "dataValues": []any{map[string]any{"dataElement": "NoElement01", "value": "1"}}}}}, "E1304", typeEV, "DataElement `NoElement01` is not a valid DataElement."},
		{"data element not in stage", map[string]any{"events": []any{map[string]any{"event": "EvKj6vYde4L", "programStage": "jKLB23QZS4I", "orgUnit": "DiszpKrYNg8", "occurredAt": "2024-01-01", "dataValues": []any{map[string]any{"dataElement": "qrur9Dvnyt5", "value": "1"}}}}}, "E1305", typeEV, ""},
		{"data value type", map[string]any{"events": []any{map[string]any{"event": "EvKj6vYde4L", "programStage": "jKLB23QZS4I", "orgUnit": "DiszpKrYNg8", "occurredAt": "2024-01-01", "dataValues": []any{map[string]any{"dataElement": "BuZ5LGNfGEU", "value": "many"}}}}}, "E1302", typeEV, "DataElement `BuZ5LGNfGEU` is not valid: `value_not_numeric`"},
		{"schedule without scheduledAt", map[string]any{"events": []any{map[string]any{"event": "EvKj6vYde4L", "programStage": "jKLB23QZS4I", "orgUnit": "DiszpKrYNg8", "occurredAt": "2024-01-01", "status": "SCHEDULE"}}}, "E1050", typeEV, ""},
		{"unknown relationship type", map[string]any{"trackedEntities": []any{person("Kj6vYde4LHh"), person("Kj6vYde4LHi")}, "relationships": []any{map[string]any{"relationship": "RelKj6vYde4", "relationshipType": "NoRelType01", "from": map[string]any{"trackedEntity": "Kj6vYde4LHh"}, "to": map[string]any{"trackedEntity": "Kj6vYde4LHi"}}}}, "E4006", typeREL, "Could not find RelationshipType: `NoRelType01`."},
		{"relationship to nowhere", map[string]any{"trackedEntities": []any{person("Kj6vYde4LHh")}, "relationships": []any{map[string]any{"relationship": "RelKj6vYde4", "relationshipType": "A4ORFi7rReL", "from": map[string]any{"trackedEntity": "Kj6vYde4LHh"}, "to": map[string]any{"trackedEntity": map[string]any{"trackedEntity": "Nowhere0001"}}}}}, "E4012", typeREL, "Could not find `trackedEntity`: `Nowhere0001`, linked to relationship."},
		{"relationship to itself", map[string]any{"trackedEntities": []any{person("Kj6vYde4LHh")}, "relationships": []any{map[string]any{"relationship": "RelKj6vYde4", "relationshipType": "A4ORFi7rReL", "from": map[string]any{"trackedEntity": "Kj6vYde4LHh"}, "to": map[string]any{"trackedEntity": "Kj6vYde4LHh"}}}}, "E4000", typeREL, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startSim(t, Options{})
			r := syncTracker(t, s, "", tc.payload)
			if r.code != 409 || at(r.body, "status") != "ERROR" {
				t.Fatalf("HTTP %d %s", r.code, r.raw)
			}
			e := at(r.body, "validationReport", "errorReports", 0)
			if at(e, "errorCode") != tc.code || at(e, "trackerType") != tc.typ || (tc.message != "" && at(e, "message") != tc.message) {
				t.Errorf("error report %v", e)
			}
			// atomicMode=ALL: nothing stored, no bundle report.
			if len(s.TrackedEntities())+len(s.Enrollments())+len(s.Events())+len(s.Relationships()) != 0 {
				t.Error("ALL mode stored objects")
			}
			if _, ok := r.obj(t)["bundleReport"]; ok {
				t.Error("bundleReport present after ALL-mode failure")
			}
		})
	}
}

func TestTrackerDependentObjectsFail(t *testing.T) {
	s := startSim(t, Options{})
	r := syncTracker(t, s, "atomicMode=OBJECT", map[string]any{"trackedEntities": []any{
		map[string]any{"trackedEntity": "BadTEbadTE1", "trackedEntityType": "nope", "orgUnit": "DiszpKrYNg8",
			"enrollments": []any{map[string]any{"enrollment": "BadEnrolmen", "program": "IpHINAT79UW", "orgUnit": "DiszpKrYNg8", "enrolledAt": "2024-01-01"}}},
		person("GoodTEgood1")}})
	if fmt.Sprint(errorCodes(r.body)) != "[E1005 E5000]" || stats(at(r.body, "stats")) != [5]int{1, 0, 0, 2, 3} {
		t.Errorf("%s", r.raw)
	}
	if len(s.TrackedEntities()) != 1 {
		t.Errorf("stored %v", s.TrackedEntities())
	}
}

func TestTrackerUniqueAgainstStore(t *testing.T) {
	s := startSim(t, Options{})
	syncTracker(t, s, "", map[string]any{"trackedEntities": []any{person("Kj6vYde4LHh", "lZGmxYbs97q", "ID-1")}})
	r := syncTracker(t, s, "", map[string]any{"trackedEntities": []any{person("Kj6vYde4LHi", "lZGmxYbs97q", "ID-1")}})
	if fmt.Sprint(errorCodes(r.body)) != "[E1064]" {
		t.Errorf("%s", r.raw)
	}
	// Re-posting the holder itself is fine.
	if r := syncTracker(t, s, "", map[string]any{"trackedEntities": []any{person("Kj6vYde4LHh", "lZGmxYbs97q", "ID-1")}}); r.code != 200 {
		t.Errorf("%s", r.raw)
	}
}

func TestTrackerValidateMode(t *testing.T) {
	s := startSim(t, Options{})
	r := syncTracker(t, s, "importMode=VALIDATE", readShared(t, "docs-tracker-nested-payload.json"))
	if r.code != 200 || at(r.body, "status") != "OK" || len(s.TrackedEntities()) != 0 {
		t.Errorf("%d %s", r.code, r.raw)
	}
	r = syncTracker(t, s, "importMode=VALIDATE&atomicMode=OBJECT", readShared(t, "tracker-import-flat.json"))
	if r.code != 409 || stats(at(r.body, "stats"))[3] != 2 || len(s.TrackedEntities()) != 0 {
		t.Errorf("%d %s", r.code, r.raw)
	}
}

func TestTrackerReportModes(t *testing.T) {
	s := startSim(t, Options{})
	r := syncTracker(t, s, "reportMode=FULL", readShared(t, "tracker-events.json"))
	if _, ok := r.obj(t)["timingsStats"]; !ok {
		t.Error("FULL without timingsStats")
	}
	r = syncTracker(t, s, "", readShared(t, "tracker-events.json"))
	if _, ok := r.obj(t)["timingsStats"]; ok {
		t.Error("ERRORS with timingsStats")
	}
}

func TestTrackerAsync(t *testing.T) {
	for _, polls := range []int{0, 2} {
		t.Run(fmt.Sprint("polls=", polls), func(t *testing.T) {
			s := startSim(t, Options{JobPolls: polls})
			// async is the default.
			r := post(t, s, "/api/tracker", readShared(t, "docs-tracker-nested-payload.json"))
			if r.code != 200 {
				t.Fatalf("HTTP %d %s", r.code, r.raw)
			}
			assertShape(t, "async", sharedJSON(t, "docs-tracker-async-response.json"), r.body)
			id := at(r.body, "response", "id").(string)
			if loc := at(r.body, "response", "location"); loc != s.URL()+"/api/tracker/jobs/"+id {
				t.Errorf("location %v", loc)
			}
			for i := 0; i < polls-1; i++ {
				if rep := get(t, s, "/api/tracker/jobs/"+id+"/report"); rep.code != 404 {
					t.Errorf("report before completion: %d", rep.code)
				}
				n := get(t, s, "/api/tracker/jobs/"+id)
				if at(n.body, 0, "completed") != false || at(n.body, 0, "category") != "TRACKER_IMPORT_JOB" {
					t.Errorf("notifications %s", n.raw)
				}
			}
			n := get(t, s, "/api/tracker/jobs/"+id)
			if at(n.body, 0, "completed") != true || at(n.body, 0, "message") != "Import complete with status OK, 3 created, 0 updated, 0 deleted, 0 ignored" {
				t.Errorf("final notification %s", n.raw)
			}
			rep := get(t, s, "/api/tracker/jobs/"+id+"/report")
			if rep.code != 200 {
				t.Fatalf("report: %d", rep.code)
			}
			assertShape(t, "report", sharedJSON(t, "docs-tracker-import-report.json"), rep.body)
			if len(s.TrackedEntities()) != 1 {
				t.Errorf("stored %d", len(s.TrackedEntities()))
			}
			s.EvictJobs()
			if rep := get(t, s, "/api/tracker/jobs/"+id+"/report"); rep.code != 404 {
				t.Errorf("evicted report: %d", rep.code)
			}
		})
	}
	s := startSim(t, Options{})
	if r := get(t, s, "/api/tracker/jobs/Unknown0001/report"); r.code != 404 || at(r.body, "httpStatusCode") == nil {
		t.Errorf("unknown job report: %d %s", r.code, r.raw)
	}
}

func TestTrackerExportEnvelopes(t *testing.T) {
	for _, tc := range []struct {
		version string
		pager   bool
	}{{"2.38", false}, {"2.40", false}, {"2.41", true}} {
		t.Run(tc.version, func(t *testing.T) {
			s := startSim(t, Options{Version: tc.version})
			var tes []any
			for i := 0; i < 5; i++ {
				tes = append(tes, person(fmt.Sprintf("TePerson%03d", i), "w75KJ2mc4zz", fmt.Sprint("Name", i), "lZGmxYbs97q", fmt.Sprint("ID-", i)))
			}
			if r := syncTracker(t, s, "", map[string]any{"trackedEntities": tes}); r.code != 200 {
				t.Fatalf("%s", r.raw)
			}
			r := get(t, s, "/api/tracker/trackedEntities?trackedEntityType=nEenWmSyUEp&orgUnit=DiszpKrYNg8&pageSize=2&page=2&totalPages=true")
			if r.code != 200 {
				t.Fatalf("%d %s", r.code, r.raw)
			}
			var list []any
			if tc.pager {
				list, _ = at(r.body, "trackedEntities").([]any)
				if num(at(r.body, "pager", "page")) != 2 || num(at(r.body, "pager", "pageSize")) != 2 || num(at(r.body, "pager", "total")) != 5 || num(at(r.body, "pager", "pageCount")) != 3 {
					t.Errorf("pager %s", r.raw)
				}
				if _, ok := r.obj(t)["instances"]; ok {
					t.Error("2.41 answered instances")
				}
			} else {
				list, _ = at(r.body, "instances").([]any)
				if num(at(r.body, "page")) != 2 || num(at(r.body, "pageSize")) != 2 || num(at(r.body, "total")) != 5 {
					t.Errorf("paging %s", r.raw)
				}
			}
			if len(list) != 2 || at(list[0], "trackedEntity") != "TePerson002" {
				t.Errorf("page 2: %v", list)
			}
			// Attribute filter; paging=false.
			r = get(t, s, "/api/tracker/trackedEntities?trackedEntityType=nEenWmSyUEp&ouMode=ALL&filter=lZGmxYbs97q:eq:ID-3&paging=false")
			key := "instances"
			if tc.pager {
				key = "trackedEntities"
			}
			if l, _ := at(r.body, key).([]any); len(l) != 1 || at(l[0], "trackedEntity") != "TePerson003" {
				t.Errorf("filter: %s", r.raw)
			}
			if r := get(t, s, "/api/tracker/trackedEntities?orgUnit=DiszpKrYNg8"); r.code != 400 {
				t.Errorf("no program or type: %d", r.code)
			}
			if r := get(t, s, "/api/tracker/trackedEntities?trackedEntityType=nEenWmSyUEp&filter=lZGmxYbs97q:zz:1"); r.code != 400 {
				t.Errorf("bad filter: %d", r.code)
			}
			if r := get(t, s, "/api/tracker/trackedEntities/TePerson001"); r.code != 200 || at(r.body, "trackedEntity") != "TePerson001" {
				t.Errorf("single: %s", r.raw)
			}
			if r := get(t, s, "/api/tracker/trackedEntities/Nope0000001"); r.code != 404 {
				t.Errorf("missing single: %d", r.code)
			}
			// ouMode=DESCENDANTS from the root finds them.
			r = get(t, s, "/api/tracker/trackedEntities?trackedEntityType=nEenWmSyUEp&orgUnit=ImspTQPwCqd&ouMode=DESCENDANTS&paging=false")
			if l, _ := at(r.body, key).([]any); len(l) != 5 {
				t.Errorf("descendants: %s", r.raw)
			}
		})
	}
}

func TestTrackerExportNested(t *testing.T) {
	s := startSim(t, Options{Version: "2.41"})
	syncTracker(t, s, "", readShared(t, "docs-tracker-nested-payload.json"))
	r := get(t, s, "/api/tracker/trackedEntities?program=IpHINAT79UW&orgUnit=y77LiPqLMoq&fields=*")
	te := at(r.body, "trackedEntities", 0)
	if at(te, "enrollments", 0, "events", 0, "programStage") != "A03MvHHogjR" || len(at(te, "enrollments", 0, "attributes").([]any)) != 2 {
		t.Errorf("nested export %s", r.raw)
	}
	r = get(t, s, "/api/tracker/events?program=IpHINAT79UW")
	if l := at(r.body, "events").([]any); len(l) != 1 || at(l[0], "dataValues", 0, "value") != "true" {
		t.Errorf("events %s", r.raw)
	}
	r = get(t, s, "/api/tracker/enrollments?program=IpHINAT79UW")
	if l := at(r.body, "enrollments").([]any); len(l) != 1 || at(l[0], "status") != "ACTIVE" {
		t.Errorf("enrollments %s", r.raw)
	}
}

// TestTrackerExportUpdatedWindow: updatedAfter/updatedBefore select by
// updatedAt, inclusively, for tracked entities and events; a bad date is 400.
func TestTrackerExportUpdatedWindow(t *testing.T) {
	now := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	s := startSim(t, Options{Version: "2.41", Now: func() time.Time { return now }})
	for i, at := range []time.Time{now, now.Add(time.Hour), now.Add(2 * time.Hour)} {
		now = at
		te := person(fmt.Sprintf("TeWindow%03d", i), "w75KJ2mc4zz", fmt.Sprint("Name", i), "lZGmxYbs97q", fmt.Sprint("W-", i))
		if r := syncTracker(t, s, "", map[string]any{"trackedEntities": []any{te}}); r.code != 200 {
			t.Fatalf("%s", r.raw)
		}
	}
	base := "/api/tracker/trackedEntities?trackedEntityType=nEenWmSyUEp&ouMode=ALL&paging=false"
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{"TeWindow000", "TeWindow001", "TeWindow002"}},
		{"&updatedAfter=2025-03-01T11:00:00.000", []string{"TeWindow001", "TeWindow002"}},
		{"&updatedAfter=2025-03-01T11:00:00.001", []string{"TeWindow002"}},
		{"&updatedBefore=2025-03-01T11:00:00", []string{"TeWindow000", "TeWindow001"}},
		{"&updatedAfter=2025-03-01T10:30:00&updatedBefore=2025-03-01T11:30:00", []string{"TeWindow001"}},
		{"&updatedAfter=2025-03-02", nil},
	} {
		r := get(t, s, base+tc.query)
		var got []string
		list, _ := at(r.body, "trackedEntities").([]any)
		for _, te := range list {
			got = append(got, at(te, "trackedEntity").(string))
		}
		if r.code != 200 || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %d %v, want %v", tc.query, r.code, got, tc.want)
		}
	}
	if r := get(t, s, base+"&updatedAfter=yesterday"); r.code != 400 || !strings.Contains(string(r.raw), "updatedAfter") {
		t.Errorf("bad date: %d %s", r.code, r.raw)
	}
}
