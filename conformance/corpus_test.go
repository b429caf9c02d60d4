package conformance

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/runtime"
)

// The corpus (corpus/, see corpus/README.md) holds jobs whose lightning
// goldens were recorded from the real @openfn/runtime. Its golden shapes:
// a final state (with errors[stepId] after a fail), null (no final state),
// or {"error": {...}} when the run threw (crash/kill, or a failed legacy
// run).

// engineErrors are thrown by the JS engine itself; their messages are V8's
// text in the goldens, so only their names are compared.
var engineErrors = map[string]bool{"TypeError": true, "RangeError": true, "ReferenceError": true, "SyntaxError": true}

// normRecord keeps the fields of an error record that must match exactly.
func normRecord(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := map[string]any{}
	for _, k := range []string{"source", "name", "severity", "subtype", "operationName", "line"} {
		if x, ok := m[k]; ok {
			out[k] = x
		}
	}
	if n := m["name"]; n == "JobError" || n == "AdaptorError" {
		out["message"] = m["message"]
	}
	return out
}

// normState replaces every errors[stepId] record with its normalised form.
func normState(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	if errs, ok := m["errors"].(map[string]any); ok {
		cp := map[string]any{}
		for k, r := range errs {
			cp[k] = normRecord(r)
		}
		m["errors"] = cp
	}
	return m
}

// thrownShape is our {"error": …} for a run that produced no final state.
func thrownShape(res *runtime.Result, legacyGolden map[string]any) any {
	e := res.Error
	if legacyGolden != nil {
		// hand-written legacy goldens: {name?, message, spec}
		out := map[string]any{}
		if name, ok := legacyGolden["name"].(string); ok {
			if engineErrors[name] {
				out["name"] = e.Subtype
			} else {
				out["name"] = name // not observable from our error: accept
			}
		}
		if name, _ := legacyGolden["name"].(string); !engineErrors[name] {
			msg := e.Message
			if e.Subtype != "" {
				msg = strings.TrimPrefix(msg, e.Subtype+": ")
			}
			out["message"] = msg
		}
		return map[string]any{"error": out}
	}
	rec := map[string]any{"source": e.Source, "name": e.Name, "severity": e.Severity, "message": e.Message}
	if e.Subtype != "" {
		rec["subtype"] = e.Subtype
	}
	return map[string]any{"error": normRecord(rec)}
}

func normGolden(v any, legacy bool) (any, map[string]any) {
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		if e, ok := m["error"].(map[string]any); ok {
			if legacy {
				out := map[string]any{}
				if n, ok := e["name"].(string); ok {
					out["name"] = n
				}
				if n, _ := e["name"].(string); !engineErrors[n] {
					out["message"] = e["message"]
				}
				return map[string]any{"error": out}, e
			}
			return map[string]any{"error": normRecord(e)}, nil
		}
	}
	return normState(v), nil
}

// readKnown loads corpus/known-failures.txt: "NNN-name/profile  reason".
func readKnown(t *testing.T) map[string]string {
	known := map[string]string{}
	f, err := os.Open("known-failures.txt")
	if err != nil {
		return known
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, reason, _ := strings.Cut(line, " ")
		known[id] = strings.TrimSpace(reason)
	}
	return known
}

func TestCorpus(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("corpus", "*.js"))
	if len(files) == 0 {
		t.Fatal("no corpus jobs in corpus/*.js: the test would check nothing")
	}
	known := readKnown(t)
	echo := startEcho(t)
	var failed, fixed []string
	for _, f := range files {
		base := strings.TrimSuffix(f, ".js")
		name := filepath.Base(base)
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		h := header(string(src))
		profiles := map[string][]config.Compat{
			"lightning": {config.CompatLightning}, "legacy": {config.CompatLegacy},
			"both": {config.CompatLightning, config.CompatLegacy},
		}[h["profile"]]
		if profiles == nil {
			t.Fatalf("%s: profile %q", f, h["profile"])
		}
		clock := Clock
		if c := h["clock"]; c != "" {
			if clock, err = time.Parse(time.RFC3339Nano, c); err != nil {
				t.Fatalf("%s: clock: %v", f, err)
			}
		}
		input, err := os.ReadFile(base + ".state.json")
		if err != nil {
			input = []byte("{}")
		}
		input = withEcho(input, echo)
		adaptor := "@openfn/language-common@3.3.4"
		if a := h["adaptor"]; a != "" {
			adaptor = a
		}
		for _, compat := range profiles {
			id := name + "/" + string(compat)
			golden, err := os.ReadFile(base + "." + string(compat) + ".golden.json")
			if err != nil {
				t.Errorf("%s: no golden: %v", id, err)
				continue
			}
			golden = withEcho(golden, echo)
			// a fresh engine per job: its own language-common module state
			// (cursor keeps state at module level) and its own clock
			engine := runtime.New(runtime.Options{Now: func() time.Time { return clock }, StepTimeout: 10 * time.Second, PoolSize: 1})
			job := &config.Job{Key: name, Adaptor: adaptor, Body: string(src)}
			res := engine.RunJob(context.Background(), job, compat, input, runtime.RunRequest{})
			var gv any
			if err := json.Unmarshal(golden, &gv); err != nil {
				t.Fatalf("%s: golden: %v", id, err)
			}
			want, legacyErr := normGolden(gv, compat == config.CompatLegacy)
			var got any
			switch {
			case res.State != nil:
				_ = json.Unmarshal(res.State, &got)
				got = normState(got)
			case res.Error != nil && (res.Status == runtime.StatusCrashed || compat == config.CompatLegacy):
				got = thrownShape(res, legacyErr)
			}
			ok := reflect.DeepEqual(got, want)
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(want)
			_, isKnown := known[id]
			switch {
			case !ok && !isKnown:
				failed = append(failed, id)
				t.Errorf("%s differs from the OpenFn golden\n got: %s\nwant: %s\nerror: %+v", id, gb, wb, res.Error)
			case ok && isKnown:
				fixed = append(fixed, id)
			}
		}
	}
	sort.Strings(fixed)
	for _, id := range fixed {
		t.Errorf("%s now matches its golden: remove it from known-failures.txt", id)
	}
	if len(failed) > 0 {
		t.Logf("%d unexpected differences: %s", len(failed), strings.Join(failed, " "))
	}
}
