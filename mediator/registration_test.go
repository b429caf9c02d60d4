package mediator

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func testIdentity() Identity {
	return Identity{URN: "urn:mediator:jobmediator", Name: "Job Mediator", Description: "Runs OpenFn jobs",
		Version: "1.4.2", RouteHost: "jobmediator", RoutePort: 4321}
}

func testChannels() []ChannelSpec {
	return []ChannelSpec{
		{Workflow: "patients-to-dhis2", Path: "/patients", Methods: []string{"post", "PUT", "POST"}, Timeout: 45 * time.Second},
		{Workflow: "nightly-pull", Path: "/pull/nightly", Polling: "0 2 * * *"},
		{Workflow: "async-import", Path: "imports", Async: true},
	}
}

func testCreds() []CredentialFields {
	return []CredentialFields{
		{Key: "dhis2.prod", Fields: map[string]any{"hostUrl": "https://play.dhis2.org", "username": "admin",
			"password": "district-SECRET-1", "timeout": 30.0, "verify": true, "extra": map[string]any{"apiToken": "tok-SECRET-2", "a": "b"}}},
		{Key: "fhir", Fields: map[string]any{"baseUrl": "http://hapi:8080/fhir", "apiKey": "key-SECRET-3",
			"mirror": "https://u:url-SECRET-4@mirror", "echo": "key-SECRET-3"}},
		{Key: "empty", Fields: map[string]any{}},
	}
}

func validRegistration() Registration {
	reg := BuildRegistration(testIdentity(), testChannels(), testCreds(), []string{"patients-to-dhis2", "nightly-pull", "async-import"})
	return reg
}

func TestBuildRegistrationGolden(t *testing.T) {
	reg := validRegistration()
	got, err := json.MarshalIndent(reg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "registration.golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update)", err)
	}
	var g, w any
	_ = json.Unmarshal(got, &g)
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("registration differs from %s:\n%s", golden, got)
	}
	// Building twice, with inputs in another order, gives the same document.
	ch := testChannels()
	ch[0], ch[2] = ch[2], ch[0]
	again := BuildRegistration(testIdentity(), ch, testCreds(), []string{"nightly-pull", "async-import", "patients-to-dhis2", "nightly-pull"})
	if ContentHash(again) != ContentHash(reg) {
		t.Error("registration depends on input order")
	}
}

func TestBuildRegistrationFollowsCoreRules(t *testing.T) {
	reg := validRegistration()
	if err := reg.Validate(); err != nil {
		t.Fatalf("built registration is invalid: %v", err)
	}
	if len(reg.Endpoints) != 3 {
		t.Errorf("endpoints = %d, want one per workflow channel", len(reg.Endpoints))
	}
	names := map[string]bool{}
	for _, ch := range reg.DefaultChannelConfig {
		if names[ch.Name] {
			t.Errorf("duplicate channel name %q", ch.Name)
		}
		names[ch.Name] = true
		if !strings.HasPrefix(ch.Name, "Job Mediator – ") {
			t.Errorf("channel name %q does not include the mediator name", ch.Name)
		}
		primaries := 0
		for _, r := range ch.Routes {
			if r.Primary {
				primaries++
			}
			if r.Type != "http" || r.Host != "jobmediator" || r.Port != 4321 {
				t.Errorf("%s: route %+v", ch.Name, r)
			}
			if !regexp.MustCompile(ch.URLPattern).MatchString(r.Path) {
				t.Errorf("%s: urlPattern %s does not match the route path %s", ch.Name, ch.URLPattern, r.Path)
			}
			if regexp.MustCompile(ch.URLPattern).MatchString(r.Path + "/x") {
				t.Errorf("%s: urlPattern %s is not anchored", ch.Name, ch.URLPattern)
			}
		}
		if primaries != 1 {
			t.Errorf("%s: %d primary routes", ch.Name, primaries)
		}
		if ch.AuthType != "private" || !reflect.DeepEqual(ch.Allow, []string{DefaultAllowRole}) {
			t.Errorf("%s: authType %q allow %v", ch.Name, ch.AuthType, ch.Allow)
		}
		switch ch.Type {
		case "http":
			if len(ch.Methods) == 0 {
				t.Errorf("%s: no methods", ch.Name)
			}
		case "polling":
			if ch.PollingSchedule != "0 2 * * *" || len(ch.Methods) != 0 {
				t.Errorf("%s: polling %q methods %v", ch.Name, ch.PollingSchedule, ch.Methods)
			}
		default:
			t.Errorf("%s: type %q", ch.Name, ch.Type)
		}
	}
	byWF := map[string]Channel{}
	for _, ch := range reg.DefaultChannelConfig {
		byWF[strings.TrimPrefix(ch.Name, "Job Mediator – ")] = ch
	}
	if m := byWF["patients-to-dhis2"].Methods; !reflect.DeepEqual(m, []string{"POST", "PUT"}) {
		t.Errorf("methods = %v, want upper-cased, de-duplicated", m)
	}
	if to := byWF["patients-to-dhis2"].Timeout; to != 45000 {
		t.Errorf("timeout = %d ms", to)
	}
	if a := byWF["async-import"]; !a.IsAsynchronousProcess || a.Routes[0].Path != "/imports" || !reflect.DeepEqual(a.Methods, []string{"POST"}) {
		t.Errorf("async channel = %+v", a)
	}
	// Config params: no dots, a default for every def, secrets never sent.
	raw, _ := json.Marshal(reg)
	for _, secret := range []string{"district-SECRET-1", "tok-SECRET-2", "key-SECRET-3", "url-SECRET-4"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("secret %q is in the registration document", secret)
		}
	}
	for _, d := range reg.ConfigDefs {
		if strings.ContainsAny(d.Param, ".$") {
			t.Errorf("param %q has a dot or $", d.Param)
		}
		if _, ok := reg.Config[d.Param]; !ok {
			t.Errorf("param %q has no default (core would drop its stored value on upgrade)", d.Param)
		}
		ref, ok := reg.Params[d.Param]
		if !ok {
			t.Errorf("param %q missing from Params", d.Param)
		}
		if d.Type == "struct" && ref.Kind != ParamCredential || d.Type == "bool" && ref.Kind != ParamEnabled {
			t.Errorf("param %q: type %s kind %s", d.Param, d.Type, ref.Kind)
		}
	}
	if ref := reg.Params["credential_dhis2_prod"]; ref.Key != "dhis2.prod" || ref.Fields["password"] != "password" {
		t.Errorf("credential param ref = %+v", ref)
	}
	if _, ok := reg.Params["credential_empty"]; ok {
		t.Error("a credential without fields produced a struct without template (core refuses it)")
	}
	if reg.Config["enabled_patients_to_dhis2"] != true {
		t.Errorf("enabled flag default = %v", reg.Config["enabled_patients_to_dhis2"])
	}
}

func TestBuildRegistrationEdgeCases(t *testing.T) {
	// No channels: core still needs an endpoint for a new mediator.
	reg := BuildRegistration(Identity{URN: "urn:x", Name: "X", Version: "1.0.0", RouteHost: "h", RoutePort: 1, AllowRole: "role-x"}, nil, nil, nil)
	if err := reg.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(reg.Endpoints) != 1 || len(reg.DefaultChannelConfig) != 0 {
		t.Errorf("endpoints %v channels %v", reg.Endpoints, reg.DefaultChannelConfig)
	}
	// Keys that slug alike get distinct params; two specs of one workflow
	// get distinct channel names.
	reg = BuildRegistration(Identity{URN: "urn:x", Name: "X", Version: "1.0.0", RouteHost: "h", RoutePort: 1, AllowRole: "role-x"},
		[]ChannelSpec{{Workflow: "w", Path: "/a", Methods: []string{"GET"}}, {Workflow: "w", Path: "/b", Methods: []string{"GET"}}},
		nil, []string{"a.b", "a_b", "A-B"})
	if err := reg.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(reg.ConfigDefs) != 3 || reg.DefaultChannelConfig[0].Name == reg.DefaultChannelConfig[1].Name {
		t.Errorf("defs %+v channels %+v", reg.ConfigDefs, reg.DefaultChannelConfig)
	}
	if reg.DefaultChannelConfig[0].Allow[0] != "role-x" {
		t.Errorf("allow = %v", reg.DefaultChannelConfig[0].Allow)
	}
	keys := map[string]bool{}
	for _, r := range reg.Params {
		keys[r.Key] = true
	}
	if len(keys) != 3 {
		t.Errorf("Params does not map back to every workflow: %+v", reg.Params)
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{"patients-to-dhis2": "patients_to_dhis2", "DHIS2.Prod": "dhis2_prod",
		"$evil..key": "evil_key", "": "x", "---": "x", "ünï": "n"} {
		if got := Slug(in); got != want {
			t.Errorf("Slug(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRegistrationValidate(t *testing.T) {
	base := func() Registration { return validRegistration() }
	tests := []struct {
		name   string
		mutate func(*Registration)
		want   string
	}{
		{"no urn", func(r *Registration) { r.URN = "" }, "urn is required"},
		{"no version", func(r *Registration) { r.Version = "" }, "version is required"},
		{"bad version", func(r *Registration) { r.Version = "0.8" }, "not semver"},
		{"no name", func(r *Registration) { r.Name = " " }, "name is required"},
		{"no endpoints", func(r *Registration) { r.Endpoints = nil }, "at least one endpoint"},
		{"kafka route", func(r *Registration) { r.Endpoints[0].Type = "mllp" }, "type must be http"},
		{"path and transform", func(r *Registration) { r.Endpoints[0].PathTransform = "s/a/b/" }, "mutually exclusive"},
		{"unanchored", func(r *Registration) { r.DefaultChannelConfig[0].URLPattern = "/patients" }, "must be anchored"},
		{"no methods", func(r *Registration) { r.DefaultChannelConfig[0].Methods = nil }, "methods are required"},
		{"bad method", func(r *Registration) { r.DefaultChannelConfig[0].Methods = []string{"FETCH"} }, "not one core knows"},
		{"no primary", func(r *Registration) { r.DefaultChannelConfig[0].Routes[0].Primary = false }, "exactly one enabled primary route, has 0"},
		{"two primaries", func(r *Registration) {
			r.DefaultChannelConfig[0].Routes = append(r.DefaultChannelConfig[0].Routes, r.DefaultChannelConfig[0].Routes[0])
		}, "has 2"},
		{"empty allow", func(r *Registration) { r.DefaultChannelConfig[0].Allow = nil }, "admits no client"},
		{"polling without schedule", func(r *Registration) {
			for i := range r.DefaultChannelConfig {
				if r.DefaultChannelConfig[i].Type == "polling" {
					r.DefaultChannelConfig[i].PollingSchedule = ""
				}
			}
		}, "needs pollingSchedule"},
		{"tcp channel", func(r *Registration) { r.DefaultChannelConfig[0].Type = "tcp" }, `type "tcp"`},
		{"timeout", func(r *Registration) { r.DefaultChannelConfig[0].Timeout = 4000000 }, "outside 1–3600000"},
		{"duplicate channel", func(r *Registration) {
			r.DefaultChannelConfig = append(r.DefaultChannelConfig, r.DefaultChannelConfig[0])
		}, "used twice"},
		{"dotted param", func(r *Registration) { r.ConfigDefs = append(r.ConfigDefs, ConfigDef{Param: "a.b", Type: "string"}) }, `must not contain "."`},
		{"bad def type", func(r *Registration) { r.ConfigDefs = append(r.ConfigDefs, ConfigDef{Param: "z", Type: "text"}) }, `type "text"`},
		{"option without values", func(r *Registration) { r.ConfigDefs = append(r.ConfigDefs, ConfigDef{Param: "z", Type: "option"}) }, "non-empty values"},
		{"struct without template", func(r *Registration) { r.ConfigDefs = append(r.ConfigDefs, ConfigDef{Param: "z", Type: "struct"}) }, "needs a template"},
		{"nested struct", func(r *Registration) {
			r.ConfigDefs = append(r.ConfigDefs, ConfigDef{Param: "z", Type: "struct", Template: []ConfigDef{{Param: "y", Type: "struct", Template: []ConfigDef{{Param: "q", Type: "string"}}}}})
		}, "cannot be structs"},
		{"unknown config key", func(r *Registration) { r.Config["nope"] = "x" }, "no config definition found for parameter nope"},
		{"wrong config type", func(r *Registration) { r.Config["enabled_nightly_pull"] = "yes" }, "must be a boolean"},
		{"struct with unknown field", func(r *Registration) {
			r.Config["credential_fhir"] = map[string]any{"zzz": "1"}
		}, `field "zzz" is not in the template`},
		{"array for scalar", func(r *Registration) { r.Config["enabled_nightly_pull"] = []any{true} }, "must not be an array"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := base()
			tc.mutate(&r)
			err := r.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestCheckConfigValueMirrorsCore(t *testing.T) {
	tests := []struct {
		def ConfigDef
		v   any
		ok  bool
	}{
		{ConfigDef{Type: "map"}, map[string]any{"k": 1.0}, false},
		{ConfigDef{Type: "map"}, map[string]any{"k": "v"}, true},
		{ConfigDef{Type: "map"}, nil, true},
		{ConfigDef{Type: "string", Array: true}, "x", false},
		{ConfigDef{Type: "string", Array: true}, []any{"a", "b"}, true},
		{ConfigDef{Type: "string"}, []any{"a"}, false},
		{ConfigDef{Type: "string"}, nil, false},
		{ConfigDef{Type: "number"}, "5", false},
		{ConfigDef{Type: "number"}, 5.0, true},
		{ConfigDef{Type: "option", Values: []string{"a"}}, "b", false},
		{ConfigDef{Type: "option", Values: []string{"a"}}, "a", true},
		{ConfigDef{Type: "struct", Template: []ConfigDef{{Param: "p", Type: "string"}}}, nil, true},
		{ConfigDef{Type: "struct", Template: []ConfigDef{{Param: "p", Type: "string"}}}, map[string]any{"p": nil}, true},
		{ConfigDef{Type: "password"}, "s", true},
	}
	for i, tc := range tests {
		err := checkConfigValue(tc.def, tc.v)
		if (err == nil) != tc.ok {
			t.Errorf("%d: %s %v: err = %v, want ok=%v", i, tc.def.Type, tc.v, err, tc.ok)
		}
	}
}

func TestSampleRegistrationFromTestdataIsValid(t *testing.T) {
	b, err := os.ReadFile("../testdata/shared/openhim/mediator-registration.json")
	if err != nil {
		t.Fatal(err)
	}
	var reg Registration
	if err := json.Unmarshal(b, &reg); err != nil {
		t.Fatal(err)
	}
	// The sample's polling channel is private with an empty allow list,
	// which §15 warns admits no client.
	err = reg.Validate()
	if err == nil || !strings.Contains(err.Error(), `"Go Example Nightly Pull": allow is empty`) || strings.Contains(err.Error(), `"Go Example Channel"`) {
		t.Fatalf("err = %v", err)
	}
	// Its configDefs and config (every type) pass.
	reg.DefaultChannelConfig = nil
	if err := reg.Validate(); err != nil {
		t.Fatalf("config defs of the sample: %v", err)
	}
}

// semverLess compares precedence like node-semver, ignoring build metadata.
func semverLess(t *testing.T, a, b string) bool {
	t.Helper()
	parse := func(v string) ([3]uint64, []string) {
		m := semverRE.FindStringSubmatch(v)
		if m == nil {
			t.Fatalf("%q is not semver", v)
		}
		var n [3]uint64
		for i := 0; i < 3; i++ {
			n[i], _ = strconv.ParseUint(m[i+1], 10, 64)
		}
		var pre []string
		if m[4] != "" {
			pre = strings.Split(m[4], ".")
		}
		return n, pre
	}
	na, pa := parse(a)
	nb, pb := parse(b)
	for i := 0; i < 3; i++ {
		if na[i] != nb[i] {
			return na[i] < nb[i]
		}
	}
	if len(pa) == 0 || len(pb) == 0 {
		return len(pa) > 0 && len(pb) == 0
	}
	for i := 0; i < len(pa) && i < len(pb); i++ {
		if pa[i] == pb[i] {
			continue
		}
		ia, ea := strconv.ParseUint(pa[i], 10, 64)
		ib, eb := strconv.ParseUint(pb[i], 10, 64)
		switch {
		case ea == nil && eb == nil:
			return ia < ib
		case ea == nil:
			return true
		case eb == nil:
			return false
		}
		return pa[i] < pb[i]
	}
	return len(pa) < len(pb)
}

func TestRegistrationVersion(t *testing.T) {
	reg := validRegistration()
	at := func(build string, rev int64, mutate func(*Registration)) string {
		r := validRegistration()
		r.Revision = rev
		if mutate != nil {
			mutate(&r)
		}
		return RegistrationVersion(build, r)
	}
	v1 := at("1.4.2", 1732280000, nil)
	if !ValidSemver(v1) || !strings.HasPrefix(v1, "1.4.21732280000+") {
		t.Fatalf("version = %s", v1)
	}
	if v := RegistrationVersion("1.4.2", func() Registration { r := reg; r.Revision = 1732280000; return r }()); v != v1 {
		t.Errorf("not deterministic: %s vs %s", v, v1)
	}
	changed := at("1.4.2", 1732280000, func(r *Registration) { r.Description = "changed" })
	if changed == v1 {
		t.Error("content change does not show in the version string")
	}
	// Orderings core relies on (it ignores same-or-lower versions).
	ordered := [][2]string{
		{at("1.4.2", 1732280000, nil), at("1.4.2", 1732280001, nil)}, // new revision, same build
		{at("1.4.2", 1999999999, nil), at("1.4.3", 1, nil)},          // new build patch beats any revision
		{at("1.4.99", 1999999999, nil), at("1.5.0", 0, nil)},         // new minor
		{at("1.5.0-rc.1", 5, nil), at("1.5.0", 5, nil)},              // release after its rc
		{at("1.5.0", 5, nil), at("1.5.0-rc.1", 6, nil)},              // a newer project on an rc still registers
		{at("dev", 5, nil), at("0.0.1", 0, nil)},                     // dev builds count as 0.0.0
	}
	for _, p := range ordered {
		if !ValidSemver(p[0]) || !ValidSemver(p[1]) {
			t.Fatalf("invalid semver in %v", p)
		}
		if !semverLess(t, p[0], p[1]) {
			t.Errorf("%s should sort below %s", p[0], p[1])
		}
	}
	// Big build patch numbers stay within node-semver's safe integers.
	if v := at("1.0.123456789", 1999999999, nil); !ValidSemver(v) {
		t.Errorf("%s is not accepted by semver.valid", v)
	}
}

func TestValidSemver(t *testing.T) {
	for v, ok := range map[string]bool{"1.0.0": true, "v2.3.1": true, "1.2.3-rc.1+abc": true, "0.8": false,
		"1.2": false, "01.2.3": false, "1.2.3-": false, "1.2.9007199254740992": false, "1.2.9007199254740991": true, "": false} {
		if ValidSemver(v) != ok {
			t.Errorf("ValidSemver(%q) = %v", v, !ok)
		}
	}
}

func TestNextRevision(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state", "registration.json")
	reg := validRegistration()
	t0 := time.Unix(1_700_000_000, 0)
	r1, err := NextRevision(path, reg, t0)
	if err != nil || r1 != t0.Unix() {
		t.Fatalf("first = %d, %v", r1, err)
	}
	r2, err := NextRevision(path, reg, t0.Add(time.Hour))
	if err != nil || r2 != r1 {
		t.Fatalf("unchanged document got a new revision %d (was %d), %v", r2, r1, err)
	}
	reg.Description = "changed"
	r3, err := NextRevision(path, reg, t0.Add(-time.Hour)) // clock went backwards
	if err != nil || r3 != r1+1 {
		t.Fatalf("changed with a clock behind: %d, %v; want %d", r3, err, r1+1)
	}
	reg.Description = "changed again"
	r4, _ := NextRevision(path, reg, t0.Add(2*time.Hour))
	if r4 != t0.Add(2*time.Hour).Unix() {
		t.Errorf("r4 = %d", r4)
	}
	// Corrupt state is replaced, the clock keeps the order.
	if err := os.WriteFile(path, []byte("{garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	r5, err := NextRevision(path, reg, t0.Add(3*time.Hour))
	if err != nil || r5 <= r4 {
		t.Errorf("after corruption: %d, %v", r5, err)
	}
	if _, err := NextRevision("", reg, t0); err == nil {
		t.Error("empty path accepted")
	}
	if _, err := NextRevision(filepath.Join(dir, "state", "registration.json", "x"), reg, t0); err == nil {
		t.Error("unwritable path accepted")
	}
}

// TestRouteCredentials: with route credentials every route carries them
// (core then authenticates to us), and the version hash does not depend on
// the password.
func TestRouteCredentials(t *testing.T) {
	id := Identity{URN: "urn:x", Name: "X", Version: "1.0.0", RouteHost: "h", RoutePort: 1,
		RouteUsername: "openhim", RoutePassword: "route-pw-1"}
	specs := []ChannelSpec{{Workflow: "w", Path: "/a", Methods: []string{"POST"}}, {Workflow: "p", Path: "/p", Polling: "5 minutes"}}
	reg := BuildRegistration(id, specs, nil, []string{"w", "p"})
	if err := reg.Validate(); err != nil {
		t.Fatal(err)
	}
	routes := append([]Route(nil), reg.Endpoints...)
	for _, ch := range reg.DefaultChannelConfig {
		routes = append(routes, ch.Routes...)
	}
	for _, r := range routes {
		if r.Username != "openhim" || r.Password != "route-pw-1" || r.ForwardAuthHeader {
			t.Errorf("route %s: %+v", r.Name, r)
		}
	}
	id.RoutePassword = "route-pw-2"
	rotated := BuildRegistration(id, specs, nil, []string{"w", "p"})
	if ContentHash(reg) != ContentHash(rotated) {
		t.Error("the content hash (shown in the version) depends on the route password")
	}
	if strings.Contains(RegistrationVersion("1.0.0", reg), "route-pw") || reg.Endpoints[0].Password != "route-pw-1" {
		t.Error("hashing must not touch the document itself")
	}
	id.RouteUsername, id.RoutePassword = "", ""
	open := BuildRegistration(id, specs, nil, []string{"w", "p"})
	if b, _ := json.Marshal(open); strings.Contains(string(b), `"username"`) || strings.Contains(string(b), `"password"`) {
		t.Errorf("no route credentials must mean no username/password fields: %s", b)
	}
}
