package dhis2

import (
	"testing"
)

// BenchmarkDataValueSetBulkImport posts the 231-value shared bulk payload
// (an idempotent rerun after the first iteration) over HTTP.
func BenchmarkDataValueSetBulkImport(b *testing.B) {
	s := startSim(b, Options{})
	payload := readShared(b, "datavalueset-bulk.json")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := post(b, s, "/api/dataValueSets", payload); r.code != 200 {
			b.Fatalf("HTTP %d", r.code)
		}
	}
}

// BenchmarkTrackerNestedImport posts the docs' nested TE → enrollment →
// event payload synchronously (a new TE each time: no UIDs in the payload).
func BenchmarkTrackerNestedImport(b *testing.B) {
	s := startSim(b, Options{})
	payload := readShared(b, "docs-tracker-nested-payload.json")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := post(b, s, "/api/tracker?async=false", payload); r.code != 200 {
			b.Fatalf("HTTP %d %s", r.code, r.raw)
		}
	}
}

// BenchmarkMetadataFilter looks an org unit up by code, as the mediator does
// for every MeasureReport.
func BenchmarkMetadataFilter(b *testing.B) {
	s := startSim(b, Options{})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := get(b, s, "/api/organisationUnits?filter=code:eq:OU_559&fields=id,code,name,path"); r.code != 200 {
			b.Fatalf("HTTP %d", r.code)
		}
	}
}
