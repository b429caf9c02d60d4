package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, strings.NewReader(""), &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

func TestRunJobFile(t *testing.T) {
	outFile := filepath.Join(t.TempDir(), "out.json")
	for _, tc := range []struct {
		name      string
		args      []string
		code      int
		stdout    string // substring of stdout
		stderr    string // substring of stderr
		noStdout  bool
		checkFile bool
	}{
		{name: "success to stdout", args: []string{"run", "testdata/double.js", "-s", "testdata/state.json"}, code: 0, stdout: `"values": [`},
		{name: "flags after positional and -o", args: []string{"run", "-s", "testdata/state.json", "testdata/double.js", "-o", outFile}, code: 0, noStdout: true, checkFile: true},
		{name: "job throws: exit 1, message without secret", args: []string{"run", "testdata/throws.js", "-s", "testdata/state.json"}, code: 1, stderr: "bad record ***"},
		{name: "syntax error names the line", args: []string{"run", "testdata/syntax.js"}, code: 1, stderr: "syntax"},
		{name: "legacy implicit global", args: []string{"run", "testdata/legacy.js", "-s", "testdata/state.json", "--compat", "legacy"}, code: 0, stdout: `"total": 3`},
		{name: "lightning rejects implicit global", args: []string{"run", "testdata/legacy.js", "-s", "testdata/state.json", "--compat", "lightning"}, code: 1, stderr: "total"},
		{name: "non-JSON state file", args: []string{"run", "testdata/double.js", "-s", "testdata/broken-state.json"}, code: 2, stderr: "not valid JSON"},
		{name: "state must be an object", args: []string{"run", "testdata/double.js", "-s", "testdata/array-state.json"}, code: 2, stderr: "JSON object"},
		{name: "missing state file", args: []string{"run", "testdata/double.js", "-s", "testdata/nope.json"}, code: 2, stderr: "no such file"},
		{name: "unknown adaptor", args: []string{"run", "testdata/double.js", "-a", "nosuch"}, code: 2, stderr: "not available"},
		{name: "bad compat", args: []string{"run", "testdata/double.js", "--compat", "v3"}, code: 2, stderr: "legacy or lightning"},
		{name: "no job", args: []string{"run"}, code: 2, stderr: "exactly one"},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stderr: "unknown command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, nil, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout, stderr)
			}
			if !strings.Contains(stdout, tc.stdout) || !strings.Contains(strings.ToLower(stderr), strings.ToLower(tc.stderr)) {
				t.Fatalf("stdout %q (want %q)\nstderr %q (want %q)", stdout, tc.stdout, stderr, tc.stderr)
			}
			if tc.noStdout && stdout != "" {
				t.Fatalf("-o must keep stdout empty, got %q", stdout)
			}
			// The final state is the user's own output (OpenFn v1 keeps
			// configuration in it); logs and errors never show secrets.
			if strings.Contains(stderr, "pw-123456") {
				t.Fatalf("secret leaked to stderr:\n%s", stderr)
			}
			if tc.checkFile {
				b, err := os.ReadFile(outFile)
				if err != nil {
					t.Fatal(err)
				}
				var st struct {
					Data struct{ Values []int } `json:"data"`
				}
				if err := json.Unmarshal(b, &st); err != nil || len(st.Data.Values) != 3 || st.Data.Values[2] != 6 {
					t.Fatalf("out.json: %s (%v)", b, err)
				}
				if strings.Contains(string(b), "configuration") {
					t.Fatalf("lightning output must drop configuration: %s", b)
				}
			}
		})
	}
}

func TestRunLegacyKeepsConfigurationInOutput(t *testing.T) {
	code, stdout, _ := runCLI(t, nil, "run", "testdata/double.js", "-s", "testdata/state.json", "--compat", "legacy")
	if code != 0 || !strings.Contains(stdout, `"configuration"`) {
		t.Fatalf("legacy (OpenFn v1) writes the whole state including configuration: %d %s", code, stdout)
	}
}

// An output file outlives the terminal: legacy final state loses its
// configuration (credentials in clear) there unless asked to keep it, with
// the other keys in their order.
func TestRunOutputFileDropsConfiguration(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		flags []string
		keep  bool
	}{{nil, false}, {[]string{"--keep-configuration"}, true}} {
		out := filepath.Join(dir, "out.json")
		args := append([]string{"run", "testdata/double.js", "-s", "testdata/state.json", "--compat", "legacy", "-o", out}, tc.flags...)
		if code, _, stderr := runCLI(t, nil, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.flags, code, stderr)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if has := strings.Contains(string(b), `"configuration"`) || strings.Contains(string(b), "pw-123456"); has != tc.keep {
			t.Fatalf("%v: configuration kept = %v, want %v: %s", tc.flags, has, tc.keep, b)
		}
		var st map[string]any
		if err := json.Unmarshal(b, &st); err != nil || st["data"] == nil {
			t.Fatalf("%v: output %s (%v)", tc.flags, b, err)
		}
	}
}

func TestCheck(t *testing.T) {
	code, stdout, stderr := runCLI(t, nil, "check", "--project", "../../examples/hello-upstream",
		"--credentials", "../../examples/hello-upstream/credentials.example.yaml")
	if code != 0 || !strings.Contains(stdout, "0 error(s)") {
		t.Fatalf("example project must pass check: %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, _ = runCLI(t, nil, "check", "--project", "testdata/broken-project")
	if code != 1 {
		t.Fatalf("broken project: exit %d, want 1\n%s", code, stdout)
	}
	for _, want := range []string{"language-nosuch", "missing", "project.yaml:"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("check output lacks %q:\n%s", want, stdout)
		}
	}
	code, _, stderr = runCLI(t, nil, "check")
	if code != 2 || !strings.Contains(stderr, "no project") {
		t.Fatalf("check without project: %d %s", code, stderr)
	}
}

func TestServeRefusesBrokenProject(t *testing.T) {
	code, _, stderr := runCLI(t, map[string]string{"JM_PROJECT": "testdata/broken-project", "JM_DATA_DIR": t.TempDir()}, "serve")
	if code != 2 || !strings.Contains(stderr, "refusing to start") || !strings.Contains(stderr, "language-nosuch") {
		t.Fatalf("serve must refuse an invalid project: %d\n%s", code, stderr)
	}
	code, _, stderr = runCLI(t, map[string]string{"SERVER_PORT": "99999999"}, "serve")
	if code != 2 || !strings.Contains(stderr, "SERVER_PORT") {
		t.Fatalf("bad SERVER_PORT: %d\n%s", code, stderr)
	}
}

func TestVersionAndHealthcheck(t *testing.T) {
	code, stdout, _ := runCLI(t, nil, "version")
	if code != 0 || !strings.HasPrefix(stdout, "jobmediator ") {
		t.Fatalf("version: %d %q", code, stdout)
	}
	// Nothing listens on this port: the healthcheck must fail, not hang.
	code, _, stderr := runCLI(t, map[string]string{"SERVER_PORT": "1"}, "healthcheck", "-timeout", "1s")
	if code != 1 || !strings.Contains(stderr, "healthcheck") {
		t.Fatalf("healthcheck against nothing: %d %s", code, stderr)
	}
}

func TestParseInterspersed(t *testing.T) {
	code, _, stderr := runCLI(t, nil, "run", "testdata/double.js", "--", "extra")
	if code != 2 || !strings.Contains(stderr, "exactly one") {
		t.Fatalf("two positionals must be refused: %d %s", code, stderr)
	}
}

// TestCheckPointsAtTheFaultyLine: a syntax error in an inline body is
// reported at its line in the project file, in each project format.
func TestCheckPointsAtTheFaultyLine(t *testing.T) {
	lightning := `name: p
workflows:
  wf:
    name: wf
    jobs:
      j:
        name: j
        adaptor: '@openfn/language-common@3'
        body: |
          fn(s => s);
          fn(s => s;
    triggers:
      webhook: {type: webhook, enabled: true}
    edges:
      webhook->j: {source_trigger: webhook, target_job: j, condition_type: always, enabled: true}
`
	v1 := `jobs:
  j:
    trigger: t
    adaptor: language-common@1.7.0
    expression: |
      alterState(s => s);
      alterState(s => s;
triggers:
  t:
    criteria: '{"form":"x"}'
`
	for _, tc := range []struct{ name, file, want, excerpt string }{
		// line and column in the project file, then the line and a caret
		{"lightning block", lightning, "project.yaml:11:20: workflows.wf.jobs.j.body: SyntaxError", "  11 |           fn(s => s;\n     |                    ^\n"},
		{"v1 expression", v1, "project.yaml:7:24: jobs.j.body: SyntaxError", "   7 |       alterState(s => s;\n     |                        ^\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "project.yaml"), []byte(tc.file), 0o644); err != nil {
				t.Fatal(err)
			}
			code, stdout, _ := runCLI(t, nil, "check", "--project", dir)
			if code != 1 || !strings.Contains(stdout, tc.want) || !strings.Contains(stdout, tc.excerpt) {
				t.Fatalf("exit %d, want 1, %q and the excerpt:\n%s", code, tc.want, stdout)
			}
		})
	}
}

// TestEveryCommandHasHelp: --help (and -h, and `help COMMAND`) exits 0 for
// every command and prints its description, usage and examples to stdout;
// sizes read as the settings are written (10mb); check names --credentials.
func TestEveryCommandHasHelp(t *testing.T) {
	env := map[string]string{"OPENHIM_PASSWORD": "help-secret-123456", "JM_API_TOKEN": "help-token-123456"}
	for _, c := range commands {
		for _, args := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}} {
			code, stdout, stderr := runCLI(t, env, args...)
			if code != 0 {
				t.Errorf("%v: exit %d\n%s%s", args, code, stdout, stderr)
				continue
			}
			for _, want := range []string{"jobmediator " + c.name + ": " + c.summary, c.description, "Usage:\n  " + c.usage, "Examples:\n"} {
				if !strings.Contains(stdout, want) {
					t.Errorf("%v: help lacks %q:\n%s", args, want, stdout)
				}
			}
			if strings.Contains(stdout+stderr, "123456") {
				t.Errorf("%v: a secret from the environment is in the help", args)
			}
		}
	}
	code, stdout, _ := runCLI(t, nil, "--help")
	if code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	for _, c := range commands {
		if !strings.Contains(stdout, "  "+c.name) {
			t.Errorf("--help does not list %s", c.name)
		}
	}
	_, serveHelp, _ := runCLI(t, nil, "serve", "--help")
	if !strings.Contains(serveHelp, "(default 10mb)") {
		t.Errorf("body size limit not shown as 10mb:\n%s", serveHelp)
	}
	for _, c := range commands {
		if c.name == "check" && !strings.Contains(c.usage, "--credentials") {
			t.Errorf("check usage %q does not name --credentials", c.usage)
		}
	}
	// A wrong flag is still a usage error (exit 2), on stderr.
	if code, _, stderr := runCLI(t, nil, "healthcheck", "--nope"); code != 2 || !strings.Contains(stderr, "flag provided but not defined") {
		t.Errorf("bad flag: exit %d %q", code, stderr)
	}
}

// TestCheckReportsEveryStage: settings, options, project and job syntax
// problems all come out of one run of check.
func TestCheckReportsEveryStage(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"project.yaml": `jobs:
  good-syntax-bad-adaptor:
    trigger: t
    adaptor: language-nothing@1.0.0
    expression: fn(s => s;
  inline:
    trigger: t
    adaptor: language-common@1.7.0
    expression: |
      alterState(s => s);
      alterState(s => s;
  from-file:
    trigger: t
    adaptor: language-common@1.7.0
    expression: file://job.js
triggers:
  t:
    criteria: 'not json'
`,
		"job.js":           "fn(s => s);\nfn(s => {\n  return s.x.y\n}))\n",
		"jobmediator.yaml": "bogus: 1\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, stdout, _ := runCLI(t, nil, "check", "--project", dir, "--log-level", "nonsense")
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, stdout)
	}
	for _, want := range []string{
		"settings: LOG_LEVEL/--log-level",        // settings
		"jobmediator.yaml:1: bogus: unknown key", // options
		"triggers.t.criteria",                    // project
		`jobs.good-syntax-bad-adaptor.adaptor: adaptor "language-nothing@1.0.0" is not available`,
		"project.yaml:11:24: jobs.inline.body: SyntaxError", // inline job syntax
		"job.js:4:3: job from-file: SyntaxError",            // job file syntax
		"   4 | }))\n     |   ^\n",
		"6 error(s)",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("check output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Count(stdout, "language-nothing") != 1 {
		t.Errorf("the refused adaptor is reported more than once:\n%s", stdout)
	}
}

// TestRunPointsAtTheLineAndWritesTheStateReached: a run that crashes names
// file:line:column with the source line and a caret (the job file, or the
// project file for an inline body), and -o gets the state the failing
// operation was handed.
func TestRunPointsAtTheLineAndWritesTheStateReached(t *testing.T) {
	dir := t.TempDir()
	job := "fn(s => ({ ...s, reached: 1 }));\nfn(s => { s.more = 2; return s; });\nfn(s => {\n  return nope.x;\n});\n"
	project := `jobs:
  j:
    trigger: t
    adaptor: language-common@1.7.0
    expression: |
      alterState(s => ({ ...s, reached: 'inline' }));
      alterState(s => missing.y);
triggers:
  t:
    criteria: '{"a":1}'
`
	for name, body := range map[string]string{"job.js": job, "project.yaml": project} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "out.json")
	code, _, stderr := runCLI(t, nil, "run", filepath.Join(dir, "job.js"), "-o", out)
	if code != 1 || !strings.Contains(stderr, "job.js:4:10 (job job): ReferenceError: nope is not defined") ||
		!strings.Contains(stderr, "   4 |   return nope.x;\n     |          ^\n") {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("-o not written: %v", err)
	}
	var st map[string]any
	if err := json.Unmarshal(b, &st); err != nil || st["reached"] != float64(1) || st["more"] != float64(2) {
		t.Errorf("state reached: %s", b)
	}
	if !strings.Contains(stderr, "no final state") {
		t.Errorf("the user is not told the file is not a final state:\n%s", stderr)
	}
	code, stdout, stderr := runCLI(t, nil, "run", filepath.Join(dir, "project.yaml"))
	if code != 1 || !strings.Contains(stderr, "project.yaml:7:23 (jobs.j.body): ReferenceError: missing is not defined") ||
		!strings.Contains(stderr, "   7 |       alterState(s => missing.y);\n     |                       ^\n") {
		t.Fatalf("inline: exit %d:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, `"reached": "inline"`) {
		t.Errorf("state reached not printed: %s", stdout)
	}
}

func TestRunStateLimit(t *testing.T) {
	// testdata/state.json is 68 bytes: a 64-byte cap refuses it by name.
	code, _, stderr := runCLI(t, nil, "run", "testdata/double.js", "-s", "testdata/state.json", "--state-limit", "64")
	if code != 1 || !strings.Contains(stderr, "StateTooLargeError") {
		t.Fatalf("--state-limit 64: exit %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, nil, "run", "testdata/double.js", "-s", "testdata/state.json", "--state-limit", "1kb"); code != 0 {
		t.Fatalf("--state-limit 1kb: exit %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, nil, "run", "testdata/double.js", "--state-limit", "lots"); code != 2 || !strings.Contains(stderr, "--state-limit") {
		t.Fatalf("bad --state-limit: exit %d %s", code, stderr)
	}
}
