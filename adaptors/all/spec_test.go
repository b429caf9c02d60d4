package all

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/jobmediator/jobmediator/adaptors"
	"github.com/jobmediator/jobmediator/spec"
)

var update = flag.Bool("update", false, "rewrite docs/reference-credentials.md from the specs")

const referenceDoc = "../../docs/reference-credentials.md"

// Every adaptor declares its credential, and nothing else does.
func TestEveryAdaptorHasASpec(t *testing.T) {
	names := adaptors.Names()
	var specs []string
	for _, c := range spec.All() {
		specs = append(specs, c.Adaptor)
	}
	sort.Strings(specs)
	if strings.Join(names, ",") != strings.Join(specs, ",") {
		t.Fatalf("adaptors %v, credential specs %v: declare one spec.Credential per adaptor in its spec.go", names, specs)
	}
}

// sourceDir is where an adaptor's code lives.
func sourceDir(adaptor string) string {
	return filepath.Join("..", strings.TrimSuffix(adaptor, "-4"))
}

var confRead = regexp.MustCompile(`\b(?:conf|configuration)\.([A-Za-z_][A-Za-z0-9_]*)`)

// The specs say what the code reads: every field a JavaScript source reads
// from the configuration is declared, and every declared field is read
// somewhere in the adaptor's code (as .name in JavaScript or "name" in Go).
func TestSpecsMatchWhatAdaptorsRead(t *testing.T) {
	for _, c := range spec.All() {
		if c.Open {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(sourceDir(c.Adaptor), "*"))
		var code strings.Builder
		read := map[string]bool{}
		for _, f := range files {
			base := filepath.Base(f)
			if base == "spec.go" || strings.HasSuffix(base, "_test.go") || !(strings.HasSuffix(base, ".js") || strings.HasSuffix(base, ".go")) {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			code.Write(b)
			if strings.HasSuffix(base, ".js") {
				for _, m := range confRead.FindAllStringSubmatch(string(b), -1) {
					read[m[1]] = true
				}
			}
		}
		if code.Len() == 0 {
			t.Fatalf("%s: no source found in %s", c.Adaptor, sourceDir(c.Adaptor))
		}
		// Adaptors sharing a source (fhir and fhir-4) share what it reads.
		for name := range read {
			declared := false
			for _, o := range spec.All() {
				if _, ok := o.Field(name); ok && sourceDir(o.Adaptor) == sourceDir(c.Adaptor) {
					declared = true
				}
			}
			if !declared {
				t.Errorf("%s reads configuration.%s, which its spec.go does not declare", c.Adaptor, name)
			}
		}
		for _, n := range c.Names() {
			if !strings.Contains(code.String(), "."+n) && !strings.Contains(code.String(), `"`+n+`"`) {
				t.Errorf("%s declares %q, which its code never reads", c.Adaptor, n)
			}
		}
	}
}

// docs/reference-credentials.md is what the specs produce. Regenerate with
// `go generate ./adaptors/all`.
func TestReferenceDocs(t *testing.T) {
	got := spec.CredentialsMarkdown(spec.All())
	if *update {
		if err := os.WriteFile(referenceDoc, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(referenceDoc)
	if err != nil {
		t.Fatalf("%v: run go generate ./adaptors/all", err)
	}
	if string(want) != got {
		t.Fatalf("%s differs from the adaptors' specs: run go generate ./adaptors/all", referenceDoc)
	}
}
