package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeLayoutMatchesTree: the README's Layout section names every
// top-level directory of the repository and every package directory under
// internal/, sim/ and channels/, so a newcomer reading it finds each one.
func TestReadmeLayoutMatchesTree(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "## Layout\n")
	if !ok {
		t.Fatal("README has no Layout section")
	}
	layout, _, _ := strings.Cut(after, "\n## ")
	var missing []string
	// A directory counts as named when its path, or its base name as a
	// word, appears ("internal/…  cli, redact, …" names internal/cli).
	check := func(dir string) {
		word := regexp.MustCompile(`(^|[\s(,;/])` + regexp.QuoteMeta(filepath.Base(dir)) + `($|[\s),;:/])`)
		if !strings.Contains(layout, dir) && !word.MatchString(layout) {
			missing = append(missing, dir)
		}
	}
	top, err := os.ReadDir("..")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, e := range top {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") || e.Name() == "bin" || e.Name() == "data" || e.Name() == "node_modules" {
			continue
		}
		check(e.Name())
		checked++
	}
	for _, parent := range []string{"internal", "sim", "channels"} {
		subs, err := os.ReadDir(filepath.Join("..", parent))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range subs {
			if e.IsDir() && e.Name() != "testdata" {
				check(parent + "/" + e.Name())
				checked++
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d directories checked: is the tree there?", checked)
	}
	if len(missing) > 0 {
		t.Errorf("README Layout does not mention: %s", strings.Join(missing, ", "))
	}
}
