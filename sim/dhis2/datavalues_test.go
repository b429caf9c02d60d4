package dhis2

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// summaryOf returns the ImportSummary whatever the envelope.
func summaryOf(r resp) any {
	if at(r.body, "responseType") == "ImportSummary" {
		return r.body
	}
	return at(r.body, "response")
}

// The shared request payloads, imported into the default metadata.
func TestSharedDataValueSetPayloads(t *testing.T) {
	for _, tc := range []struct {
		file   string
		counts [4]int // imported, updated, ignored, deleted
		status string
	}{
		// 231 values; the 23 zeros are for zeroIsSignificant=false elements:
		// never stored, counted ignored, no conflict.
		{"datavalueset-bulk.json", [4]int{208, 0, 23, 0}, "SUCCESS"},
		{"datavalueset-single-dataset.json", [4]int{2, 0, 0, 0}, "SUCCESS"},
		{"datavalueset-minimal.json", [4]int{1, 0, 0, 0}, "SUCCESS"},
		{"docs-datavalueset-mortality-201401.json", [4]int{3, 0, 0, 0}, "SUCCESS"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			s := startSim(t, Options{Version: "2.40"})
			r := post(t, s, "/api/dataValueSets", readShared(t, tc.file))
			if r.code != 200 {
				t.Fatalf("HTTP %d %s", r.code, r.raw)
			}
			sum := summaryOf(r)
			if got := counts(t, sum); got != tc.counts {
				t.Errorf("counts %v, want %v (%s)", got, tc.counts, r.raw)
			}
			if at(sum, "status") != tc.status || at(r.body, "status") != "OK" {
				t.Errorf("status %v / %v", at(sum, "status"), at(r.body, "status"))
			}
			if n := len(s.DataValues()); n != tc.counts[0] {
				t.Errorf("%d values stored, want %d", n, tc.counts[0])
			}
		})
	}
}

// The envelope by version (§1.3.2): one good value, one unknown data element.
func TestEnvelopeByVersion(t *testing.T) {
	payload := dvs(mortality("f7n9E0hX8qk", "202401", "5"), mortality("INVALID_1xx", "202401", "5"))
	for _, tc := range []struct {
		version, path   string
		plain           bool
		code            int
		conflictFields  bool // errorCode/property/objects/indexes (2.37+)
		rejectedIndexes bool
	}{
		{"2.36", "/api/dataValueSets", true, 200, false, false},
		{"2.37", "/api/dataValueSets", true, 200, true, false},
		{"2.38", "/api/dataValueSets", false, 409, true, false},
		{"2.38", "/api/37/dataValueSets", true, 200, true, false},
		{"2.39.1", "/api/dataValueSets", false, 409, true, false},
		{"2.39.2", "/api/dataValueSets", false, 409, true, true},
		{"2.40.0", "/api/dataValueSets", false, 409, true, false},
		{"2.40.1", "/api/dataValueSets", false, 409, true, true},
		{"2.40.1", "/api/40/dataValueSets", false, 409, true, true},
		{"2.40.1", "/api/36/dataValueSets", true, 200, true, true},
		{"2.41", "/api/dataValueSets", false, 409, true, true},
	} {
		t.Run(tc.version+tc.path, func(t *testing.T) {
			s := startSim(t, Options{Version: tc.version})
			r := post(t, s, tc.path, payload)
			if r.code != tc.code {
				t.Fatalf("HTTP %d, want %d: %s", r.code, tc.code, r.raw)
			}
			b := r.obj(t)
			sum := summaryOf(r)
			if tc.plain {
				if b["responseType"] != "ImportSummary" || b["httpStatus"] != nil {
					t.Errorf("want a bare ImportSummary, got %s", r.raw)
				}
			} else {
				if b["httpStatus"] != "Conflict" || num(b["httpStatusCode"]) != 409 || b["status"] != "WARNING" ||
					b["message"] != "One more conflicts encountered, please check import summary." {
					t.Errorf("WebMessage header wrong: %s", r.raw)
				}
				if at(sum, "responseType") != "ImportSummary" {
					t.Errorf("response is not an ImportSummary: %s", r.raw)
				}
			}
			if at(sum, "status") != "WARNING" || counts(t, sum) != [4]int{1, 0, 1, 0} {
				t.Errorf("summary %v %v", at(sum, "status"), counts(t, sum))
			}
			c := at(sum, "conflicts", 0).(map[string]any)
			if c["object"] != "INVALID_1xx" || c["value"] != "Data element not found or not accessible: `INVALID_1xx`" {
				t.Errorf("conflict %v", c)
			}
			_, hasCode := c["errorCode"]
			if hasCode != tc.conflictFields {
				t.Errorf("errorCode present=%v, want %v", hasCode, tc.conflictFields)
			}
			if tc.conflictFields {
				if c["errorCode"] != "E7610" || c["property"] != "dataElement" || at(c, "objects", "dataElement") != "INVALID_1xx" || num(at(c, "indexes", 0)) != 1 {
					t.Errorf("2.37+ conflict fields: %v", c)
				}
			}
			ri, hasRI := sum.(map[string]any)["rejectedIndexes"]
			if hasRI != tc.rejectedIndexes {
				t.Errorf("rejectedIndexes present=%v, want %v", hasRI, tc.rejectedIndexes)
			}
			if hasRI && (len(ri.([]any)) != 1 || num(at(ri, 0)) != 1) {
				t.Errorf("rejectedIndexes %v", ri)
			}
			// The good value is stored despite the 409.
			if len(s.DataValues()) != 1 {
				t.Errorf("%d values stored", len(s.DataValues()))
			}
		})
	}
}

func TestSuccessEnvelope(t *testing.T) {
	s := startSim(t, Options{Version: "2.39"})
	r := post(t, s, "/api/dataValueSets", dvs(mortality("f7n9E0hX8qk", "202401", "5")))
	b := r.obj(t)
	if r.code != 200 || b["httpStatus"] != "OK" || b["status"] != "OK" || b["message"] != "Import was successful." {
		t.Errorf("success WebMessage: %d %s", r.code, r.raw)
	}
	if _, ok := at(b, "response").(map[string]any)["conflicts"]; ok {
		t.Error("conflicts present on success")
	}
	// The task-summary sample's importOptions keys are all there.
	want := sharedJSON(t, "docs-datavalue-import-tasksummary.json")
	assertShape(t, "import summary", want, at(b, "response"))
}

func TestIDSchemes(t *testing.T) {
	for _, tc := range []struct {
		name, query string
		value       map[string]any
		payload     map[string]any // extra header attributes
	}{
		{"uid", "", mortality("f7n9E0hX8qk", "202401", "4"), nil},
		{"code general", "?idScheme=CODE", map[string]any{"dataElement": "DE_MORT_MALARIA", "period": "202401", "orgUnit": "OU_559", "value": "4"}, nil},
		{"code lowercase", "?idScheme=code", map[string]any{"dataElement": "DE_MORT_MALARIA", "period": "202401", "orgUnit": "OU_559", "value": "4"}, nil},
		{"name specific", "?dataElementIdScheme=NAME&orgUnitIdScheme=CODE", map[string]any{"dataElement": "Malaria (Deaths < 5 yrs)", "period": "202401", "orgUnit": "OU_559", "value": "4"}, nil},
		{"specific beats general", "?idScheme=CODE&dataElementIdScheme=UID", map[string]any{"dataElement": "f7n9E0hX8qk", "period": "202401", "orgUnit": "OU_559", "value": "4"}, nil},
		{"payload overrides url", "?idScheme=UID", map[string]any{"dataElement": "DE_MORT_MALARIA", "period": "202401", "orgUnit": "DiszpKrYNg8", "value": "4"}, map[string]any{"dataElementIdScheme": "CODE"}},
		{"coc by name", "?categoryOptionComboIdScheme=NAME", map[string]any{"dataElement": "f7n9E0hX8qk", "period": "202401", "orgUnit": "DiszpKrYNg8", "categoryOptionCombo": "default", "value": "4"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startSim(t, Options{})
			p := dvs(tc.value)
			for k, v := range tc.payload {
				p[k] = v
			}
			r := post(t, s, "/api/dataValueSets"+tc.query, p)
			if r.code != 200 || counts(t, summaryOf(r))[0] != 1 {
				t.Fatalf("HTTP %d %s", r.code, r.raw)
			}
			got := s.DataValues()
			want := DataValue{DataElement: "f7n9E0hX8qk", Period: "202401", OrgUnit: "DiszpKrYNg8", CategoryOptionCombo: DefaultCOC, AttributeOptionCombo: DefaultCOC, Value: "4"}
			if len(got) != 1 || got[0].DataElement != want.DataElement || got[0].OrgUnit != want.OrgUnit ||
				got[0].CategoryOptionCombo != want.CategoryOptionCombo || got[0].AttributeOptionCombo != want.AttributeOptionCombo || got[0].Value != "4" {
				t.Errorf("stored %+v", got)
			}
		})
	}
	// The wrong scheme does not resolve.
	s := startSim(t, Options{})
	r := post(t, s, "/api/dataValueSets?idScheme=CODE", dvs(mortality("f7n9E0hX8qk", "202401", "4")))
	if r.code != 409 || at(summaryOf(r), "conflicts", 0, "errorCode") != "E7610" {
		t.Errorf("uid under CODE scheme: %d %s", r.code, r.raw)
	}
}

func TestDryRun(t *testing.T) {
	s := startSim(t, Options{})
	p := dvs(mortality("f7n9E0hX8qk", "202401", "4"), mortality("Ix2HsbDMLea", "202401", "x"))
	r := post(t, s, "/api/dataValueSets?dryRun=true", p)
	sum := summaryOf(r)
	if r.code != 409 || counts(t, sum) != [4]int{1, 0, 1, 0} || at(sum, "importOptions", "dryRun") != true {
		t.Fatalf("dry run: %d %s", r.code, r.raw)
	}
	if len(s.DataValues()) != 0 {
		t.Fatal("dry run stored values")
	}
	// Real import, then a dry run of an update reports updated but keeps
	// the old value.
	post(t, s, "/api/dataValueSets", dvs(mortality("f7n9E0hX8qk", "202401", "4")))
	r = post(t, s, "/api/dataValueSets?dryRun=true", dvs(mortality("f7n9E0hX8qk", "202401", "9")))
	if counts(t, summaryOf(r)) != [4]int{0, 1, 0, 0} || s.DataValues()[0].Value != "4" {
		t.Errorf("dry-run update: %s, stored %v", r.raw, s.DataValues())
	}
}

func TestUpsertIdempotentRerun(t *testing.T) {
	p := readShared(t, "docs-datavalueset-mortality-201401.json")
	for _, tc := range []struct {
		version string
		second  [4]int
	}{
		{"2.39.4", [4]int{0, 3, 0, 0}},
		{"2.39.5", [4]int{0, 0, 3, 0}},
		{"2.40.2", [4]int{0, 3, 0, 0}},
		{"2.40.3", [4]int{0, 0, 3, 0}},
		{"2.41", [4]int{0, 0, 3, 0}},
		{"2.37", [4]int{0, 3, 0, 0}},
	} {
		t.Run(tc.version, func(t *testing.T) {
			s := startSim(t, Options{Version: tc.version})
			first := post(t, s, "/api/dataValueSets", p)
			if c := counts(t, summaryOf(first)); c != [4]int{3, 0, 0, 0} {
				t.Fatalf("first %v", c)
			}
			second := post(t, s, "/api/dataValueSets", p)
			if second.code != 200 || counts(t, summaryOf(second)) != tc.second {
				t.Errorf("rerun: %d %v, want %v", second.code, counts(t, summaryOf(second)), tc.second)
			}
			if len(s.DataValues()) != 3 {
				t.Errorf("rerun duplicated values: %d", len(s.DataValues()))
			}
			// A changed value is always an update.
			r := post(t, s, "/api/dataValueSets", dvs(map[string]any{"dataSet": "pBOMPrpg1QX", "dataElement": "f7n9E0hX8qk", "period": "201401", "orgUnit": "DiszpKrYNg8", "value": "7"}))
			if counts(t, summaryOf(r)) != [4]int{0, 1, 0, 0} || s.DataValues()[0].Value != "7" {
				t.Errorf("changed value: %v %v", counts(t, summaryOf(r)), s.DataValues()[0])
			}
		})
	}
}

func TestValueConflicts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		query   string
		header  map[string]any
		value   map[string]any
		code    string
		prop    string
		message string
	}{
		{"unknown data element", "", nil, mortality("XXXXXXXXXXX", "202401", "1"), "E7610", "dataElement", "Data element not found or not accessible: `XXXXXXXXXXX`"},
		{"invalid period", "", nil, mortality("f7n9E0hX8qk", "2024-13", "1"), "E7611", "period", "Period not valid: `2024-13`"},
		{"unknown org unit", "", nil, map[string]any{"dataElement": "f7n9E0hX8qk", "period": "202401", "orgUnit": "NOPE1234567", "value": "1"}, "E7612", "orgUnit", "Organisation unit not found or not accessible: `NOPE1234567`"},
		{"unknown coc", "", nil, map[string]any{"dataElement": "f7n9E0hX8qk", "period": "202401", "orgUnit": "DiszpKrYNg8", "categoryOptionCombo": "NOPE1234567", "value": "1"}, "E7613", "categoryOptionCombo", "Category option combo not found or not accessible for writing data: `NOPE1234567`"},
		{"unknown aoc", "", nil, map[string]any{"dataElement": "f7n9E0hX8qk", "period": "202401", "orgUnit": "DiszpKrYNg8", "attributeOptionCombo": "NOPE1234567", "value": "1"}, "E7615", "attributeOptionCombo", "Attribute option combo not found or not accessible for writing data: `NOPE1234567`"},
		{"no value no comment", "", nil, map[string]any{"dataElement": "f7n9E0hX8qk", "period": "202401", "orgUnit": "DiszpKrYNg8"}, "E7618", "value", "Data value or comment not specified for data element: `f7n9E0hX8qk`"},
		{"not a number", "", nil, mortality("f7n9E0hX8qk", "202401", "abc"), "E7619", "value", "Value must match data element's `f7n9E0hX8qk` type constraints: value_not_zero_or_positive_integer"},
		{"negative for zero-or-positive", "", nil, mortality("f7n9E0hX8qk", "202401", "-1"), "E7619", "value", "Value must match data element's `f7n9E0hX8qk` type constraints: value_not_zero_or_positive_integer"},
		{"bad boolean", "", nil, map[string]any{"dataElement": "Md3xk3vlABx", "period": "201912", "orgUnit": "O6uvpzGd5pu", "value": "yes"}, "E7619", "value", "Value must match data element's `Md3xk3vlABx` type constraints: value_not_bool"},
		{"period type (strictPeriods)", "?strictPeriods=true", nil, mortality("f7n9E0hX8qk", "2024", "1"), "E7632", "period", "Period type of period: `2024` not valid for data element: `f7n9E0hX8qk`"},
		{"not in data set", "", map[string]any{"dataSet": "pBOMPrpg1QX"}, map[string]any{"dataElement": "Md3xk3vlABx", "period": "202401", "orgUnit": "DiszpKrYNg8", "value": "true"}, "E7633", "dataElement", "Data element: `Md3xk3vlABx` is not part of dataset: `pBOMPrpg1QX`"},
		{"coc not in combo (strict)", "?strictCategoryOptionCombos=true", nil, map[string]any{"dataElement": "f7n9E0hX8qk", "period": "202401", "orgUnit": "DiszpKrYNg8", "categoryOptionCombo": "oPcWGgS2Liz", "value": "1"}, "E7634", "categoryOptionCombo", "Category option combo: `oPcWGgS2Liz` must be part of category combo of data element: `f7n9E0hX8qk`"},
		{"org unit not assigned (strict)", "?strictOrganisationUnits=true", nil, map[string]any{"dataElement": "f7n9E0hX8qk", "period": "202401", "orgUnit": "YuQRtpLP10I", "value": "1"}, "E7636", "orgUnit", "Data element: `f7n9E0hX8qk` must be assigned through data sets to organisation unit: `YuQRtpLP10I`"},
		{"future period", "", nil, mortality("f7n9E0hX8qk", "202408", "1"), "E7641", "period", "Period: `202408` is after latest open future period: `2024-06-15` for data element: `f7n9E0hX8qk`"},
		{"coc required", "?requireCategoryOptionCombo=true", nil, mortality("f7n9E0hX8qk", "202401", "1"), "E7630", "categoryOptionCombo", "Category option combo is required but is not specified"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startSim(t, Options{Version: "2.41"})
			good := mortality("Ix2HsbDMLea", "202401", "2")
			good["categoryOptionCombo"] = DefaultCOC
			p := dvs(good, tc.value)
			for k, v := range tc.header {
				p[k] = v
			}
			r := post(t, s, "/api/dataValueSets"+tc.query, p)
			sum := summaryOf(r)
			if r.code != 409 || at(r.body, "status") != "WARNING" {
				t.Fatalf("HTTP %d %s", r.code, r.raw)
			}
			if got := counts(t, sum); got != [4]int{1, 0, 1, 0} {
				t.Errorf("counts %v", got)
			}
			c := at(sum, "conflicts", 0)
			if at(c, "errorCode") != tc.code || at(c, "property") != tc.prop || at(c, "value") != tc.message || num(at(c, "indexes", 0)) != 1 {
				t.Errorf("conflict %v", c)
			}
			if len(s.DataValues()) != 1 {
				t.Errorf("stored %d values", len(s.DataValues()))
			}
		})
	}
}

func TestOptionSetConflict(t *testing.T) {
	s := startSim(t, Options{})
	s.SeedMetadata(Metadata{
		OptionSets:   []OptionSet{{ID: "OsYesNoMayb", Name: "YesNo", Options: []Option{{Code: "Y", Name: "Yes"}, {Code: "N", Name: "No"}}}},
		DataElements: []DataElement{{ID: "DeOptionAgg", Name: "Opt", ValueType: "TEXT", CategoryCombo: &Ref{ID: "bjDvmb4bfuf"}, OptionSet: &Ref{ID: "OsYesNoMayb"}}},
	})
	r := post(t, s, "/api/dataValueSets", dvs(
		map[string]any{"dataElement": "DeOptionAgg", "period": "202401", "orgUnit": "DiszpKrYNg8", "value": "Y"},
		map[string]any{"dataElement": "DeOptionAgg", "period": "202402", "orgUnit": "DiszpKrYNg8", "value": "Maybe"}))
	if at(summaryOf(r), "conflicts", 0, "errorCode") != "E7621" || counts(t, summaryOf(r)) != [4]int{1, 0, 1, 0} {
		t.Errorf("%s", r.raw)
	}
}

// Identical conflicts are merged and their indexes collected (2.37+).
func TestConflictMerging(t *testing.T) {
	s := startSim(t, Options{Version: "2.41"})
	r := post(t, s, "/api/dataValueSets", dvs(mortality("BADBADBAD01", "202401", "1"), mortality("f7n9E0hX8qk", "202401", "1"), mortality("BADBADBAD01", "202402", "1"), mortality("BADBADBAD02", "202402", "1")))
	sum := summaryOf(r)
	cs := at(sum, "conflicts").([]any)
	if len(cs) != 2 || fmt.Sprint(at(cs[0], "indexes")) != "[0 2]" || fmt.Sprint(at(sum, "rejectedIndexes")) != "[0 2 3]" {
		t.Errorf("%s", r.raw)
	}
}

func TestSetLevelAbort(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header map[string]any
		code   string
		prop   string
	}{
		{"unknown data set", map[string]any{"dataSet": "NOPEnope123"}, "E7600", "dataSet"},
		{"unknown header org unit", map[string]any{"orgUnit": "NOPEnope123"}, "E7603", "orgUnit"},
		{"unknown header aoc", map[string]any{"attributeOptionCombo": "NOPEnope123"}, "E7604", "attributeOptionCombo"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range []string{"2.37", "2.40"} {
				s := startSim(t, Options{Version: v})
				p := dvs(mortality("f7n9E0hX8qk", "202401", "1"), mortality("Ix2HsbDMLea", "202401", "1"))
				for k, val := range tc.header {
					p[k] = val
				}
				r := post(t, s, "/api/dataValueSets", p)
				sum := summaryOf(r)
				wantCode := 409
				if v == "2.37" {
					wantCode = 200 // plain mode: ERROR with HTTP 200
				} else if at(r.body, "status") != "ERROR" || at(r.body, "message") != "An error occurred, please check import summary." {
					t.Errorf("%s: WebMessage %s", v, r.raw)
				}
				if r.code != wantCode || at(sum, "status") != "ERROR" || at(sum, "description") != "Import process was aborted" {
					t.Errorf("%s: %d %s", v, r.code, r.raw)
				}
				if counts(t, sum) != [4]int{0, 0, 0, 0} || at(sum, "conflicts", 0, "errorCode") != tc.code || at(sum, "conflicts", 0, "property") != tc.prop {
					t.Errorf("%s: %s", v, r.raw)
				}
				if len(s.DataValues()) != 0 {
					t.Errorf("%s: aborted import stored values", v)
				}
			}
		})
	}
}

func TestStrategiesAndDeletes(t *testing.T) {
	base := func(t *testing.T) *Server {
		s := startSim(t, Options{Version: "2.40"})
		r := post(t, s, "/api/dataValueSets", dvs(mortality("f7n9E0hX8qk", "202401", "5"), mortality("Ix2HsbDMLea", "202401", "6")))
		if counts(t, summaryOf(r)) != [4]int{2, 0, 0, 0} {
			t.Fatalf("seed import: %s", r.raw)
		}
		return s
	}
	for _, tc := range []struct {
		name   string
		query  string
		values []map[string]any
		counts [4]int
		live   int
	}{
		{"CREATE on existing is ignored", "?importStrategy=CREATE", []map[string]any{mortality("f7n9E0hX8qk", "202401", "9"), mortality("eY5ehpbEsB7", "202401", "1")}, [4]int{1, 0, 1, 0}, 3},
		{"UPDATE on missing is ignored", "?importStrategy=UPDATE", []map[string]any{mortality("f7n9E0hX8qk", "202401", "9"), mortality("eY5ehpbEsB7", "202401", "1")}, [4]int{0, 1, 1, 0}, 2},
		{"DELETE strategy", "?importStrategy=DELETE", []map[string]any{mortality("f7n9E0hX8qk", "202401", ""), mortality("eY5ehpbEsB7", "202401", "1")}, [4]int{0, 0, 1, 1}, 1},
		{"deleted flag", "", []map[string]any{{"dataElement": "f7n9E0hX8qk", "period": "202401", "orgUnit": "DiszpKrYNg8", "deleted": true}}, [4]int{0, 0, 0, 1}, 1},
		{"insignificant zero on existing deletes", "", []map[string]any{mortality("f7n9E0hX8qk", "202401", "0")}, [4]int{0, 0, 0, 1}, 1},
		{"insignificant zero on new is ignored", "", []map[string]any{mortality("eY5ehpbEsB7", "202401", "0")}, [4]int{0, 0, 1, 0}, 2},
		{"comment only value is stored", "", []map[string]any{{"dataElement": "eY5ehpbEsB7", "period": "202401", "orgUnit": "DiszpKrYNg8", "comment": "no data"}}, [4]int{1, 0, 0, 0}, 3},
		{"legacy strategy name", "?importStrategy=NEW_AND_UPDATES", []map[string]any{mortality("f7n9E0hX8qk", "202401", "8")}, [4]int{0, 1, 0, 0}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base(t)
			r := post(t, s, "/api/dataValueSets"+tc.query, dvs(tc.values...))
			if got := counts(t, summaryOf(r)); got != tc.counts {
				t.Errorf("counts %v, want %v: %s", got, tc.counts, r.raw)
			}
			if n := len(s.DataValues()); n != tc.live {
				t.Errorf("%d live values, want %d", n, tc.live)
			}
		})
	}

	// A soft-deleted key is revived as "imported", and includeDeleted
	// shows it while deleted.
	s := base(t)
	post(t, s, "/api/dataValueSets?importStrategy=DELETE", dvs(mortality("f7n9E0hX8qk", "202401", "5")))
	r := get(t, s, "/api/dataValueSets?dataSet=pBOMPrpg1QX&period=202401&orgUnit=DiszpKrYNg8&includeDeleted=true")
	if l := at(r.body, "dataValues").([]any); len(l) != 2 || at(l[0], "deleted") != true {
		t.Errorf("includeDeleted: %s", r.raw)
	}
	r = post(t, s, "/api/dataValueSets", dvs(mortality("f7n9E0hX8qk", "202401", "5")))
	if counts(t, summaryOf(r)) != [4]int{1, 0, 0, 0} || len(s.DataValues()) != 2 {
		t.Errorf("revive: %s", r.raw)
	}
}

func TestBooleanNormalisation(t *testing.T) {
	s := startSim(t, Options{})
	var vals []map[string]any
	for i, v := range []string{"True", "TRUE", "1", "t", "false", "F", "0"} {
		vals = append(vals, map[string]any{"dataElement": "Md3xk3vlABx", "period": fmt.Sprintf("2019%02d", i+1), "orgUnit": "O6uvpzGd5pu", "value": v})
	}
	r := post(t, s, "/api/dataValueSets", dvs(vals...))
	if counts(t, summaryOf(r)) != [4]int{7, 0, 0, 0} {
		t.Fatalf("%s", r.raw)
	}
	var got []string
	for _, v := range s.DataValues() {
		got = append(got, v.Value)
	}
	if strings.Join(got, ",") != "true,true,true,true,false,false,false" {
		t.Errorf("stored %v", got)
	}
}

func TestNumericJSONValues(t *testing.T) {
	// Values are strings in DHIS2 JSON, but numbers are accepted too.
	s := startSim(t, Options{})
	r := post(t, s, "/api/dataValueSets", `{"dataValues":[{"dataElement":"f7n9E0hX8qk","period":"202401","orgUnit":"DiszpKrYNg8","value":12}]}`)
	if counts(t, summaryOf(r)) != [4]int{1, 0, 0, 0} || s.DataValues()[0].Value != "12" {
		t.Errorf("%s", r.raw)
	}
}

func TestAsyncDataValueImport(t *testing.T) {
	for _, polls := range []int{0, 2} {
		t.Run(fmt.Sprint("polls=", polls), func(t *testing.T) {
			s := startSim(t, Options{JobPolls: polls, Version: "2.41"})
			r := post(t, s, "/api/dataValueSets?async=true", readShared(t, "docs-datavalueset-mortality-201401.json"))
			if r.code != 200 {
				t.Fatalf("HTTP %d %s", r.code, r.raw)
			}
			assertShape(t, "async response", sharedJSON(t, "docs-datavalueset-async-response.json"), r.body)
			id := at(r.body, "response", "id").(string)
			endpoint := at(r.body, "response", "relativeNotifierEndpoint").(string)
			if endpoint != "/api/system/tasks/DATAVALUE_IMPORT/"+id || !validUID(id) {
				t.Errorf("endpoint %s", endpoint)
			}
			for i := 0; i < polls-1; i++ {
				n := get(t, s, endpoint)
				if at(n.body, 0, "completed") != false {
					t.Errorf("poll %d: completed early: %s", i, n.raw)
				}
				if len(s.DataValues()) != 0 {
					t.Errorf("poll %d: values visible before completion", i)
				}
				if sr := get(t, s, "/api/system/taskSummaries/DATAVALUE_IMPORT/"+id); sr.code != 404 {
					t.Errorf("summary before completion: %d", sr.code)
				}
			}
			n := get(t, s, endpoint)
			if at(n.body, 0, "completed") != true || !strings.Contains(at(n.body, 0, "message").(string), "3 imported") {
				t.Errorf("final notification: %s", n.raw)
			}
			sum := get(t, s, "/api/system/taskSummaries/DATAVALUE_IMPORT/"+id)
			assertShape(t, "task summary", sharedJSON(t, "docs-datavalue-import-tasksummary.json"), sum.body)
			if counts(t, sum.body) != [4]int{3, 0, 0, 0} || at(sum.body, "importOptions", "async") != true {
				t.Errorf("summary %s", sum.raw)
			}
			if len(s.DataValues()) != 3 {
				t.Errorf("%d values", len(s.DataValues()))
			}
			s.EvictJobs()
			if sr := get(t, s, "/api/system/taskSummaries/DATAVALUE_IMPORT/"+id); sr.code != 404 {
				t.Errorf("evicted summary: %d", sr.code)
			}
			if n := get(t, s, endpoint); string(n.raw) != "[]\n" {
				t.Errorf("evicted tasks: %s", n.raw)
			}
		})
	}
}

func TestReadDataValueSets(t *testing.T) {
	s := startSim(t, Options{})
	post(t, s, "/api/dataValueSets", readShared(t, "datavalueset-bulk.json"))
	post(t, s, "/api/dataValueSets", readShared(t, "docs-datavalueset-mortality-201401.json"))
	for _, tc := range []struct {
		query string
		code  int
		n     int
		err   string
	}{
		{"period=201912&orgUnit=O6uvpzGd5pu", 409, 0, "E2001"},
		{"dataSet=VEM58nY22sO&orgUnit=O6uvpzGd5pu", 409, 0, "E2002"},
		{"dataSet=VEM58nY22sO&period=201912", 409, 0, "E2006"},
		{"dataSet=VEM58nY22sO&period=201912&startDate=2019-01-01&endDate=2019-12-31&orgUnit=O6uvpzGd5pu", 409, 0, "E2003"},
		{"dataSet=NOPEnope123&period=201912&orgUnit=O6uvpzGd5pu", 409, 0, "E1105"},
		{"dataSet=VEM58nY22sO&period=201912&orgUnit=O6uvpzGd5pu", 200, 199, ""},
		{"dataSet=VEM58nY22sO&period=201911&orgUnit=O6uvpzGd5pu", 200, 0, ""},
		{"dataSet=qNtxTrp56wV&period=2018&orgUnit=O6uvpzGd5pu", 200, 9, ""},
		{"dataSet=qNtxTrp56wV,VEM58nY22sO&startDate=2018-01-01&endDate=2019-12-31&orgUnit=O6uvpzGd5pu", 200, 208, ""},
		{"dataSet=pBOMPrpg1QX&period=201401&orgUnit=ImspTQPwCqd", 200, 0, ""},
		{"dataSet=pBOMPrpg1QX&period=201401&orgUnit=ImspTQPwCqd&children=true", 200, 3, ""},
	} {
		r := get(t, s, "/api/dataValueSets.json?"+tc.query)
		if r.code != tc.code {
			t.Errorf("%s: HTTP %d %s", tc.query, r.code, r.raw)
			continue
		}
		if tc.err != "" {
			if at(r.body, "errorCode") != tc.err || at(r.body, "httpStatus") != "Conflict" {
				t.Errorf("%s: %s", tc.query, r.raw)
			}
			continue
		}
		if l := at(r.body, "dataValues").([]any); len(l) != tc.n {
			t.Errorf("%s: %d values, want %d", tc.query, len(l), tc.n)
		}
	}
	r := get(t, s, "/api/dataValueSets?dataSet=pBOMPrpg1QX&period=201401&orgUnit=DiszpKrYNg8")
	// The export can be re-imported as is.
	want := sharedJSON(t, "docs-datavalueset-mortality-201401.json")
	assertShape(t, "export", want, r.body, "completeDate")
	v := at(r.body, "dataValues", 0)
	for _, k := range []string{"dataElement", "period", "orgUnit", "categoryOptionCombo", "attributeOptionCombo", "value", "storedBy", "created", "lastUpdated", "followup"} {
		if _, ok := v.(map[string]any)[k]; !ok {
			t.Errorf("exported value lacks %s: %v", k, v)
		}
	}
	b, _ := json.Marshal(r.body)
	r2 := post(t, s, "/api/dataValueSets", b)
	if counts(t, summaryOf(r2)) != [4]int{0, 3, 0, 0} {
		t.Errorf("re-import of export: %s", r2.raw)
	}
}

func TestHeaderDefaultsAndCompleteDate(t *testing.T) {
	s := startSim(t, Options{})
	r := post(t, s, "/api/dataValueSets", map[string]any{
		"dataSet": "pBOMPrpg1QX", "period": "202402", "orgUnit": "DiszpKrYNg8", "completeDate": "2024-03-01",
		"attributeOptionCombo": DefaultCOC,
		"dataValues": []any{
			map[string]any{"dataElement": "f7n9E0hX8qk", "value": "1"},
			map[string]any{"dataElement": "Ix2HsbDMLea", "period": "202401", "value": "2", "comment": "late", "followup": true},
		}})
	sum := summaryOf(r)
	if counts(t, sum) != [4]int{2, 0, 0, 0} || at(sum, "dataSetComplete") != "2024-03-01" {
		t.Fatalf("%s", r.raw)
	}
	v := s.DataValues()
	if v[0].Period != "202402" || v[0].OrgUnit != "DiszpKrYNg8" || v[1].Period != "202401" || v[1].Comment != "late" || !v[1].FollowUp || v[0].StoredBy != "admin" {
		t.Errorf("stored %+v", v)
	}
	if v[0].Created != "2024-06-15T10:30:00.000" {
		t.Errorf("created %q", v[0].Created)
	}
}
