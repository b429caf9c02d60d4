package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"hello-upstream":   "hello-upstream",
		"Primero to OSCaR": "primero-to-oscar",
		"Primero-to-OSCaR": "primero-to-oscar",
		"  a__b  ":         "a-b",
		"Ünïcode 2":        "n-code-2",
		"!!!":              "workflow",
	} {
		if got := Slug(in); got != want {
			t.Errorf("Slug(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDefaultOptions(t *testing.T) {
	hook := &Workflow{Key: "Inbound Cases", Triggers: []*Trigger{{Key: "w", Type: TriggerWebhook, Enabled: true}}}
	cron := &Workflow{Key: "pull", Triggers: []*Trigger{{Key: "c", Type: TriggerCron, Enabled: true}}}
	o := DefaultOptions(hook, CompatLegacy)
	want := WorkflowOptions{Enabled: true, Path: "/inbound-cases", Methods: []string{"POST"}, Response: ResponseData,
		Compat: CompatLegacy, Retry: RetryPolicy{5, 10 * time.Second, 10 * time.Minute}, Lane: "routed", Timeout: 300 * time.Second, MemoryLimit: 512 << 20}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("webhook defaults = %+v\nwant %+v", o, want)
	}
	if o := DefaultOptions(cron, ""); o.Lane != "scheduled" || o.Compat != "" {
		t.Errorf("cron defaults = %+v", o)
	}
}

// writeProject writes a one-webhook-workflow Lightning project plus the
// given jobmediator.yaml into a temp dir.
func writeProject(t *testing.T, options string) string {
	t.Helper()
	dir := t.TempDir()
	proj := `workflows:
  hello:
    jobs:
      j: { adaptor: '@openfn/language-common', body: 'fn(s => s)' }
    triggers:
      webhook: { type: webhook, enabled: true }
    edges:
      webhook->j: { source_trigger: webhook, target_job: j, condition_type: always, enabled: true }
`
	if err := os.WriteFile(filepath.Join(dir, "project.yaml"), []byte(proj), 0o644); err != nil {
		t.Fatal(err)
	}
	if options != "" {
		if err := os.WriteFile(filepath.Join(dir, "jobmediator.yaml"), []byte(options), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestOptionsMerge(t *testing.T) {
	dir := writeProject(t, `compat: legacy
sensitive_keys: [nationalId]
workflows:
  hello:
    path: /in/hello
    methods: [post, put]
    response: no_content
    async: yes
    retry: { max_attempts: 0, initial_backoff: 30 }
    lane: bulk
    timeout: 2m
    memory_limit: 1.5gb
    enabled: false
    polling: "*/5 * * * *"
`)
	p, err := LoadProject(dir)
	if err != nil {
		t.Fatal(err)
	}
	o := p.Workflows[0].Options
	want := WorkflowOptions{Enabled: false, Path: "/in/hello", Methods: []string{"POST", "PUT"}, Response: ResponseNoContent,
		Async: true, Compat: CompatLegacy, Retry: RetryPolicy{0, 30 * time.Second, 10 * time.Minute}, Lane: "bulk",
		Timeout: 2 * time.Minute, MemoryLimit: 1536 << 20, Polling: "*/5 * * * *"}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("options = %+v\nwant %+v", o, want)
	}
	if p.Compat != CompatLegacy || !reflect.DeepEqual(p.SensitiveKeys, []string{"nationalId"}) {
		t.Errorf("project-wide options: %q %v", p.Compat, p.SensitiveKeys)
	}
	// Per-workflow compat beats the project's.
	dir = writeProject(t, "compat: legacy\nworkflows: { hello: { compat: lightning } }\n")
	p, err = LoadProject(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p.Workflows[0].Options.Compat != CompatLightning || p.EffectiveCompat(p.Workflows[0], nil, CompatLegacy) != CompatLightning {
		t.Errorf("workflow compat = %q", p.Workflows[0].Options.Compat)
	}
	j := p.Workflows[0].Jobs[0]
	j.Compat = CompatLegacy
	if p.EffectiveCompat(p.Workflows[0], j, "") != CompatLegacy {
		t.Error("job compat wins")
	}
}

func TestOptionsExplicitPath(t *testing.T) {
	dir := writeProject(t, "workflows: { hello: { path: /beside } }\n")
	other := filepath.Join(t.TempDir(), "other.yaml")
	os.WriteFile(other, []byte("workflows: { hello: { path: /explicit } }\n"), 0o644)
	p, err := LoadProjectWith(dir, LoadOptions{OptionsPath: other})
	if err != nil {
		t.Fatal(err)
	}
	if p.Workflows[0].Options.Path != "/explicit" || p.OptionsPath != other {
		t.Errorf("explicit options file not used: %+v", p.Workflows[0].Options)
	}
	_, err = LoadProjectWith(dir, LoadOptions{OptionsPath: other + ".missing"})
	if err == nil || !strings.Contains(err.Error(), "cannot read") {
		t.Errorf("missing explicit options file: %v", err)
	}
}

func TestReservedAndConflictingPaths(t *testing.T) {
	for _, path := range []string{"/healthz", "/readyz", "/uptime", "/api", "/api/x", "/metrics"} {
		dir := writeProject(t, "workflows: { hello: { path: '"+path+"' } }\n")
		_, err := LoadProject(dir)
		if err == nil || !strings.Contains(err.Error(), "is reserved for Job Mediator's own") {
			t.Errorf("path %s: %v", path, err)
		}
	}
	for _, path := range []string{"/apiary", "/health", "/x/api"} {
		dir := writeProject(t, "workflows: { hello: { path: '"+path+"' } }\n")
		if _, err := LoadProject(dir); err != nil {
			t.Errorf("path %s refused: %v", path, err)
		}
	}
}

func TestAdaptorSyntax(t *testing.T) {
	ok := map[string]string{
		"@openfn/language-http@7.3.2":    "@openfn/language-http@7.3.2",
		"@openfn/language-http":          "@openfn/language-http",
		"@openfn/language-common@latest": "@openfn/language-common@latest",
		"http":                           "@openfn/language-http",
		"http@7":                         "@openfn/language-http@7",
		"language-dhis2@8.2.1":           "@openfn/language-dhis2@8.2.1",
		"fhir-4@0.5.0-beta.1":            "@openfn/language-fhir-4@0.5.0-beta.1",
	}
	for in, want := range ok {
		if err := CheckAdaptorSyntax(in); err != nil {
			t.Errorf("CheckAdaptorSyntax(%q) = %v", in, err)
		}
		if got := ExpandAdaptor(in); got != want {
			t.Errorf("ExpandAdaptor(%q) = %q, want %q", in, got, want)
		}
	}
	for _, bad := range []string{"", "@openfn/language-http@seven", "language common", "@other/language-x", "http@^7", "@openfn/language-http=/tmp/x", "HTTP"} {
		if err := CheckAdaptorSyntax(bad); err == nil {
			t.Errorf("CheckAdaptorSyntax(%q) accepted", bad)
		}
	}
}

func TestValidateAdaptorHook(t *testing.T) {
	var seen []string
	_, err := LoadProjectWith("testdata/lightning", LoadOptions{ValidateAdaptor: func(spec string) error {
		seen = append(seen, spec)
		if strings.Contains(spec, "primero") {
			return errors.New("adaptor primero is not available")
		}
		return nil
	}})
	if len(seen) != 4 {
		t.Errorf("validator saw %v", seen)
	}
	var ves ValidationErrors
	if !errors.As(err, &ves) || len(ves) != 1 || ves[0].Line != 11 || ves[0].Field != "workflows.Primero-to-OSCaR.jobs.f1-j1-getPrimeroCases.adaptor" {
		t.Errorf("registry error = %#v", err)
	}
}

func TestValidationErrorFormat(t *testing.T) {
	tests := []struct {
		e    ValidationError
		want string
	}{
		{ValidationError{File: "p.yaml", Line: 3, Field: "jobs.a", Message: "bad", Fix: "fix it"}, "p.yaml:3: jobs.a: bad (fix: fix it)"},
		{ValidationError{File: "p.yaml", Line: 3, Column: 7, Field: "jobs.a", Message: "bad"}, "p.yaml:3:7: jobs.a: bad"},
		{ValidationError{File: "p.yaml", Field: "jobs.a", Message: "bad"}, "p.yaml: jobs.a: bad"},
		{ValidationError{Message: "bad"}, "bad"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	es := ValidationErrors{tests[0].e, tests[1].e}
	if es.Error() != tests[0].want+"\n"+tests[1].want {
		t.Errorf("ValidationErrors.Error() = %q", es.Error())
	}
}

func TestLoadProjectNotFound(t *testing.T) {
	for path, want := range map[string]string{
		"testdata/nope":                   "project not found",
		"testdata/check/..":               "directory holds no project file",
		"testdata/credentials/creds.yaml": "cannot tell the project format",
	} {
		_, err := LoadProject(path)
		if err == nil || (want != "" && !strings.Contains(err.Error(), want)) {
			t.Errorf("LoadProject(%s) = %v, want %q", path, err, want)
		}
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "project.yaml"), []byte("hello: world\n"), 0o644)
	if _, err := LoadProject(dir); err == nil || !strings.Contains(err.Error(), "cannot tell the project format") {
		t.Errorf("unknown format: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "project.yaml"), []byte("# only a comment\n"), 0o644)
	if _, err := LoadProject(dir); err == nil || !strings.Contains(err.Error(), "file is empty") {
		t.Errorf("empty file: %v", err)
	}
}

func TestCheckGolden(t *testing.T) {
	s := DefaultSettings()
	s.ProjectPath = "testdata/check"
	s.CredentialsPath = "testdata/check/credentials.yaml"
	s.OpenHIMURL = "ftp://openhim"
	s.OpenHIMUsername = "root@openhim.org"
	envErrs := []error{ValidationError{File: "environment", Field: "SERVER_PORT", Message: `"x" is not a port number`, Fix: "use a number from 1 to 65535"}}
	r := Check(s, envErrs, nil)
	var b bytes.Buffer
	if err := r.Write(&b); err != nil {
		t.Fatal(err)
	}
	if r.OK() || strings.Contains(b.String(), "check-secret") {
		t.Errorf("check output:\n%s", b.String())
	}
	golden(t, "check-errors", b.String())

	// A clean deployment: the example project with its credentials.
	s = DefaultSettings()
	s.ProjectPath = filepath.Join("..", "examples", "hello-upstream")
	s.CredentialsPath = filepath.Join(s.ProjectPath, "credentials.example.yaml")
	r = Check(s, nil, nil)
	b.Reset()
	r.Write(&b)
	if !r.OK() || len(r.Warnings) != 0 {
		t.Errorf("example project does not check clean:\n%s", b.String())
	}
	golden(t, "check-ok", b.String())
}

func BenchmarkLoadProjectLightning(b *testing.B) {
	for b.Loop() {
		if _, err := LoadProject("testdata/lightning"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadProjectPlan(b *testing.B) {
	for b.Loop() {
		if _, err := LoadProject("testdata/plan/workflow.json"); err != nil {
			b.Fatal(err)
		}
	}
}

// docs/reference-options.md is what the option tables produce. Regenerate
// with `go generate ./config`.
func TestOptionsReference(t *testing.T) {
	const doc = "../docs/reference-options.md"
	got := OptionsMarkdown()
	if *update {
		if err := os.WriteFile(doc, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(doc)
	if err != nil {
		t.Fatalf("%v: run go generate ./config", err)
	}
	if string(want) != got {
		t.Fatalf("%s differs from config/optionspec.go: run go generate ./config", doc)
	}
}

// Every declared workflow option is read, applied and documented: the
// example the docs show is a valid file that sets every option, and each
// one lands in the workflow's options.
func TestEveryOptionIsReadAndApplied(t *testing.T) {
	md := OptionsMarkdown()
	i := strings.Index(md, "```yaml\n")
	example := md[i+len("```yaml\n") : strings.LastIndex(md, "```")]
	dir := t.TempDir()
	path := filepath.Join(dir, "jobmediator.yaml")
	if err := os.WriteFile(path, []byte(example), 0o644); err != nil {
		t.Fatal(err)
	}
	mo, err := LoadMediatorOptions(path)
	if err != nil {
		t.Fatalf("the docs' example does not load: %v\n%s", err, example)
	}
	if len(mo.Workflows) != 1 {
		t.Fatalf("workflows %+v", mo.Workflows)
	}
	o := mo.Workflows[0]
	for _, s := range WorkflowOptionSpecs {
		if _, set := o.Set[s.Key]; !set {
			t.Errorf("option %s in the example was not read", s.Key)
		}
		if s.read == nil || s.apply == nil || s.Doc == "" || s.Takes == "" || s.Example == "" {
			t.Errorf("option %s is not fully declared", s.Key)
		}
	}
	var applied WorkflowOptions
	applyOverride(&applied, o)
	want := WorkflowOptions{Path: "/hello", Methods: []string{"POST"}, Response: ResponseData, Compat: CompatLightning,
		Retry: RetryPolicy{5, 10 * time.Second, 10 * time.Minute}, Lane: "routed", Timeout: 300 * time.Second,
		MemoryLimit: 512 << 20, Enabled: true, Polling: "*/15 * * * *", Overlap: "skip", TimeZone: "Asia/Phnom_Penh",
		Inbox:     []InboxMethod{{Type: InboxAPIKey, Credential: "partner-key"}},
		RateLimit: RateLimit{Requests: 60, Per: time.Minute},
		Notify:    NotifyOptions{Events: []string{"run_failed", "dead_letter"}, Email: []string{"ops@example.org"}}}
	if !reflect.DeepEqual(applied, want) {
		t.Errorf("applied %+v\nwant    %+v", applied, want)
	}
}
