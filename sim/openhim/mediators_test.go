package openhim

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

const stray = "User Authenticated Successfully"

func TestContract15_RegisterAndGet(t *testing.T) {
	c := startCore(t, Options{})
	reg := loadJSON(t, "mediator-registration.json")
	r := root(t, c, "POST", "/mediators", reg)
	// Under Basic auth the 201 carries core's stray body (§1.2, §13.6).
	if r.status != 201 || r.body != stray {
		t.Fatalf("got %d %q", r.status, r.body)
	}
	g := root(t, c, "GET", "/mediators/"+"urn%3Amediator%3Ago-example", nil)
	if g.status != 200 {
		t.Fatalf("get: %d %q", g.status, g.body)
	}
	doc := decode(t, g.body).(map[string]any)
	if doc["urn"] != "urn:mediator:go-example" || doc["version"] != "1.2.0" || !isObjectID(str(doc["_id"])) {
		t.Fatalf("doc %v", doc)
	}
	ep := obj(arr(doc["endpoints"])[0])
	if ep["status"] != "enabled" || ep["forwardAuthHeader"] != false || !isObjectID(str(ep["_id"])) {
		t.Fatalf("endpoint defaults %v", ep)
	}
	// Same keys as the shared GET payload.
	for k := range loadJSON(t, "get-mediator-response.json") {
		if strings.HasPrefix(k, "_") && k != "_id" {
			continue // set by heartbeats and config updates
		}
		if _, ok := doc[k]; !ok {
			t.Errorf("missing %s", k)
		}
	}
	// A token-authenticated status-only answer carries Koa's status text.
	ts := time.Now().UTC().Format(time.RFC3339)
	tr := call(t, "POST", c.APIURL()+"/mediators", reg, tokenHeaders(RootEmail, RootSalt, RootPassword, "x", ts))
	if tr.status != 201 || tr.body != "Created" {
		t.Fatalf("token register: %d %q", tr.status, tr.body)
	}
	if g := root(t, c, "GET", "/mediators/urn:unknown", nil); g.status != 404 || g.body != stray {
		t.Fatalf("unknown: %d %q", g.status, g.body)
	}
}

func TestContract16to20_RegistrationValidation(t *testing.T) {
	c := startCore(t, Options{})
	tests := []struct {
		name   string
		mutate func(m map[string]any)
		want   string
	}{
		{"16 no urn", func(m map[string]any) { delete(m, "urn") }, "URN is required"},
		{"17 no name", func(m map[string]any) { delete(m, "name") }, "name: Path `name` is required"},
		{"18 no version", func(m map[string]any) { delete(m, "version") }, "Version is required. Must be in SemVer form x.y.z"},
		{"19 version 0.8", func(m map[string]any) { m["version"] = "0.8" }, "Version is required"},
		{"19 leading zero", func(m map[string]any) { m["version"] = "01.0.0" }, "Version is required"},
		{"20 no endpoints", func(m map[string]any) { delete(m, "endpoints") }, "At least 1 endpoint is required"},
		{"20 empty endpoints", func(m map[string]any) { m["endpoints"] = []any{} }, "At least 1 endpoint is required"},
		{"endpoint without name", func(m map[string]any) { delete(obj(arr(m["endpoints"])[0]), "name") }, "endpoints.0.name: Path `name` is required"},
		{"bad configDef type", func(m map[string]any) {
			m["configDefs"] = []any{map[string]any{"param": "x", "type": "integer"}}
		}, "`integer` is not a valid enum value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := minimalMediator("urn:v:"+strings.ReplaceAll(tt.name, " ", "-"), "1.0.0")
			tt.mutate(m)
			r := root(t, c, "POST", "/mediators", m)
			if r.status != 400 || !strings.HasPrefix(r.body, "Could not add Mediator via the API: ValidationError: ") || !strings.Contains(r.body, tt.want) {
				t.Fatalf("got %d %q", r.status, r.body)
			}
		})
	}
	// Without a JSON content type the body parser leaves {}.
	r := call(t, "POST", c.APIURL()+"/mediators", `{"urn":"urn:x"}`, map[string]string{"Authorization": rootBasic})
	if r.status != 400 || !strings.Contains(r.body, "URN is required") {
		t.Fatalf("no content type: %d %q", r.status, r.body)
	}
	if len(c.Channels()) != 0 {
		t.Fatal("registration must never create channels")
	}
}

func TestContract21to23_Reregistration(t *testing.T) {
	c := startCore(t, Options{})
	m := minimalMediator("urn:re", "1.0.0")
	root(t, c, "POST", "/mediators", m)
	steps := []struct {
		version, name, wantName, wantVersion string
	}{
		{"1.0.0", "Same version", "Test Mediator", "1.0.0"},      // 21
		{"0.9.5", "Lower version", "Test Mediator", "1.0.0"},     // 22
		{"1.0.1-rc.1", "Prerelease", "Prerelease", "1.0.1-rc.1"}, // prerelease of a higher patch is higher
		{"1.0.1", "Higher version", "Higher version", "1.0.1"},   // 23
		{"1.0.1-rc.2", "Lower prerelease", "Higher version", "1.0.1"},
	}
	for _, s := range steps {
		n := minimalMediator("urn:re", s.version)
		n["name"] = s.name
		n["endpoints"] = []any{} // endpoints are only required for new mediators
		if r := root(t, c, "POST", "/mediators", n); r.status != 201 {
			t.Fatalf("%s: %d %q", s.version, r.status, r.body)
		}
		doc, _ := c.Mediator("urn:re")
		if doc["name"] != s.wantName || doc["version"] != s.wantVersion {
			t.Fatalf("after %s: %v %v", s.version, doc["name"], doc["version"])
		}
	}
}

func TestContract24_ConfigMergeOnUpgrade(t *testing.T) {
	c := startCore(t, Options{})
	defs := []any{
		map[string]any{"param": "param1", "type": "string"},
		map[string]any{"param": "param2", "type": "number"},
		map[string]any{"param": "param3", "type": "bool"},
		map[string]any{"param": "param4", "type": "string"},
	}
	m := minimalMediator("urn:merge", "1.0.0")
	m["configDefs"] = defs
	m["config"] = map[string]any{"param1": "val1", "param2": 5.0, "param4": "dropped"}
	root(t, c, "POST", "/mediators", m)
	// Force _configModifiedTS to stay unset and check it is not bumped.
	m2 := minimalMediator("urn:merge", "1.1.0")
	m2["configDefs"] = defs
	m2["config"] = map[string]any{"param1": "val1", "param2": 6.0, "param3": true}
	if r := root(t, c, "POST", "/mediators", m2); r.status != 201 {
		t.Fatal(r.body)
	}
	doc, _ := c.Mediator("urn:merge")
	want := map[string]any{"param1": "val1", "param2": 5.0, "param3": true}
	if !reflect.DeepEqual(doc["config"], want) {
		t.Fatalf("config %v", doc["config"])
	}
	if _, ok := doc["_configModifiedTS"]; ok {
		t.Fatal("_configModifiedTS must not be bumped by registration")
	}
	// No config in the upgrade: stored config untouched.
	m3 := minimalMediator("urn:merge", "1.2.0")
	root(t, c, "POST", "/mediators", m3)
	doc, _ = c.Mediator("urn:merge")
	if !reflect.DeepEqual(doc["config"], want) {
		t.Fatalf("config after config-less upgrade %v", doc["config"])
	}
}

func TestContract25to32_ConfigDefsAndConfig(t *testing.T) {
	c := startCore(t, Options{})
	str1 := map[string]any{"param": "param1", "type": "string"}
	num2 := map[string]any{"param": "param2", "type": "number"}
	tests := []struct {
		name   string
		defs   []any
		config any
		want   string // "" = accepted
	}{
		{"25 string def given number-typed string", []any{str1, num2}, map[string]any{"param2": "val2"}, "Expected config param param2 to be a number."},
		{"26 struct without template", []any{map[string]any{"param": "s", "type": "struct"}}, nil, "Must specify a template for struct param 's'"},
		{"27 nested struct", []any{map[string]any{"param": "s", "type": "struct", "template": []any{map[string]any{"param": "i", "type": "struct"}}}}, nil, "May not recursively specify 'struct'"},
		{"27 item without param", []any{map[string]any{"param": "s", "type": "struct", "template": []any{map[string]any{"type": "string"}}}}, nil, "Must specify field 'param'"},
		{"27 item without type", []any{map[string]any{"param": "s", "type": "struct", "template": []any{map[string]any{"param": "i"}}}}, nil, "Must specify field 'type'"},
		{"28 option without values", []any{map[string]any{"param": "o", "type": "option"}}, nil, "Expected field 'values' to be an array"},
		{"28 option empty values", []any{map[string]any{"param": "o", "type": "option", "values": []any{}}}, nil, "Must specify a values array"},
		{"28 option non-array values", []any{map[string]any{"param": "o", "type": "option", "values": "a,b"}}, nil, "Expected field 'values' to be an array"},
		{"29 valid struct", []any{map[string]any{"param": "s", "type": "struct", "template": []any{map[string]any{"param": "host", "type": "string"}, map[string]any{"param": "port", "type": "number"}}}},
			map[string]any{"s": map[string]any{"host": "h", "port": "not-checked", "extra": nil}}, "Field extra is not defined"},
		{"29 valid struct inner values unchecked", []any{map[string]any{"param": "s", "type": "struct", "template": []any{map[string]any{"param": "host", "type": "string"}, map[string]any{"param": "port", "type": "number"}}}},
			map[string]any{"s": map[string]any{"host": nil, "port": "8080"}}, ""},
		{"30 unknown key", []any{str1}, map[string]any{"param1": "a", "nope": "b"}, "No config definition found for parameter nope"},
		{"31 map non-string value", []any{map[string]any{"param": "m", "type": "map"}}, map[string]any{"m": map[string]any{"k": 1.0}}, "to only contain string values"},
		{"31 map ok", []any{map[string]any{"param": "m", "type": "map"}}, map[string]any{"m": map[string]any{"k": "v"}}, ""},
		{"31 map null accepted", []any{map[string]any{"param": "m", "type": "map"}}, map[string]any{"m": nil}, ""},
		{"32 array def scalar value", []any{map[string]any{"param": "a", "type": "string", "array": true}}, map[string]any{"a": "x"}, "Expected config param a to be an array of type string"},
		{"32 non-array def array value", []any{str1}, map[string]any{"param1": []any{"x"}}, "Expected config param param1 to be a string."},
		{"32 array item wrong type", []any{map[string]any{"param": "a", "type": "number", "array": true}}, map[string]any{"a": []any{1.0, "2"}}, "Expected config param a[1] to be a number."},
		{"null string rejected", []any{str1}, map[string]any{"param1": nil}, "to be a string."},
		{"option value", []any{map[string]any{"param": "o", "type": "option", "values": []any{"a", "b"}}}, map[string]any{"o": "c"}, "Expected config param o to be one of a,b"},
		{"bool", []any{map[string]any{"param": "b", "type": "bool"}}, map[string]any{"b": "true"}, "to be a boolean."},
		{"password", []any{map[string]any{"param": "p", "type": "password"}}, map[string]any{"p": 5.0}, "representing a password"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := minimalMediator("urn:cfg:"+string(rune('a'+i)), "1.0.0")
			m["configDefs"] = tt.defs
			if tt.config != nil {
				m["config"] = tt.config
			}
			r := root(t, c, "POST", "/mediators", m)
			if tt.want == "" {
				if r.status != 201 {
					t.Fatalf("got %d %q", r.status, r.body)
				}
				return
			}
			if r.status != 400 || !strings.Contains(r.body, tt.want) {
				t.Fatalf("got %d %q", r.status, r.body)
			}
		})
	}
}

func TestContract33_NonAdminCannotRegister(t *testing.T) {
	c := startCore(t, Options{})
	c.AddUser(User{Email: "u@example.org", Password: "pw", Groups: []string{"manager"}})
	r := call(t, "POST", c.APIURL()+"/mediators", minimalMediator("urn:x", "1.0.0"), map[string]string{"Authorization": basicAuth("u@example.org", "pw")})
	if r.status != 403 {
		t.Fatalf("got %d", r.status)
	}
	if _, ok := c.Mediator("urn:x"); ok {
		t.Fatal("stored anyway")
	}
}

func TestContract34_HeartbeatStoresUptime(t *testing.T) {
	now := time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)
	c := startCore(t, Options{Now: func() time.Time { return now }})
	registerExample(t, c)
	hb := loadJSON(t, "heartbeat-request.json")
	r := root(t, c, "POST", "/mediators/urn:mediator:go-example/heartbeat", hb)
	if r.status != 200 || r.body != "" {
		t.Fatalf("got %d %q", r.status, r.body)
	}
	doc, _ := c.Mediator("urn:mediator:go-example")
	if doc["_uptime"] != 50.25 || doc["_lastHeartbeat"] != "2024-01-01T10:00:00.000Z" {
		t.Fatalf("doc %v %v", doc["_uptime"], doc["_lastHeartbeat"])
	}
}

func TestContract35_40_ConfigChangeDeliveredOnce(t *testing.T) {
	clock := time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)
	c := startCore(t, Options{Now: func() time.Time { return clock }})
	registerExample(t, c)
	beat := func() reply {
		return root(t, c, "POST", "/mediators/urn:mediator:go-example/heartbeat", map[string]any{"uptime": 1.0})
	}
	// Config changed before any heartbeat: `date > undefined` is false.
	if r := root(t, c, "PUT", "/mediators/urn:mediator:go-example/config", loadJSON(t, "mediator-config-put.json")); r.status != 200 {
		t.Fatalf("put: %d %q", r.status, r.body)
	}
	clock = clock.Add(time.Second)
	if r := beat(); r.body != "" {
		t.Fatalf("first beat must not deliver: %q", r.body)
	}
	clock = clock.Add(time.Second)
	root(t, c, "PUT", "/mediators/urn:mediator:go-example/config", loadJSON(t, "mediator-config-put.json"))
	clock = clock.Add(time.Second)
	r := beat()
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("35: %d %q", r.status, r.body)
	}
	want := loadJSON(t, "heartbeat-response-config.json")
	if got := decode(t, r.body); !reflect.DeepEqual(got, any(want)) {
		t.Fatalf("35: config %v, want %v", got, want)
	}
	clock = clock.Add(time.Second)
	if r := beat(); r.status != 200 || r.body != "" {
		t.Fatalf("40: second beat %d %q", r.status, r.body)
	}
}

func TestContract36_ConfigTrueForcesConfig(t *testing.T) {
	c := startCore(t, Options{})
	reg := registerExample(t, c)
	for i := 0; i < 2; i++ {
		r := root(t, c, "POST", "/mediators/urn:mediator:go-example/heartbeat", loadJSON(t, "heartbeat-request-force-config.json"))
		if r.status != 200 || !reflect.DeepEqual(decode(t, r.body), reg["config"]) {
			t.Fatalf("beat %d: %d %q", i, r.status, r.body)
		}
	}
	// The string "true" does not count.
	r := root(t, c, "POST", "/mediators/urn:mediator:go-example/heartbeat", map[string]any{"uptime": 1, "config": "true"})
	if r.body != "" {
		t.Fatalf("string true: %q", r.body)
	}
}

func TestContract37_38_HeartbeatErrors(t *testing.T) {
	c := startCore(t, Options{})
	registerExample(t, c)
	if r := root(t, c, "POST", "/mediators/urn:nope/heartbeat", map[string]any{"uptime": 1}); r.status != 404 || r.body != stray {
		t.Fatalf("37: %d %q", r.status, r.body)
	}
	for _, body := range []any{map[string]any{"downtime": 0.5}, map[string]any{"uptime": nil}, map[string]any{}} {
		if r := root(t, c, "POST", "/mediators/urn:mediator:go-example/heartbeat", body); r.status != 400 {
			t.Fatalf("38 %v: %d", body, r.status)
		}
	}
	ts := time.Now().UTC().Format(time.RFC3339)
	r := call(t, "POST", c.APIURL()+"/mediators/urn:mediator:go-example/heartbeat", map[string]any{}, tokenHeaders(RootEmail, RootSalt, RootPassword, "x", ts))
	if r.status != 400 || r.body != "Bad Request" {
		t.Fatalf("38 token: %d %q", r.status, r.body)
	}
}

func TestContract39_HeartbeatNonAdmin(t *testing.T) {
	c := startCore(t, Options{})
	registerExample(t, c)
	c.AddUser(User{Email: "op@example.org", Password: "pw", Groups: []string{"operator"}})
	r := call(t, "POST", c.APIURL()+"/mediators/urn:mediator:go-example/heartbeat", map[string]any{"uptime": 1}, map[string]string{"Authorization": basicAuth("op@example.org", "pw")})
	if r.status != 403 {
		t.Fatalf("got %d", r.status)
	}
}

func TestContract41_NoStoredConfigAnswersOK(t *testing.T) {
	c := startCore(t, Options{})
	root(t, c, "POST", "/mediators", minimalMediator("urn:nocfg", "1.0.0"))
	r := root(t, c, "POST", "/mediators/urn:nocfg/heartbeat", map[string]any{"uptime": 1, "config": true})
	if r.status != 200 || r.body != "OK" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("got %d %q %q", r.status, r.body, r.header.Get("Content-Type"))
	}
}

func TestContract42_43_SetConfig(t *testing.T) {
	now := time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC)
	c := startCore(t, Options{Now: func() time.Time { return now }})
	m := minimalMediator("urn:set", "1.0.0")
	m["configDefs"] = []any{map[string]any{"param": "param1", "type": "string"}, map[string]any{"param": "param2", "type": "string"}}
	root(t, c, "POST", "/mediators", m)
	r := root(t, c, "PUT", "/mediators/urn:set/config", map[string]any{"param1": "val1", "param2": "val2"})
	if r.status != 200 || r.body != stray {
		t.Fatalf("42: %d %q", r.status, r.body)
	}
	doc, _ := c.Mediator("urn:set")
	if !reflect.DeepEqual(doc["config"], map[string]any{"param1": "val1", "param2": "val2"}) || doc["_configModifiedTS"] != "2024-01-01T09:00:00.000Z" {
		t.Fatalf("42: %v %v", doc["config"], doc["_configModifiedTS"])
	}
	if r := root(t, c, "PUT", "/mediators/urn:nope/config", map[string]any{}); r.status != 404 || r.body != "No mediator found for this urn." {
		t.Fatalf("43: %d %q", r.status, r.body)
	}
	// 30 (PUT side): unknown keys are refused, the stored config is kept.
	if r := root(t, c, "PUT", "/mediators/urn:set/config", map[string]any{"param1": "x", "param3": "y"}); r.status != 400 || r.body != "No config definition found for parameter param3" {
		t.Fatalf("30: %d %q", r.status, r.body)
	}
	doc, _ = c.Mediator("urn:set")
	if obj(doc["config"])["param1"] != "val1" {
		t.Fatal("invalid PUT changed the config")
	}
}

func TestContract44_45_PasswordMasking(t *testing.T) {
	c := startCore(t, Options{})
	registerExample(t, c)
	// 45: a fresh mediator gets the raw secret in a config:true heartbeat.
	r := root(t, c, "POST", "/mediators/urn:mediator:go-example/heartbeat", map[string]any{"uptime": 1, "config": true})
	cfg := decode(t, r.body).(map[string]any)
	if cfg["apiKey"] != "PLACEHOLDER-api-key" || obj(cfg["upstream"])["password"] != "PLACEHOLDER-upstream-password" {
		t.Fatalf("45: %v", cfg)
	}
	// 44: GET by urn masks, including inside structs.
	g := decode(t, root(t, c, "GET", "/mediators/urn:mediator:go-example", nil).body).(map[string]any)
	gc := obj(g["config"])
	if gc["apiKey"] != passwordMask || obj(gc["upstream"])["password"] != passwordMask || gc["upstreamUrl"] != "http://upstream:8080/fhir" {
		t.Fatalf("44 masked: %v", gc)
	}
	// §13.7: the list leaks the secret.
	l := root(t, c, "GET", "/mediators", nil)
	if !strings.Contains(l.body, "PLACEHOLDER-api-key") {
		t.Fatalf("list must be unmasked (core bug): %s", l.body)
	}
	// PUT the masked config back: the secret is restored.
	if r := root(t, c, "PUT", "/mediators/urn:mediator:go-example/config", gc); r.status != 200 {
		t.Fatalf("put masked: %d %q", r.status, r.body)
	}
	doc, _ := c.Mediator("urn:mediator:go-example")
	dc := obj(doc["config"])
	if dc["apiKey"] != "PLACEHOLDER-api-key" || obj(dc["upstream"])["password"] != "PLACEHOLDER-upstream-password" {
		t.Fatalf("44 restore: %v", dc)
	}
	// Masked password arrays are restored element by element.
	m := minimalMediator("urn:pwarr", "1.0.0")
	m["configDefs"] = []any{map[string]any{"param": "keys", "type": "password", "array": true}}
	m["config"] = map[string]any{"keys": []any{"k1", "k2"}}
	root(t, c, "POST", "/mediators", m)
	g = decode(t, root(t, c, "GET", "/mediators/urn:pwarr", nil).body).(map[string]any)
	if !reflect.DeepEqual(obj(g["config"])["keys"], []any{passwordMask, passwordMask}) {
		t.Fatalf("array mask %v", g["config"])
	}
	root(t, c, "PUT", "/mediators/urn:pwarr/config", map[string]any{"keys": []any{passwordMask, "new"}})
	doc, _ = c.Mediator("urn:pwarr")
	if !reflect.DeepEqual(obj(doc["config"])["keys"], []any{"k1", "new"}) {
		t.Fatalf("array restore %v", doc["config"])
	}
}

func TestContract46_48_DefaultChannels(t *testing.T) {
	c := startCore(t, Options{DisablePolling: true})
	reg := registerExample(t, c)
	names := []string{}
	for _, ch := range arr(reg["defaultChannelConfig"]) {
		names = append(names, str(obj(ch)["name"]))
	}
	// 47: a named subset.
	if r := root(t, c, "POST", "/mediators/urn:mediator:go-example/channels", []any{names[1]}); r.status != 201 || r.body != stray {
		t.Fatalf("47: %d %q", r.status, r.body)
	}
	if chs := c.Channels(); len(chs) != 1 || chs[0]["name"] != names[1] {
		t.Fatalf("47: %v", chs)
	}
	// §15: installing again collides on the unique name → 500 E11000.
	r := root(t, c, "POST", "/mediators/urn:mediator:go-example/channels", []any{})
	if r.status != 500 || !strings.Contains(r.body, "E11000 duplicate key") {
		t.Fatalf("duplicate: %d %q", r.status, r.body)
	}
	// Q.all semantics: every channel that can be saved is, whatever the
	// order; the answer is the first rejection.
	if len(c.Channels()) != 2 {
		t.Fatalf("channels %d", len(c.Channels()))
	}
	// 48
	if r := root(t, c, "POST", "/mediators/urn:mediator:go-example/channels", []any{"Something Wrong"}); r.status != 400 {
		t.Fatalf("48: %d", r.status)
	}
	if r := root(t, c, "POST", "/mediators/urn:nope/channels", []any{}); r.status != 404 {
		t.Fatalf("48 unknown urn: %d", r.status)
	}
}

// The duplicate comes first in defaultChannelConfig: core still saves the
// channels after it (openhim-core-js:src/api/mediators.js
// saveDefaultChannelConfig starts every save, Q.all reports the first
// failure), so a workflow added later gets its channel even from an
// install of all defaults.
func TestDefaultChannelsAfterADuplicateAreSaved(t *testing.T) {
	c := startCore(t, Options{DisablePolling: true})
	reg := registerExample(t, c)
	first := str(obj(arr(reg["defaultChannelConfig"])[0])["name"])
	if r := root(t, c, "POST", "/mediators/urn:mediator:go-example/channels", []any{first}); r.status != 201 {
		t.Fatalf("%d %q", r.status, r.body)
	}
	r := root(t, c, "POST", "/mediators/urn:mediator:go-example/channels", []any{})
	if r.status != 500 || !strings.Contains(r.body, "E11000") {
		t.Fatalf("duplicate: %d %q", r.status, r.body)
	}
	if n := len(c.Channels()); n != 2 {
		t.Fatalf("channels %d, want the duplicate once and the other saved", n)
	}
}

func TestContract46_AllDefaultsInstalled(t *testing.T) {
	c := startCore(t, Options{DisablePolling: true})
	registerExample(t, c)
	if r := root(t, c, "POST", "/mediators/urn:mediator:go-example/channels", []any{}); r.status != 201 {
		t.Fatalf("%d %q", r.status, r.body)
	}
	chs := c.Channels()
	if len(chs) != 2 {
		t.Fatalf("got %d channels", len(chs))
	}
	for _, ch := range chs {
		if !isObjectID(str(ch["_id"])) || ch["status"] != "enabled" || ch["updatedBy"] == nil {
			t.Fatalf("channel %v", ch)
		}
	}
}

func TestDefaultChannelsSkipAPIValidation(t *testing.T) {
	c := startCore(t, Options{DisablePolling: true})
	m := minimalMediator("urn:bad-defaults", "1.0.0")
	m["defaultChannelConfig"] = []any{
		// No primary route and no methods: the channel API would refuse it.
		map[string]any{"name": "No primary", "urlPattern": "^/np$", "authType": "public",
			"routes": []any{map[string]any{"name": "r", "host": "localhost", "port": 1.0}}},
		map[string]any{"name": "Both path forms", "urlPattern": "^/bp$", "methods": []any{"GET", "GET"},
			"routes": []any{map[string]any{"name": "r", "host": "localhost", "port": 1.0, "primary": true, "path": "/a", "pathTransform": "s/a/b"}}},
	}
	root(t, c, "POST", "/mediators", m)
	if r := root(t, c, "POST", "/mediators/urn:bad-defaults/channels", []any{}); r.status != 201 {
		t.Fatalf("%d %q", r.status, r.body)
	}
	if len(c.Channels()) != 2 {
		t.Fatal("defaults not installed")
	}
	// The same documents through the channel API are refused.
	for _, ch := range arr(m["defaultChannelConfig"]) {
		d := cloneDoc(obj(ch))
		d["name"] = str(d["name"]) + " via API"
		if r := root(t, c, "POST", "/channels", d); r.status != 400 {
			t.Fatalf("API accepted %v: %d", d["name"], r.status)
		}
	}
}

func TestDeleteMediator(t *testing.T) {
	c := startCore(t, Options{})
	registerExample(t, c)
	r := root(t, c, "DELETE", "/mediators/urn:mediator:go-example", nil)
	if r.status != 200 || r.body != "Mediator with urn urn:mediator:go-example has been successfully removed by root@openhim.org" {
		t.Fatalf("%d %q", r.status, r.body)
	}
	if _, ok := c.Mediator("urn:mediator:go-example"); ok {
		t.Fatal("still there")
	}
	if r := root(t, c, "POST", "/mediators/urn:mediator:go-example/heartbeat", map[string]any{"uptime": 1}); r.status != 404 {
		t.Fatalf("heartbeat after delete: %d", r.status)
	}
}

func TestMalformedJSONBody(t *testing.T) {
	c := startCore(t, Options{})
	r := call(t, "POST", c.APIURL()+"/mediators", `{"urn":`, map[string]string{"Authorization": rootBasic, "Content-Type": "application/json"})
	if r.status != 400 {
		t.Fatalf("%d %q", r.status, r.body)
	}
	// koa-bodyparser's strict mode: only objects and arrays are JSON.
	for _, b := range []string{`null`, `"urn"`, `5`} {
		r = call(t, "POST", c.APIURL()+"/mediators", b, map[string]string{"Authorization": rootBasic, "Content-Type": "application/json"})
		if r.status != 400 {
			t.Fatalf("%s body: %d %q", b, r.status, r.body)
		}
	}
	// An array has no urn.
	r = root(t, c, "POST", "/mediators", []any{})
	if r.status != 400 || !strings.Contains(r.body, "URN is required") {
		t.Fatalf("array body: %d %q", r.status, r.body)
	}
}

func TestSemver(t *testing.T) {
	valid := []string{"1.0.0", "v1.2.3", "0.0.1-alpha.1", "1.0.0+build.5", "1.0.0-rc.1+b", "10.20.30"}
	invalid := []string{"", "0.8", "1", "1.0.0.0", "01.0.0", "1.0.0-01", "1.0.0-", "a.b.c", "1.0.0+", "1.0.x"}
	for _, v := range valid {
		if _, ok := parseSemver(v); !ok {
			t.Errorf("%q should be valid", v)
		}
	}
	for _, v := range invalid {
		if _, ok := parseSemver(v); ok {
			t.Errorf("%q should be invalid", v)
		}
	}
	order := []string{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "2.0.0"}
	for i := 0; i+1 < len(order); i++ {
		a, _ := parseSemver(order[i])
		b, _ := parseSemver(order[i+1])
		if compareSemver(a, b) >= 0 || compareSemver(b, a) <= 0 {
			t.Errorf("%s < %s failed", order[i], order[i+1])
		}
	}
	a, _ := parseSemver("1.0.0+a")
	b, _ := parseSemver("1.0.0+b")
	if compareSemver(a, b) != 0 {
		t.Error("build metadata must not affect precedence")
	}
}

func TestRegistrationPayloadRoundTrip(t *testing.T) {
	c := startCore(t, Options{})
	reg := registerExample(t, c)
	doc, _ := c.Mediator("urn:mediator:go-example")
	if !reflect.DeepEqual(doc["config"], reg["config"]) {
		a, _ := json.Marshal(doc["config"])
		t.Fatalf("config changed on store: %s", a)
	}
}

func TestDefaultChannelsBodyNotJSONInstallsNothing(t *testing.T) {
	c := startCore(t, Options{DisablePolling: true})
	registerExample(t, c)
	// Without a JSON content type the body is {}: core answers 201 and
	// installs nothing.
	r := call(t, "POST", c.APIURL()+"/mediators/urn:mediator:go-example/channels", "[]", map[string]string{"Authorization": rootBasic})
	if r.status != 201 || len(c.Channels()) != 0 {
		t.Fatalf("%d, %d channels", r.status, len(c.Channels()))
	}
}
