// Package conformance runs OpenFn job files through the Job Mediator runtime
// and compares each final state with a golden file, so behaviour that must
// match OpenFn's own runtime is pinned down job by job. See README.md for
// the file layout and how the goldens were produced.
package conformance

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	_ "github.com/jobmediator/jobmediator/adaptors/common"
	_ "github.com/jobmediator/jobmediator/adaptors/http"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/runtime"
)

// update rewrites goldens from this runtime. Only use it to adopt outputs
// you have checked by hand or regenerated from @openfn/runtime.
var update = flag.Bool("update", false, "rewrite golden files from the Go runtime (review the diff!)")

// Clock is the fixed time every conformance job sees (cursor, dates).
var Clock = time.Date(2025, 3, 4, 10, 20, 30, 0, time.UTC)

func TestMain(m *testing.M) {
	time.Local = time.UTC // goja's local zone is the process's: pin it
	flag.Parse()
	os.Exit(m.Run())
}

// header reads the leading `// key: value` comment lines of a job.
func header(src string) map[string]string {
	h := map[string]string{}
	for _, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "//") {
			break
		}
		k, v, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "//")), ":")
		if ok {
			h[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return h
}

func TestConformance(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("jobs", "*.js"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no jobs found: %v", err)
	}
	engine := runtime.New(runtime.Options{Now: func() time.Time { return Clock }, StepTimeout: 10 * time.Second})
	for _, f := range files {
		base := strings.TrimSuffix(f, ".js")
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		h := header(string(src))
		profiles := []config.Compat{config.CompatLightning}
		switch h["compat"] {
		case "", "lightning":
		case "legacy":
			profiles = []config.Compat{config.CompatLegacy}
		case "both":
			profiles = []config.Compat{config.CompatLightning, config.CompatLegacy}
		default:
			t.Fatalf("%s: unknown compat %q", f, h["compat"])
		}
		adaptor := h["adaptor"]
		if adaptor == "" {
			adaptor = "@openfn/language-common@3.3.4"
		}
		input, err := os.ReadFile(base + ".state.json")
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, compat := range profiles {
			golden := base + ".expected.json"
			if compat == config.CompatLegacy {
				if _, err := os.Stat(base + ".legacy.expected.json"); err == nil {
					golden = base + ".legacy.expected.json"
				}
			}
			t.Run(filepath.Base(base)+"/"+string(compat), func(t *testing.T) {
				job := &config.Job{Key: "job", Adaptor: adaptor, Body: string(src)}
				res := engine.RunJob(context.Background(), job, compat, input, runtime.RunRequest{})
				got := []byte("null")
				if res.State != nil {
					got = res.State
				}
				if *update {
					var v any
					_ = json.Unmarshal(got, &v)
					b, _ := json.MarshalIndent(v, "", "  ")
					if err := os.WriteFile(golden, append(b, '\n'), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("golden: %v", err)
				}
				var g, w any
				if err := json.Unmarshal(got, &g); err != nil {
					t.Fatalf("final state is not JSON: %s", got)
				}
				if err := json.Unmarshal(want, &w); err != nil {
					t.Fatalf("%s is not JSON: %v", golden, err)
				}
				// error records are compared on their stable fields only
				if !reflect.DeepEqual(normState(g), normState(w)) {
					t.Errorf("final state differs from %s\n got: %s\nwant: %s\nstatus %s, error %+v", golden, got, strings.TrimSpace(string(want)), res.Status, res.Error)
				}
			})
		}
	}
}
