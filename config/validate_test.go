package config

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestBrokenProjectsGolden loads every broken project and compares the
// full `check`-style listing (every error with file, line, field and fix,
// then warnings) with testdata/broken-<name>.golden.
func TestBrokenProjectsGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/broken/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no broken projects: %v", err)
	}
	for _, dir := range dirs {
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			p, err := LoadProject(dir)
			if err == nil {
				t.Fatal("a broken project loaded without error")
			}
			var ves ValidationErrors
			if !errors.As(err, &ves) {
				t.Fatalf("error is %T, want ValidationErrors", err)
			}
			var b bytes.Buffer
			ves.Write(&b, "error: ")
			if p != nil {
				p.Warnings.Write(&b, "warning: ")
			}
			out := b.String()
			for _, secret := range []string{"broken-v1-secret"} {
				if strings.Contains(out, secret) {
					t.Errorf("output contains the secret %q", secret)
				}
			}
			golden(t, "broken-"+name, out)
		})
	}
}
