package fhir

import (
	"bytes"
	"encoding/json"
	"testing"
)

// DHIS2 payloads decode into the DHIS2 types and re-encode without loss.
func TestDHIS2TypesRoundTrip(t *testing.T) {
	cases := []struct {
		file   string
		target func() any
	}{
		{"datavalueset-single-dataset.json", func() any { return new(DataValueSet) }}, // has completedDate (kept in Extra)
		{"datavalueset-bulk.json", func() any { return new(DataValueSet) }},
		{"datavalueset-minimal.json", func() any { return new(DataValueSet) }},
		{"docs-datavalueset-mortality-201401.json", func() any { return new(DataValueSet) }},
		{"tracker-import-nested.json", func() any { return new(TrackerPayload) }},
		{"tracker-import-flat.json", func() any { return new(TrackerPayload) }},
		{"tracker-events.json", func() any { return new(TrackerPayload) }},
		{"docs-tracker-nested-payload.json", func() any { return new(TrackerPayload) }},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			in := readShared(t, "dhis2", c.file)
			v := c.target()
			if err := json.Unmarshal(StripBOM(in), v); err != nil {
				t.Fatal(err)
			}
			out, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := Normalize(in)
			got, _ := Normalize(out)
			if !bytes.Equal(want, got) {
				t.Fatalf("lost data\nwant %s\ngot  %s", want, got)
			}
		})
	}
	var p TrackerPayload
	if err := json.Unmarshal(readShared(t, "dhis2", "docs-tracker-nested-payload.json"), &p); err != nil {
		t.Fatal(err)
	}
	ev := p.TrackedEntities[0].Enrollments[0].Events[0]
	if ev.OccurredAt != "2019-08-01T00:00:00.000" || *ev.DataValues[1].Value != "5.7" || string(ev.Extra["notes"]) == "" {
		t.Fatalf("event = %+v", ev)
	}
	if err := json.Unmarshal([]byte(`{"dataValues":{}}`), new(DataValueSet)); err == nil {
		t.Fatal("dataValues object accepted")
	}
}

func TestValidateRules(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"observation required", `{"resourceType":"Observation"}`, "Observation.status: missing required element"},
		{"observation code required", `{"resourceType":"Observation","status":"final"}`, "Observation.code: missing required element"},
		{"measurereport period bounds", `{"resourceType":"MeasureReport","status":"complete","type":"summary","measure":"M","period":{"start":"2024-01-01"}}`, "MeasureReport.period.end: MeasureReport.period needs an end"},
		{"measurereport required", `{"resourceType":"MeasureReport","status":"complete","type":"summary","period":{"start":"2024-01-01","end":"2024-01-31"}}`, "MeasureReport.measure: missing required element"},
		{"bundle type", `{"resourceType":"Bundle"}`, "Bundle.type: missing required element"},
		{"transaction request", `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient"}}]}`, "Bundle.entry[0].request: a transaction entry needs request"},
		{"request url", `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET"}}]}`, "Bundle.entry[0].request.url: missing required element"},
		{"bad method", `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"FETCH","url":"x"}}]}`, "Bundle.entry[0].request.method: unknown HTTPVerb code `FETCH`"},
		{"bad date", `{"resourceType":"Patient","birthDate":"2023-02-30"}`, `Patient.birthDate: invalid date "2023-02-30": no such calendar day`},
		{"dateTime without zone", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"effectiveDateTime":"2024-01-01T10:00:00"}`, "Observation.effectiveDateTime: invalid dateTime"},
		{"quoted decimal", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":"12.5"}}`, "Observation.valueQuantity.value: expected decimal number, got string"},
		{"two choices", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueString":"a","valueBoolean":true}`, "only one of value[x] may be present"},
		{"unknown element", `{"resourceType":"Patient","gender1":"male"}`, `Patient.gender1: unknown element "gender1"`},
		{"empty string", `{"resourceType":"Patient","id":""}`, "Patient.id: empty or blank string"},
		{"null", `{"resourceType":"Patient","active":null}`, "Patient.active: null is not allowed"},
		{"empty array", `{"resourceType":"Patient","name":[]}`, "Patient.name: empty array is not allowed"},
		{"integer overflow", `{"resourceType":"Bundle","type":"searchset","total":99999999999}`, "Bundle.total: invalid integer"},
		{"contained without type", `{"resourceType":"Patient","contained":[{"id":"1"}]}`, "Patient.contained[0].resourceType: missing resourceType"},
		{"required choice", `{"resourceType":"Immunization","status":"completed","vaccineCode":{"text":"x"},"patient":{"reference":"Patient/1"}}`, "Immunization.occurrence[x]: missing required element"},
		{"invalid JSON", `{"resourceType":`, "invalid JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			oo := Validate([]byte(c.in))
			err := oo.Err()
			if err == nil {
				t.Fatalf("no error issues, want %q", c.want)
			}
			for _, is := range oo.Issue {
				if bytes.Contains([]byte(is.String()), []byte(c.want)) {
					return
				}
			}
			t.Fatalf("issues %v lack %q", err, c.want)
		})
	}
	ok := Validate(readShared(t, "fhir", "patient-example.json"))
	b, _ := json.Marshal(ok)
	if ok.HasErrors() || !bytes.Contains(b, []byte(`"code":"informational"`)) {
		t.Fatalf("valid patient outcome = %s", b)
	}
}
