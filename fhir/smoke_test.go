package fhir

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSmokeAll(t *testing.T) {
	files, _ := filepath.Glob("/work/shared/testdata/fhir/*.json")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		_, err := Decode(b)
		oo := Validate(b)
		t.Logf("%s: decode err=%v", filepath.Base(f), err)
		for _, is := range oo.Issue {
			t.Logf("    %s %s %v %s", is.Severity, is.Code, is.Expression, is.Diagnostics)
		}
	}
}
