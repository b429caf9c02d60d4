package dhis2

import (
	"testing"
)

func TestLegacyTEIImport(t *testing.T) {
	s := startSim(t, Options{Version: "2.40"})
	r := post(t, s, "/api/trackedEntityInstances", readShared(t, "docs-legacy-tei-enrollment-event.json"))
	if r.code != 200 || at(r.body, "status") != "OK" {
		t.Fatalf("HTTP %d %s", r.code, r.raw)
	}
	assertShape(t, "TEI import summaries", sharedJSON(t, "adapter-legacy-tei-create-importsummaries.json"), r.body)
	sum := at(r.body, "response", "importSummaries", 0)
	if at(sum, "status") != "SUCCESS" || num(at(sum, "importCount", "imported")) != 1 || !validUID(at(sum, "reference").(string)) {
		t.Errorf("summary %v", sum)
	}
	ens := at(sum, "enrollments")
	if num(at(ens, "imported")) != 1 || num(at(ens, "importSummaries", 0, "events", "imported")) != 2 {
		t.Errorf("nested summaries %v", ens)
	}
	if len(s.TrackedEntities()) != 1 || len(s.Enrollments()) != 1 || len(s.Events()) != 2 {
		t.Errorf("stored %d/%d/%d", len(s.TrackedEntities()), len(s.Enrollments()), len(s.Events()))
	}
	// Old names were mapped: eventDate → occurredAt, enrollmentDate → enrolledAt.
	if strv(s.Events()[0], "occurredAt") != "2017-10-17" || strv(s.Enrollments()[0], "enrolledAt") != "2017-09-15" {
		t.Errorf("renames: %v %v", s.Events()[0], s.Enrollments()[0])
	}

	// Legacy query response: same shape as the docs example, except the
	// pre-2.30 fields (trackedEntity as type, attribute "type"/"code").
	q := get(t, s, "/api/trackedEntityInstances?ou=DiszpKrYNg8&program=ur1Edk5Oe2n")
	assertShape(t, "TEI query", sharedJSON(t, "docs-legacy-tei-query-response.json"), q.body,
		"trackedEntityInstances[].trackedEntity", "trackedEntityInstances[].attributes[].type", "trackedEntityInstances[].attributes[].code")
	if r := get(t, s, "/api/trackedEntityInstances"); r.code != 409 {
		t.Errorf("no org unit: %d", r.code)
	}
}

func TestLegacyEventsImport(t *testing.T) {
	s := startSim(t, Options{Version: "2.39"})
	r := post(t, s, "/api/events", readShared(t, "docs-legacy-event-single.json"))
	if r.code != 200 || num(at(r.body, "response", "imported")) != 2 || at(r.body, "response", "responseType") != "ImportSummaries" {
		t.Fatalf("HTTP %d %s", r.code, r.raw)
	}
	if len(s.Events()) != 2 {
		t.Errorf("stored %d", len(s.Events()))
	}
	// Enrollment import answers per-enrollment summaries with nested event
	// summaries, like the adapter's fixture.
	syncTracker(t, s, "", map[string]any{"trackedEntities": []any{person("LegacyTe001", "w75KJ2mc4zz", "A")}})
	r = post(t, s, "/api/enrollments", map[string]any{"trackedEntityInstance": "LegacyTe001", "program": "IpHINAT79UW", "orgUnit": "DiszpKrYNg8",
		"enrollmentDate": "2024-01-01", "events": []any{map[string]any{"programStage": "A03MvHHogjR", "orgUnit": "DiszpKrYNg8", "eventDate": "2024-01-02"}}})
	if r.code != 200 {
		t.Fatalf("%d %s", r.code, r.raw)
	}
	assertShape(t, "enrollment summaries", sharedJSON(t, "adapter-legacy-events-create-importsummaries.json"), r.body)

	// A failing item: 409 with status WARNING when others succeeded.
	r = post(t, s, "/api/events", map[string]any{"events": []any{
		map[string]any{"program": "eBAyeGv0exc", "orgUnit": "DiszpKrYNg8", "eventDate": "2013-05-17"},
		map[string]any{"program": "eBAyeGv0exc", "orgUnit": "NoSuchOrgUn", "eventDate": "2013-05-17"},
	}})
	if r.code != 409 || at(r.body, "status") != "WARNING" || num(at(r.body, "response", "ignored")) != 1 || num(at(r.body, "response", "imported")) != 1 {
		t.Errorf("partial: %d %s", r.code, r.raw)
	}
	if at(r.body, "response", "importSummaries", 1, "conflicts", 0, "value") == nil {
		t.Errorf("no conflict on failed item: %s", r.raw)
	}
}

func TestLegacyGoneIn242(t *testing.T) {
	s := startSim(t, Options{Version: "2.42"})
	if r := post(t, s, "/api/events", readShared(t, "docs-legacy-event-single.json")); r.code != 404 {
		t.Errorf("2.42 legacy: %d", r.code)
	}
}
