package conformance

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func binary(t *testing.T) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "jm-conformance")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "jobmediator")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/jobmediator").CombinedOutput()
		if err != nil {
			buildErr = err
			t.Logf("%s", out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// TestCorpusThroughCLI runs every corpus job with the real binary, as a user
// would (`jobmediator run JOB.js -s state.json --compat … --now …`), and
// compares what it writes with the OpenFn goldens: the final state when the
// golden has one, and exit code 1 with the error named on stderr when the
// golden is a thrown error.
func TestCorpusThroughCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary once per corpus job")
	}
	bin := binary(t)
	known := readKnown(t)
	files, _ := filepath.Glob(filepath.Join("corpus", "*.js"))
	if len(files) == 0 {
		t.Fatal("no corpus jobs in corpus/*.js: the test would check nothing")
	}
	echo := startEcho(t)
	stateDir := t.TempDir()
	checked := 0
	for _, f := range files {
		base := strings.TrimSuffix(f, ".js")
		name := filepath.Base(base)
		src, _ := os.ReadFile(f)
		h := header(string(src))
		profiles := map[string][]string{"lightning": {"lightning"}, "legacy": {"legacy"}, "both": {"lightning", "legacy"}}[h["profile"]]
		clock := Clock.Format(time.RFC3339Nano)
		if c := h["clock"]; c != "" {
			clock = c
		}
		for _, compat := range profiles {
			id := name + "/" + compat
			if _, isKnown := known[id]; isKnown {
				continue
			}
			golden, err := os.ReadFile(base + "." + compat + ".golden.json")
			if err != nil {
				t.Errorf("%s: no golden", id)
				continue
			}
			golden = withEcho(golden, echo)
			adaptor := "common@3.3.4"
			if a := h["adaptor"]; a != "" {
				adaptor = a
			}
			args := []string{"run", f, "-a", adaptor, "--compat", compat, "--now", clock}
			if st, err := os.ReadFile(base + ".state.json"); err == nil {
				statePath := filepath.Join(stateDir, name+".state.json")
				if err := os.WriteFile(statePath, withEcho(st, echo), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append(args, "-s", statePath)
			}
			cmd := exec.Command(bin, args...)
			cmd.Env = append(os.Environ(), "TZ=UTC")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err = cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			var gv any
			_ = json.Unmarshal(golden, &gv)
			want, _ := normGolden(gv, compat == "legacy")
			checked++
			if m, ok := want.(map[string]any); ok && len(m) == 1 && m["error"] != nil {
				e, _ := m["error"].(map[string]any)
				errName, _ := e["name"].(string)
				if code != 1 || !strings.Contains(stderr.String(), errName) {
					t.Errorf("%s: want exit 1 naming %q, got exit %d\n%s", id, errName, code, stderr.String())
				}
				continue
			}
			if want == nil {
				if stdout.Len() != 0 {
					t.Errorf("%s: golden has no final state, the CLI wrote %s", id, stdout.String())
				}
				continue
			}
			var got any
			if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
				t.Errorf("%s: exit %d, stdout is not JSON: %v\n%s", id, code, err, stderr.String())
				continue
			}
			if got = normState(got); !reflect.DeepEqual(got, want) {
				gb, _ := json.Marshal(got)
				wb, _ := json.Marshal(want)
				t.Errorf("%s: CLI output differs from the OpenFn golden\n got: %s\nwant: %s", id, gb, wb)
			}
		}
	}
	t.Logf("%d corpus runs through the CLI", checked)
}
