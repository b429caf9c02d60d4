// Package deploy holds no Go code: it is the OpenHIE deployment package for
// Job Mediator (a local docker compose stack, a jembi/platform package and
// OpenHIM metadata). These tests validate those files by parsing them, since
// no Docker engine runs in CI: settings must be ones Job Mediator reads,
// images pinned, secrets only documented placeholders, the imported channel
// identical to what the mediator registers, and the shell scripts sound.
package deploy

import (
	"bytes"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/mediator"
)

// Files under test, relative to this directory.
const (
	localCompose    = "docker-compose.yml"
	pkgDir          = "platform/jobmediator"
	pkgCompose      = pkgDir + "/docker-compose.yml"
	pkgDevCompose   = pkgDir + "/docker-compose.dev.yml"
	pkgImporter     = pkgDir + "/importer/docker-compose.config.yml"
	pkgMetadata     = pkgDir + "/package-metadata.json"
	pkgSwarm        = pkgDir + "/swarm.sh"
	localImport     = "openhim/openhim-import.json"
	pkgImport       = pkgDir + "/importer/volume/openhim-import.json"
	localImportSh   = "openhim/import.sh"
	pkgImportSh     = pkgDir + "/importer/volume/import.sh"
	deployDoc       = "../docs/deploy.md"
	dockerfile      = "../Dockerfile"
	serviceName     = "jobmediator"
	exampleInImage  = "/examples/hello-upstream"
	exampleInRepo   = "../examples/hello-upstream"
	placeholderNote = "documented placeholders (listed in docs/deploy.md)"
)

// placeholders are the only secret values the deployment files may hold;
// each must appear in docs/deploy.md, which tells operators to change it.
var placeholders = []string{
	"openhim-password",             // OpenHIM core's default root password (local stack)
	"instant101",                   // jembi/platform's root password for core
	"jobmediator-client-change-me", // the demo OpenHIM client's password
	"demo-upstream-change-me",      // the demo upstream credential (echo server)
}

var composeFiles = []string{localCompose, pkgCompose, pkgDevCompose, pkgImporter}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return b
}

func readYAML(t *testing.T, path string) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(readFile(t, path), &doc); err != nil {
		t.Fatalf("%s: not valid YAML: %v", path, err)
	}
	if doc == nil {
		t.Fatalf("%s: empty", path)
	}
	return doc
}

func services(t *testing.T, path string) map[string]map[string]any {
	t.Helper()
	doc := readYAML(t, path)
	raw, ok := doc["services"].(map[string]any)
	if !ok || len(raw) == 0 {
		t.Fatalf("%s: no services", path)
	}
	out := map[string]map[string]any{}
	for name, s := range raw {
		m, ok := s.(map[string]any)
		if !ok {
			t.Fatalf("%s: service %s is not a mapping", path, name)
		}
		out[name] = m
	}
	return out
}

// environment returns a service's environment in either compose spelling
// (mapping, or list of KEY=VALUE).
func environment(t *testing.T, file, svc string, s map[string]any) map[string]string {
	t.Helper()
	env := map[string]string{}
	switch e := s["environment"].(type) {
	case nil:
	case map[string]any:
		for k, v := range e {
			switch v := v.(type) {
			case string:
				env[k] = v
			case nil:
				env[k] = ""
			default:
				// Compose turns numbers and booleans into strings, but
				// YAML 1.1 readers disagree on yes/no: insist on quotes.
				t.Errorf("%s: %s: environment %s: value %v is a %T; quote it", file, svc, k, v, v)
				env[k] = fmt.Sprint(v)
			}
		}
	case []any:
		for _, item := range e {
			str, _ := item.(string)
			k, v, _ := strings.Cut(str, "=")
			env[k] = v
		}
	default:
		t.Fatalf("%s: %s: environment is a %T", file, svc, e)
	}
	return env
}

// readSettings lists every environment variable config.SettingsFromEnv asks
// for, so the allowed set follows the code. It repeats with every name seen
// set to a value, in case a variable is only read when another one is set.
func readSettings(t *testing.T) map[string]bool {
	t.Helper()
	seen := map[string]bool{}
	for {
		before := len(seen)
		set := map[string]bool{}
		for k := range seen {
			set[k] = true
		}
		config.SettingsFromEnv(func(name string) string {
			seen[name] = true
			if set[name] {
				return "1"
			}
			return ""
		})
		if len(seen) == before {
			break
		}
	}
	if len(seen) < 10 || !seen["OPENHIM_PASSWORD"] || !seen["JM_PROJECT"] {
		t.Fatalf("recording getenv saw only %v: SettingsFromEnv changed shape", keys(seen))
	}
	return seen
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// refRE matches ${VAR}, ${VAR-x}, ${VAR:-x}, ${VAR?x}, ${VAR:?x}: the name,
// the operator and its word.
var refRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}`)

// resolve expands ${VAR}, ${VAR:-default} and ${VAR:?err} the way compose
// does with an environment holding only vars.
func resolve(s string, vars map[string]string) string {
	return refRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := refRE.FindStringSubmatch(m)
		if v, ok := vars[sub[1]]; ok && v != "" {
			return v
		}
		if strings.HasSuffix(sub[2], "-") {
			return sub[3]
		}
		return ""
	})
}

type pkgMeta struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	Description          string         `json:"description"`
	Type                 string         `json:"type"`
	Version              string         `json:"version"`
	Dependencies         []string       `json:"dependencies"`
	EnvironmentVariables map[string]any `json:"environmentVariables"`
}

func metadata(t *testing.T) (pkgMeta, map[string]string) {
	t.Helper()
	var m pkgMeta
	dec := json.NewDecoder(bytes.NewReader(readFile(t, pkgMetadata)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%s: %v", pkgMetadata, err)
	}
	env := map[string]string{}
	for k, v := range m.EnvironmentVariables {
		s, ok := v.(string)
		if !ok {
			t.Errorf("%s: %s is a %T; the platform passes env as strings, quote it", pkgMetadata, k, v)
			s = fmt.Sprint(v)
		}
		env[k] = s
	}
	return m, env
}

// dockerfileEnv is the ENV the image sets (the compose env is layered on it).
func dockerfileEnv(t *testing.T) map[string]string {
	t.Helper()
	text := strings.ReplaceAll(string(readFile(t, dockerfile)), "\\\n", " ")
	env := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "ENV" {
			continue
		}
		for _, kv := range f[1:] {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
	}
	if env["JM_PROJECT"] == "" {
		t.Fatalf("%s: no ENV JM_PROJECT found; parser out of date", dockerfile)
	}
	return env
}

func TestJobmediatorEnvironmentIsReadByJobMediator(t *testing.T) {
	allowed := readSettings(t)
	for _, file := range []string{localCompose, pkgCompose, pkgDevCompose} {
		svcs := services(t, file)
		s, ok := svcs[serviceName]
		if !ok {
			t.Fatalf("%s: no %s service", file, serviceName)
		}
		for k := range environment(t, file, serviceName, s) {
			if !allowed[k] {
				t.Errorf("%s: %s sets %s, which Job Mediator does not read (settings: %v)", file, serviceName, k, keys(allowed))
			}
		}
	}
}

func TestPackageMetadata(t *testing.T) {
	allowed := readSettings(t)
	m, env := metadata(t)
	if m.ID != "jobmediator" || m.Name == "" || m.Description == "" || m.Version == "" {
		t.Errorf("id/name/description/version: %+v", m)
	}
	if !reflect.DeepEqual(m.Dependencies, []string{"interoperability-layer-openhim"}) {
		t.Errorf("dependencies = %v", m.Dependencies)
	}
	for _, k := range []string{"JOBMEDIATOR_IMAGE", "JOBMEDIATOR_INSTANCES", "OPENHIM_MEDIATOR_URL", "TRUST_SELF_SIGNED",
		"OPENHIM_USERNAME", "OPENHIM_PASSWORD", "REGISTER_MEDIATOR", "MEDIATOR_HOST", "JM_PROJECT", "MONGO_URL"} {
		if _, ok := env[k]; !ok {
			t.Errorf("environmentVariables lacks %s", k)
		}
	}
	if env["OPENHIM_MEDIATOR_URL"] != "https://openhim-core:8080" {
		t.Errorf("OPENHIM_MEDIATOR_URL = %q", env["OPENHIM_MEDIATOR_URL"])
	}
	if env["MEDIATOR_HOST"] != serviceName {
		t.Errorf("MEDIATOR_HOST = %q, want the swarm service name %q (core routes to it)", env["MEDIATOR_HOST"], serviceName)
	}
	if n, err := strconv.Atoi(env["JOBMEDIATOR_INSTANCES"]); err != nil || n < 1 {
		t.Errorf("JOBMEDIATOR_INSTANCES = %q", env["JOBMEDIATOR_INSTANCES"])
	} else if n > 1 && env["MONGO_URL"] == "" {
		t.Errorf("JOBMEDIATOR_INSTANCES = %d without MONGO_URL: replicas would not share their queue", n)
	}

	// Where each variable is used in the package's compose files.
	inEnv := map[string]bool{}     // passed through to the container
	elsewhere := map[string]bool{} // package knobs: image, replicas, ...
	referenced := map[string]bool{}
	for _, file := range []string{pkgCompose, pkgDevCompose, pkgImporter} {
		text := string(readFile(t, file))
		for _, sub := range refRE.FindAllStringSubmatch(text, -1) {
			referenced[sub[1]] = true
		}
		for name, s := range services(t, file) {
			envBlock := environment(t, file, name, s)
			if name == serviceName {
				for k, v := range envBlock {
					if v != "${"+k+"}" {
						t.Errorf("%s: %s=%q: pass each variable through under its own name (${%s})", file, k, v, k)
					}
					inEnv[k] = true
				}
			}
			rest := map[string]any{}
			for k, v := range s {
				if k != "environment" {
					rest[k] = v
				}
			}
			b, _ := yaml.Marshal(rest)
			for _, sub := range refRE.FindAllStringSubmatch(string(b), -1) {
				elsewhere[sub[1]] = true
			}
		}
	}
	for k := range referenced {
		if _, ok := env[k]; !ok && !strings.HasSuffix(k, "_DIGEST") {
			t.Errorf("package compose files use ${%s}, which package-metadata.json does not define", k)
		}
	}
	for _, k := range keys(env) {
		switch {
		case allowed[k]:
			if !inEnv[k] {
				t.Errorf("%s: setting %s is not passed to the %s service in %s", pkgMetadata, k, serviceName, pkgCompose)
			}
		case elsewhere[k]:
			if !strings.HasPrefix(k, "JOBMEDIATOR_") {
				t.Errorf("%s: package knob %s should be prefixed JOBMEDIATOR_ (platform env is one namespace)", pkgMetadata, k)
			}
		default:
			t.Errorf("%s: %s is neither a setting Job Mediator reads nor used by the package's compose files", pkgMetadata, k)
		}
	}

	// The defaults, on top of the image's ENV, must be settings the daemon accepts.
	full := dockerfileEnv(t)
	for k, v := range env {
		if allowed[k] && v != "" {
			full[k] = v
		}
	}
	checkSettings(t, pkgMetadata, full)
}

// checkSettings runs the environment through the daemon's own parsing and
// validation.
func checkSettings(t *testing.T, what string, env map[string]string) config.Settings {
	t.Helper()
	s, errs := config.SettingsFromEnv(func(k string) string { return env[k] })
	errs = append(errs, s.Validate()...)
	for _, err := range errs {
		t.Errorf("%s: Job Mediator would refuse these settings: %v", what, err)
	}
	return s
}

func TestLocalStack(t *testing.T) {
	svcs := services(t, localCompose)
	for _, name := range []string{"mongo", "openhim-core", "openhim-console", "openhim-config", serviceName} {
		if _, ok := svcs[name]; !ok {
			t.Fatalf("%s: no %s service", localCompose, name)
		}
	}
	// depends_on: healthy only where the dependency has a healthcheck.
	for name, s := range svcs {
		deps, _ := s["depends_on"].(map[string]any)
		for dep, c := range deps {
			target, ok := svcs[dep]
			if !ok {
				t.Errorf("%s depends on unknown service %s", name, dep)
				continue
			}
			cond, _ := c.(map[string]any)["condition"].(string)
			switch cond {
			case "service_healthy":
				if target["healthcheck"] == nil {
					t.Errorf("%s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
				}
			case "service_completed_successfully", "service_started":
			default:
				t.Errorf("%s depends on %s with condition %q", name, dep, cond)
			}
		}
	}
	jm := svcs[serviceName]
	env := environment(t, localCompose, serviceName, jm)
	want := map[string]string{
		"JM_PROJECT":        exampleInImage,
		"OPENHIM_URL":       "https://openhim-core:8080",
		"TRUST_SELF_SIGNED": "true",
		"MEDIATOR_HOST":     serviceName,
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s: %s=%q, want %q", serviceName, k, env[k], v)
		}
	}
	if deps, _ := jm["depends_on"].(map[string]any); deps["openhim-config"] == nil || deps["openhim-core"] == nil {
		t.Errorf("%s should start after core is healthy and the import completed: %v", serviceName, deps)
	}
	if b, ok := jm["build"].(map[string]any); !ok || b["context"] != ".." || b["dockerfile"] != "Dockerfile" {
		t.Errorf("%s: build = %v, want the repository's Dockerfile", serviceName, jm["build"])
	}

	// MongoDB: the same server as core, another database.
	core := environment(t, localCompose, "openhim-core", svcs["openhim-core"])
	coreMongo, err1 := url.Parse(core["mongo_url"])
	jmMongo, err2 := url.Parse(env["MONGO_URL"])
	if err1 != nil || err2 != nil || coreMongo.Host == "" || coreMongo.Host != jmMongo.Host {
		t.Errorf("MONGO_URL %q and core's mongo_url %q should name the same server", env["MONGO_URL"], core["mongo_url"])
	} else {
		if host, _, _ := strings.Cut(jmMongo.Host, ":"); svcs[host] == nil {
			t.Errorf("MONGO_URL host %q is not a service of the stack", host)
		}
		if jmMongo.Path != "/jobmediator" || coreMongo.Path == jmMongo.Path {
			t.Errorf("databases: core %q, Job Mediator %q; want Job Mediator in /jobmediator", coreMongo.Path, jmMongo.Path)
		}
	}
	var authTypes []string
	if err := json.Unmarshal([]byte(core["api_authenticationTypes"]), &authTypes); err != nil {
		t.Errorf("api_authenticationTypes %q is not JSON: %v", core["api_authenticationTypes"], err)
	} else if !contains(authTypes, "basic") {
		t.Errorf("api_authenticationTypes %v lacks basic (Job Mediator and the importer use Basic)", authTypes)
	}
	if img, _ := svcs["openhim-core"]["image"].(string); !strings.HasPrefix(img, "jembi/openhim-core:v8.") {
		t.Errorf("openhim-core image %q is not of the 8.x line", img)
	}

	// The project and the mounted files exist; the credentials load and
	// cover what the project needs.
	if _, err := os.Stat(filepath.Join(exampleInRepo, "project.yaml")); err != nil {
		t.Errorf("JM_PROJECT %s: %v", exampleInImage, err)
	}
	mounts := map[string]string{}
	for name, s := range svcs {
		vols, _ := s["volumes"].([]any)
		for _, v := range vols {
			str, _ := v.(string)
			parts := strings.Split(str, ":")
			if len(parts) < 2 || !strings.HasPrefix(parts[0], ".") {
				continue // named volume
			}
			if _, err := os.Stat(parts[0]); err != nil {
				t.Errorf("%s mounts %s: %v", name, parts[0], err)
			}
			mounts[parts[1]] = parts[0]
		}
	}
	credFile, ok := mounts[env["JM_CREDENTIALS"]]
	if !ok {
		t.Fatalf("JM_CREDENTIALS %q is not a mounted file", env["JM_CREDENTIALS"])
	}
	creds, err := config.LoadCredentials(credFile)
	if err != nil {
		t.Fatalf("%s: %v", credFile, err)
	}
	project := loadExample(t)
	for _, key := range project.Credentials {
		fields, ok := creds.Get(key)
		if !ok {
			t.Errorf("%s lacks credential %q the project uses", credFile, key)
			continue
		}
		if u, _ := fields["baseUrl"].(string); u != "" {
			pu, err := url.Parse(u)
			if host, _, _ := strings.Cut(pu.Host, ":"); err != nil || svcs[host] == nil {
				t.Errorf("credential %s baseUrl %q is not a service of the stack", key, u)
			}
		}
	}

	// The whole environment, as the container sees it, is accepted.
	full := dockerfileEnv(t)
	for k, v := range env {
		full[k] = resolve(v, nil)
	}
	full["JM_CREDENTIALS"] = ""        // a path inside the container
	full["JM_PROJECT"] = exampleInRepo // Validate does not stat it, but keep it real
	s := checkSettings(t, localCompose, full)
	if !s.Register || !s.TrustSelfSigned {
		t.Errorf("settings: register=%v trustSelfSigned=%v", s.Register, s.TrustSelfSigned)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var tagRE = regexp.MustCompile(`^[a-z0-9]+(?:[._/-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9._-]+)*:([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})(?:@sha256:[0-9a-f]{64})?$`)

// pinned reports why an image reference is not pinned, or "".
func pinned(image string) string {
	switch {
	case image == "":
		return "no image"
	case strings.Contains(image, "${"):
		return "unresolved variable"
	}
	m := tagRE.FindStringSubmatch(image)
	if m == nil {
		if regexp.MustCompile(`@sha256:[0-9a-f]{64}$`).MatchString(image) {
			return ""
		}
		return "no tag"
	}
	if m[1] == "latest" {
		return "tag latest moves"
	}
	return ""
}

func TestPinned(t *testing.T) {
	for _, tc := range []struct {
		image string
		ok    bool
	}{
		{"mongo:4.4.29", true},
		{"jembi/openhim-core:v8.5.0", true},
		{"registry.example.org:5000/team/jm:1.2", true},
		{"mongo@sha256:" + strings.Repeat("a", 64), true},
		{"mongo", false},
		{"mongo:latest", false},
		{"jembi/openhim-core", false},
		{"registry.example.org:5000/team/jm", false},
		{"${JOBMEDIATOR_IMAGE}", false},
		{"", false},
	} {
		if got := pinned(tc.image) == ""; got != tc.ok {
			t.Errorf("pinned(%q) = %q, want ok=%v", tc.image, pinned(tc.image), tc.ok)
		}
	}
}

func TestImagesArePinned(t *testing.T) {
	_, env := metadata(t)
	for _, file := range composeFiles {
		for name, s := range services(t, file) {
			img, _ := s["image"].(string)
			if file == pkgDevCompose && img == "" {
				continue // an override file adds ports only
			}
			if img == "" && s["build"] != nil {
				t.Errorf("%s: %s builds without an image name", file, name)
				continue
			}
			if why := pinned(resolve(img, env)); why != "" {
				t.Errorf("%s: %s image %q (resolved %q): %s", file, name, img, resolve(img, env), why)
			}
		}
	}
}

// TestHealthcheckUsesBinary: the image is distroless (no shell, no curl), so
// the only healthcheck that works is the binary's own sub-command, at the
// path the Dockerfile installs it.
func TestHealthcheckUsesBinary(t *testing.T) {
	df := string(readFile(t, dockerfile))
	if !strings.Contains(df, `ENTRYPOINT ["/jobmediator"]`) || !strings.Contains(df, `CMD ["/jobmediator", "healthcheck"]`) {
		t.Fatalf("%s no longer installs /jobmediator with a healthcheck sub-command", dockerfile)
	}
	want := []any{"CMD", "/jobmediator", "healthcheck"}
	for _, file := range []string{localCompose, pkgCompose} {
		s := services(t, file)[serviceName]
		hc, _ := s["healthcheck"].(map[string]any)
		if hc == nil || !reflect.DeepEqual(hc["test"], want) {
			t.Errorf("%s: %s healthcheck test = %v, want %v", file, serviceName, hc["test"], want)
		}
	}
}

func TestPackageCompose(t *testing.T) {
	doc := readYAML(t, pkgCompose)
	s := services(t, pkgCompose)[serviceName]
	if s["ports"] != nil {
		t.Errorf("%s publishes ports; production traffic goes through core", pkgCompose)
	}
	d, _ := s["deploy"].(map[string]any)
	if d["replicas"] != "${JOBMEDIATOR_INSTANCES}" {
		t.Errorf("deploy.replicas = %v", d["replicas"])
	}
	nets, _ := doc["networks"].(map[string]any)
	found := false
	for _, n := range nets {
		m, _ := n.(map[string]any)
		if m["name"] == "openhim_public" && m["external"] == true {
			found = true
		}
	}
	if !found {
		t.Errorf("%s does not join the external openhim_public network: %v", pkgCompose, nets)
	}
	dev := services(t, pkgDevCompose)[serviceName]
	ports, _ := dev["ports"].([]any)
	if len(ports) != 1 || fmt.Sprint(ports[0].(map[string]any)["target"]) != "4001" {
		t.Errorf("%s ports = %v, want 4001", pkgDevCompose, dev["ports"])
	}
	// The importer's swarm configs point at files that exist.
	imp := readYAML(t, pkgImporter)
	cfgs, _ := imp["configs"].(map[string]any)
	if len(cfgs) == 0 {
		t.Fatalf("%s has no configs", pkgImporter)
	}
	for name, c := range cfgs {
		f, _ := c.(map[string]any)["file"].(string)
		if _, err := os.Stat(filepath.Join(filepath.Dir(pkgImporter), f)); err != nil {
			t.Errorf("config %s: %v", name, err)
		}
	}
}

// importDoc is what POST /metadata takes; only these collections exist.
type importDoc struct {
	Clients       []importClient     `json:"Clients"`
	Channels      []mediator.Channel `json:"Channels"`
	Users         []json.RawMessage  `json:"Users,omitempty"`
	Mediators     []json.RawMessage  `json:"Mediators,omitempty"`
	ContactGroups []json.RawMessage  `json:"ContactGroups,omitempty"`
}

type importClient struct {
	ClientID          string   `json:"clientID"`
	Name              string   `json:"name"`
	Roles             []string `json:"roles"`
	PasswordAlgorithm string   `json:"passwordAlgorithm"`
	PasswordHash      string   `json:"passwordHash"`
	PasswordSalt      string   `json:"passwordSalt"`
}

func loadExample(t *testing.T) *config.Project {
	t.Helper()
	p, err := config.LoadProjectWith(exampleInRepo, config.LoadOptions{})
	if err != nil {
		t.Fatalf("load %s: %v", exampleInRepo, err)
	}
	return p
}

// expectedChannels is the defaultChannelConfig the mediator registers for
// hello-upstream when deployed with the given settings, derived as the
// daemon derives it (daemon.registration).
func expectedChannels(t *testing.T, s config.Settings) []mediator.Channel {
	t.Helper()
	p := loadExample(t)
	var specs []mediator.ChannelSpec
	for _, wf := range p.Workflows {
		cron := false
		for _, tr := range wf.Triggers {
			cron = cron || (tr.Enabled && tr.Type == config.TriggerCron)
		}
		if !wf.ServedOverHTTP() && wf.Options.Polling == "" && !cron {
			continue
		}
		specs = append(specs, mediator.ChannelSpec{Workflow: wf.Key, Path: wf.Options.Path, Methods: wf.Options.Methods,
			Async: wf.Options.Async, Polling: wf.Options.Polling, Timeout: wf.Options.Timeout})
	}
	reg := mediator.BuildRegistration(mediator.Identity{URN: s.URN, Name: s.MediatorName, Version: "1.0.0",
		RouteHost: s.RouteHost, RoutePort: s.EffectiveRoutePort()}, specs, nil, nil)
	if len(reg.DefaultChannelConfig) == 0 {
		t.Fatal("hello-upstream registers no channel")
	}
	return reg.DefaultChannelConfig
}

func TestOpenHIMImport(t *testing.T) {
	doc := string(readFile(t, deployDoc))
	_, pkgEnv := metadata(t)
	localEnv := environment(t, localCompose, serviceName, services(t, localCompose)[serviceName])
	for _, tc := range []struct {
		file string
		env  map[string]string
	}{{localImport, localEnv}, {pkgImport, pkgEnv}} {
		t.Run(tc.file, func(t *testing.T) {
			var d importDoc
			dec := json.NewDecoder(bytes.NewReader(readFile(t, tc.file)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&d); err != nil {
				t.Fatalf("%s: %v", tc.file, err)
			}
			if len(d.Users) > 0 {
				t.Errorf("%s imports Users: it would ship password hashes of API users", tc.file)
			}
			if len(d.Clients) == 0 {
				t.Fatalf("%s has no client", tc.file)
			}
			for _, c := range d.Clients {
				if c.ClientID == "" || c.Name == "" {
					t.Errorf("client %+v lacks clientID or name", c)
				}
				if !contains(c.Roles, mediator.DefaultAllowRole) {
					t.Errorf("client %s roles %v lack %q, the role Job Mediator's channels allow", c.ClientID, c.Roles, mediator.DefaultAllowRole)
				}
				pw := clientPassword(c)
				if pw == "" {
					t.Errorf("client %s: passwordHash is not sha512(password+salt) of any documented placeholder", c.ClientID)
				} else if !strings.Contains(doc, pw) || !strings.Contains(doc, c.ClientID) {
					t.Errorf("client %s and its placeholder password %q must be documented in %s", c.ClientID, pw, deployDoc)
				}
			}

			env := dockerfileEnv(t)
			for k, v := range tc.env {
				if v = resolve(v, nil); v != "" {
					env[k] = v
				}
			}
			s, _ := config.SettingsFromEnv(func(k string) string { return env[k] })
			want := expectedChannels(t, s)
			if len(d.Channels) != len(want) {
				t.Fatalf("%s has %d channels, the mediator registers %d", tc.file, len(d.Channels), len(want))
			}
			for i, got := range d.Channels {
				w := want[i]
				if got.URLPattern != w.URLPattern || !reflect.DeepEqual(got.Methods, w.Methods) ||
					len(got.Routes) != 1 || got.Routes[0].Path != w.Routes[0].Path {
					t.Errorf("channel %q: urlPattern %q methods %v routes %+v; registration has %q %v %+v",
						got.Name, got.URLPattern, got.Methods, got.Routes, w.URLPattern, w.Methods, w.Routes)
				}
				// Identical otherwise too, so whichever of the import and the
				// mediator's own install comes first, the channel is the same.
				got.Description, w.Description = "", ""
				if !reflect.DeepEqual(got, w) {
					gb, _ := json.MarshalIndent(got, "", "  ")
					wb, _ := json.MarshalIndent(w, "", "  ")
					t.Errorf("channel %d differs from the registration's default channel:\n got %s\nwant %s", i, gb, wb)
				}
			}
			// Core's own checks on channels, through the registration validator.
			reg := mediator.Registration{URN: "urn:test", Version: "1.0.0", Name: "test",
				Endpoints: d.Channels[0].Routes, DefaultChannelConfig: d.Channels}
			if err := reg.Validate(); err != nil {
				t.Errorf("%s channels: %v", tc.file, err)
			}
		})
	}
}

// clientPassword finds the placeholder whose hash the client carries (core
// checks Basic auth for sha512 clients as hex(sha512(password + salt))).
func clientPassword(c importClient) string {
	if c.PasswordAlgorithm != "sha512" || c.PasswordSalt == "" {
		return ""
	}
	for _, p := range placeholders {
		sum := sha512.Sum512([]byte(p + c.PasswordSalt))
		if hex.EncodeToString(sum[:]) == c.PasswordHash {
			return p
		}
	}
	return ""
}

// Copies are kept because a platform package is deployed on its own; they
// must not drift from the local stack's files.
func TestCopiesInSync(t *testing.T) {
	for _, pair := range [][2]string{{localImport, pkgImport}, {localImportSh, pkgImportSh}} {
		if !bytes.Equal(readFile(t, pair[0]), readFile(t, pair[1])) {
			t.Errorf("%s and %s differ; keep them identical", pair[0], pair[1])
		}
	}
}

var secretName = regexp.MustCompile(`(?i)(password|passwd|secret|token|api_?key|private_?key|credential)`)

// secretProblems lists secret-looking values in a parsed document (YAML or
// JSON) that are neither empty, a variable reference, nor a documented
// placeholder; also URLs carrying a password.
func secretProblems(v any, path string) []string {
	var out []string
	var walk func(v any, path, key string)
	walk = func(v any, path, key string) {
		switch t := v.(type) {
		case map[string]any:
			for k, c := range t {
				walk(c, path+"."+k, k)
			}
		case []any:
			for i, c := range t {
				// list-form environment: KEY=VALUE
				if s, ok := c.(string); ok {
					if k, val, ok := strings.Cut(s, "="); ok && secretName.MatchString(k) && !strings.Contains(k, " ") {
						walk(val, fmt.Sprintf("%s[%d]", path, i), k)
						continue
					}
				}
				walk(c, fmt.Sprintf("%s[%d]", path, i), key)
			}
		case string:
			if u, err := url.Parse(t); err == nil && u.User != nil {
				if _, has := u.User.Password(); has {
					out = append(out, path+": URL holds a password")
				}
			}
			lk := strings.ToLower(key)
			if !secretName.MatchString(key) || strings.HasSuffix(lk, "algorithm") || strings.HasSuffix(lk, "salt") ||
				strings.HasSuffix(lk, "hash") || strings.HasSuffix(lk, "_file") || strings.HasPrefix(lk, "jm_credentials") {
				return
			}
			val := strings.TrimSpace(t)
			if m := refRE.FindStringSubmatch(val); m != nil && m[0] == val {
				val = "" // a pure reference; check its default, if any
				if strings.HasSuffix(m[2], "-") {
					val = m[3]
				}
			}
			if val != "" && !contains(placeholders, val) {
				out = append(out, fmt.Sprintf("%s: %q is not one of the %s", path, val, placeholderNote))
			}
		}
	}
	walk(v, path, "")
	return out
}

func TestSecretProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  any
		bad  int
	}{
		{"placeholder", map[string]any{"OPENHIM_PASSWORD": "instant101"}, 0},
		{"reference", map[string]any{"OPENHIM_PASSWORD": "${OPENHIM_PASSWORD}"}, 0},
		{"reference with placeholder default", map[string]any{"OPENHIM_PASSWORD": "${OPENHIM_PASSWORD:-openhim-password}"}, 0},
		{"real-looking secret", map[string]any{"OPENHIM_PASSWORD": "s3cr3t-Pa55"}, 1},
		{"reference with secret default", map[string]any{"env": map[string]any{"JM_API_TOKEN": "${JM_API_TOKEN:-abc123}"}}, 1},
		{"list env", map[string]any{"environment": []any{"API_SECRET=hunter22", "LOG_LEVEL=info"}}, 1},
		{"URL with password", map[string]any{"MONGO_URL": "mongodb://u:pw@mongo/db"}, 1},
		{"empty", map[string]any{"OPENHIM_PASSWORD": ""}, 0},
		{"hash and salt are checked elsewhere", map[string]any{"passwordHash": "ab", "passwordSalt": "cd"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := secretProblems(tc.doc, "doc"); len(got) != tc.bad {
				t.Errorf("got %v, want %d problems", got, tc.bad)
			}
		})
	}
}

func TestNoSecretsButDocumentedPlaceholders(t *testing.T) {
	doc := string(readFile(t, deployDoc))
	for _, p := range placeholders {
		if !strings.Contains(doc, p) {
			t.Errorf("placeholder %q is not documented in %s", p, deployDoc)
		}
	}
	n := 0
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		var v any
		switch filepath.Ext(path) {
		case ".yml", ".yaml":
			err = yaml.Unmarshal(readFile(t, path), &v)
		case ".json":
			err = json.Unmarshal(readFile(t, path), &v)
		default:
			return nil
		}
		if err != nil {
			t.Errorf("%s: %v", path, err)
			return nil
		}
		n++
		for _, p := range secretProblems(v, path) {
			t.Error(p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 8 {
		t.Errorf("checked only %d YAML/JSON files", n)
	}
}

func TestShellSyntax(t *testing.T) {
	for _, tc := range []struct{ shell, file string }{
		{"bash", pkgSwarm}, {"sh", localImportSh}, {"sh", pkgImportSh},
	} {
		if _, err := exec.LookPath(tc.shell); err != nil {
			t.Skipf("%s not installed", tc.shell)
		}
		out, err := exec.Command(tc.shell, "-n", tc.file).CombinedOutput()
		if err != nil {
			t.Errorf("%s -n %s: %v\n%s", tc.shell, tc.file, err, out)
		}
	}
	// swarm.sh follows the package-base conventions: the four verbs and the
	// platform helpers.
	s := string(readFile(t, pkgSwarm))
	for _, want := range []string{"init | up)", "down)", "destroy)", `source "${UTILS_PATH}/docker-utils.sh"`,
		"docker::deploy_service", "docker::deploy_config_importer", "importer/docker-compose.config.yml", "docker-compose.dev.yml"} {
		if !strings.Contains(s, want) {
			t.Errorf("%s lacks %q", pkgSwarm, want)
		}
	}
}

// fakeCore answers POST /metadata like OpenHIM core: Basic auth, then 201
// with one result per item. It refuses the first `down` calls with 503.
type fakeCore struct {
	mu      sync.Mutex
	down    int
	calls   int
	answer  string
	status  int
	user    string
	pass    string
	body    []byte
	ctype   string
	authErr bool
}

func (f *fakeCore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls <= f.down {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/metadata" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	u, p, ok := r.BasicAuth()
	if !ok || u != f.user || p != f.pass {
		f.authErr = true
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	f.body, _ = io.ReadAll(r.Body)
	f.ctype = r.Header.Get("Content-Type")
	w.WriteHeader(f.status)
	io.WriteString(w, f.answer)
}

// coreSpec is how a fakeCore behaves: refusals before it is up, then status
// and answer.
type coreSpec struct {
	down, status int
	answer       string
}

func TestImportScript(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	const user, pass = "root@openhim.org", `pa"ss\word with space`
	inserted := `[{"model":"Clients","record":{"passwordHash":"x"},"status":"Inserted","message":"","uid":"jobmediator-client"},` +
		`{"model":"Channels","record":{},"status":"Updated","message":"","uid":"Job Mediator – hello-upstream"}]`
	failed := `[{"model":"Channels","record":{},"status":"Error","message":"Channel validation failed: urlPattern: Path urlPattern is required.","uid":"x"}]`
	for _, tc := range []struct {
		name     string
		core     coreSpec
		env      map[string]string
		wantCode int
		wantOut  string
		calls    int
	}{
		{"retries until core is up, then imports", coreSpec{2, 201, inserted}, nil, 0, "Inserted", 3},
		{"an item core rejects fails the import", coreSpec{0, 201, failed}, nil, 1, "urlPattern is required", 1},
		{"wrong password is not retried", coreSpec{0, 201, inserted}, map[string]string{"OPENHIM_PASSWORD": "wrong-one"}, 1, "refused", 1},
		{"gives up after MAX_ATTEMPTS", coreSpec{100, 201, inserted}, map[string]string{"MAX_ATTEMPTS": "3"}, 1, "gave up after 3 attempts", 3},
		{"no password", coreSpec{}, map[string]string{"OPENHIM_PASSWORD": ""}, 2, "OPENHIM_PASSWORD is not set", 0},
		{"bad MAX_ATTEMPTS", coreSpec{}, map[string]string{"MAX_ATTEMPTS": "lots"}, 2, "not a number", 0},
		{"unreadable file", coreSpec{}, map[string]string{"IMPORT_FILE": "/nonexistent/import.json"}, 2, "cannot read", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			core := &fakeCore{down: tc.core.down, status: tc.core.status, answer: tc.core.answer, user: user, pass: pass}
			srv := httptest.NewTLSServer(core)
			defer srv.Close()
			env := map[string]string{
				"PATH": os.Getenv("PATH"), "OPENHIM_API_URL": srv.URL, "OPENHIM_USERNAME": user,
				"OPENHIM_PASSWORD": pass, "IMPORT_FILE": localImport, "TRUST_SELF_SIGNED": "true",
				"MAX_ATTEMPTS": "5", "RETRY_DELAY": "0",
			}
			for k, v := range tc.env {
				env[k] = v
			}
			cmd := exec.Command("sh", localImportSh)
			for k, v := range env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			out, err := cmd.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode || !strings.Contains(string(out), tc.wantOut) {
				t.Errorf("exit %d, output:\n%s\nwant exit %d and %q", code, out, tc.wantCode, tc.wantOut)
			}
			if strings.Contains(string(out), "pa\"ss") || strings.Contains(string(out), "passwordHash") {
				t.Errorf("output leaks the password or records:\n%s", out)
			}
			core.mu.Lock()
			defer core.mu.Unlock()
			if core.calls != tc.calls {
				t.Errorf("core was called %d times, want %d", core.calls, tc.calls)
			}
			if tc.wantCode == 0 {
				if !bytes.Equal(core.body, readFile(t, localImport)) || core.ctype != "application/json" {
					t.Errorf("core got %q body of %d bytes", core.ctype, len(core.body))
				}
			}
		})
	}
}

// Without TRUST_SELF_SIGNED the script verifies core's certificate.
func TestImportScriptVerifiesTLS(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	core := &fakeCore{status: 201, answer: "[]", user: "u", pass: "p"}
	srv := httptest.NewTLSServer(core)
	defer srv.Close()
	cmd := exec.Command("sh", localImportSh)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "OPENHIM_API_URL=" + srv.URL, "OPENHIM_USERNAME=u",
		"OPENHIM_PASSWORD=p", "IMPORT_FILE=" + localImport, "MAX_ATTEMPTS=2", "RETRY_DELAY=0"}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "gave up") {
		t.Errorf("untrusted certificate accepted: err=%v\n%s", err, out)
	}
	if core.calls != 0 {
		t.Errorf("core answered %d requests over an unverified TLS connection", core.calls)
	}
}
