package config

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func envFrom(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestSettingsDefaults(t *testing.T) {
	s, errs := SettingsFromEnv(envFrom(nil))
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	want := DefaultSettings()
	if !reflect.DeepEqual(s, want) {
		t.Errorf("got %+v\nwant %+v", s, want)
	}
	if s.ListenPort != 4001 || s.URN != "urn:mediator:jobmediator" || s.MediatorName != "Job Mediator" ||
		s.BodySizeLimit != 10<<20 || s.DataDir != "./data" || s.HeartbeatInterval != 10*time.Second ||
		s.TrustSelfSigned || s.Register {
		t.Errorf("defaults = %+v", s)
	}
}

func TestSettingsEnvAliases(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want func(s Settings) bool
	}{
		{"mediator url wins over the others", map[string]string{"OPENHIM_MEDIATOR_URL": "https://a:8080", "OPENHIM_URL": "https://b:8080", "OPENHIM_API_URL": "https://c:8080"},
			func(s Settings) bool { return s.OpenHIMURL == "https://a:8080" }},
		{"OPENHIM_URL over OPENHIM_API_URL", map[string]string{"OPENHIM_URL": "https://b:8080", "OPENHIM_API_URL": "https://c:8080"},
			func(s Settings) bool { return s.OpenHIMURL == "https://b:8080" }},
		{"OPENHIM_API_URL alone", map[string]string{"OPENHIM_API_URL": "https://c:8080"},
			func(s Settings) bool { return s.OpenHIMURL == "https://c:8080" }},
		{"empty alias is skipped", map[string]string{"OPENHIM_MEDIATOR_URL": "  ", "OPENHIM_URL": "https://b:8080"},
			func(s Settings) bool { return s.OpenHIMURL == "https://b:8080" }},
		{"register defaults on with a URL", map[string]string{"OPENHIM_URL": "https://b:8080"},
			func(s Settings) bool { return s.Register }},
		{"REGISTER_MEDIATOR wins over OPENHIM_REGISTER", map[string]string{"OPENHIM_URL": "https://b:8080", "REGISTER_MEDIATOR": "no", "OPENHIM_REGISTER": "yes"},
			func(s Settings) bool { return !s.Register }},
		{"OPENHIM_REGISTER alone", map[string]string{"OPENHIM_REGISTER": "1"},
			func(s Settings) bool { return s.Register }},
		{"mongo aliases", map[string]string{"MONGO_URL": "mongodb://a/x", "MONGODB_CONNECTION_STRING": "mongodb://b/y"},
			func(s Settings) bool { return s.MongoURL == "mongodb://a/x" }},
		{"MONGODB_CONNECTION_STRING alone", map[string]string{"MONGODB_CONNECTION_STRING": "mongodb://b/y"},
			func(s Settings) bool { return s.MongoURL == "mongodb://b/y" }},
		{"everything else", map[string]string{
			"OPENHIM_USERNAME": "root@openhim.org", "OPENHIM_PASSWORD": " pass word ", "TRUST_SELF_SIGNED": "TRUE",
			"OPENHIM_CA_FILE": "/ca.pem", "MEDIATOR_URN": "urn:mediator:x", "MEDIATOR_NAME": "X", "MEDIATOR_HOST": "jm",
			"MEDIATOR_PORT": "4002", "SERVER_PORT": "3000", "LOG_LEVEL": "DEBUG", "BODY_SIZE_LIMIT": "50mb",
			"JM_PROJECT": "p", "JM_OPTIONS": "o", "JM_CREDENTIALS": "c", "JM_DATA_DIR": "d", "MONGO_DATABASE": "db",
			"HEARTBEAT_INTERVAL": "30", "JM_COMPAT": "Legacy", "JM_SENSITIVE_KEYS": "nationalId, phone"},
			func(s Settings) bool {
				return s.OpenHIMUsername == "root@openhim.org" && s.OpenHIMPassword == " pass word " && s.TrustSelfSigned &&
					s.CAFile == "/ca.pem" && s.URN == "urn:mediator:x" && s.MediatorName == "X" && s.RouteHost == "jm" &&
					s.RoutePort == 4002 && s.ListenPort == 3000 && s.LogLevel == "debug" && s.BodySizeLimit == 50<<20 &&
					s.ProjectPath == "p" && s.OptionsPath == "o" && s.CredentialsPath == "c" && s.DataDir == "d" &&
					s.MongoDatabase == "db" && s.HeartbeatInterval == 30*time.Second && s.Compat == CompatLegacy &&
					reflect.DeepEqual(s.SensitiveKeys, []string{"nationalId", "phone"}) && !s.Register
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, errs := SettingsFromEnv(envFrom(tt.env))
			if len(errs) != 0 {
				t.Fatal(errs)
			}
			if !tt.want(s) {
				t.Errorf("settings = %+v", s)
			}
		})
	}
}

func TestSettingsEnvErrors(t *testing.T) {
	env := map[string]string{"SERVER_PORT": "70000", "MEDIATOR_PORT": "x", "TRUST_SELF_SIGNED": "maybe",
		"BODY_SIZE_LIMIT": "lots", "HEARTBEAT_INTERVAL": "0", "JM_COMPAT": "modern", "REGISTER_MEDIATOR": "perhaps"}
	s, errs := SettingsFromEnv(envFrom(env))
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	want := []string{
		`environment: TRUST_SELF_SIGNED: "maybe" is not a boolean (fix: use true or false)`,
		`environment: REGISTER_MEDIATOR: "perhaps" is not a boolean (fix: use true or false)`,
		`environment: MEDIATOR_PORT: "x" is not a port number (fix: use a number from 1 to 65535)`,
		`environment: SERVER_PORT: "70000" is not a port number (fix: use a number from 1 to 65535)`,
		`environment: BODY_SIZE_LIMIT: "lots" is not a size (fix: write a size such as 50mb, 512kb or 1048576)`,
		`environment: HEARTBEAT_INTERVAL: "0" is not a positive duration (fix: write e.g. 10s)`,
		`environment: JM_COMPAT: unknown compat profile "modern" (fix: use legacy or lightning)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Bad values leave the defaults in place.
	if s.ListenPort != DefaultListenPort || s.BodySizeLimit != DefaultBodySizeLimit {
		t.Errorf("bad values changed settings: %+v", s)
	}
}

func TestFlagsOverrideEnv(t *testing.T) {
	env := map[string]string{"OPENHIM_URL": "https://env:8080", "SERVER_PORT": "3000", "LOG_LEVEL": "warn",
		"BODY_SIZE_LIMIT": "1mb", "JM_SENSITIVE_KEYS": "a,b", "TRUST_SELF_SIGNED": "true", "JM_PROJECT": "env-project"}
	s, errs := SettingsFromEnv(envFrom(env))
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	fs := flag.NewFlagSet("jobmediator", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	s.BindFlags(fs)
	err := fs.Parse([]string{"--openhim-url", "https://flag:8080", "--port=5000", "--body-size-limit", "512kb",
		"--sensitive-key", "c", "--sensitive-key=d,e", "--trust-self-signed=false", "--compat", "lightning", "--heartbeat", "1m"})
	if err != nil {
		t.Fatal(err)
	}
	if s.OpenHIMURL != "https://flag:8080" || s.ListenPort != 5000 || s.BodySizeLimit != 512<<10 ||
		!reflect.DeepEqual(s.SensitiveKeys, []string{"c", "d", "e"}) || s.TrustSelfSigned || s.Compat != CompatLightning ||
		s.HeartbeatInterval != time.Minute {
		t.Errorf("flags did not override env: %+v", s)
	}
	// Not given on the command line: the environment's value stays.
	if s.LogLevel != "warn" || s.ProjectPath != "env-project" || !s.Register {
		t.Errorf("env values lost: %+v", s)
	}
}

func TestRegisterFollowsURLUnlessExplicit(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want bool
	}{
		{"url flag turns registration on", nil, []string{"--openhim-url", "https://x:8080"}, true},
		{"explicit flag off, then url", nil, []string{"--register=false", "--openhim-url", "https://x:8080"}, false},
		{"url, then explicit flag off", nil, []string{"--openhim-url", "https://x:8080", "--register=false"}, false},
		{"env register off survives url flag", map[string]string{"REGISTER_MEDIATOR": "false"}, []string{"--openhim-url", "https://x:8080"}, false},
		{"bare --register", nil, []string{"--register"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := SettingsFromEnv(envFrom(tt.env))
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			s.BindFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if s.Register != tt.want {
				t.Errorf("Register = %v, want %v", s.Register, tt.want)
			}
		})
	}
}

func TestBadFlagValues(t *testing.T) {
	for _, args := range [][]string{{"--port", "0"}, {"--port", "x"}, {"--body-size-limit", "10 parsecs"},
		{"--trust-self-signed=maybe"}, {"--compat", "modern"}, {"--heartbeat", "soon"}} {
		s := DefaultSettings()
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		s.BindFlags(fs)
		if err := fs.Parse(args); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"1048576", 1048576, false},
		{"50mb", 50 << 20, false},
		{"50MB", 50 << 20, false},
		{"512kb", 512 << 10, false},
		{"512 KiB", 512 << 10, false},
		{"1gb", 1 << 30, false},
		{"1.5mb", 3 << 19, false},
		{"10b", 10, false},
		{"2m", 2 << 20, false},
		{"", 0, true},
		{"mb", 0, true},
		{"-5mb", 0, true},
		{"10 parsecs", 0, true},
		{"0", 0, true},
		{"2tb", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseByteSize(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d, err=%v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestSettingsValidate(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := DefaultSettings()
	good.ProjectPath = "p"
	if errs := good.Validate(); len(errs) != 0 {
		t.Fatalf("defaults with a project should validate: %v", errs)
	}
	tests := []struct {
		name   string
		modify func(s *Settings)
		want   string
	}{
		{"bad url", func(s *Settings) { s.OpenHIMURL = "openhim:8080" }, `OPENHIM_URL/--openhim-url: scheme "openhim" is not http or https`},
		{"url without host", func(s *Settings) { s.OpenHIMURL = "https://" }, "URL has no host"},
		{"url with password", func(s *Settings) { s.OpenHIMURL = "https://root:hunter22@x:8080" }, "URL holds a user name or password"},
		{"register without url", func(s *Settings) { s.Register = true; s.OpenHIMUsername = "u"; s.OpenHIMPassword = "p" }, "registration is on but no OpenHIM URL is set"},
		{"register without user", func(s *Settings) { s.Register = true; s.OpenHIMURL = "https://x" }, "registration needs an OpenHIM API user"},
		{"user without password", func(s *Settings) { s.OpenHIMUsername = "u" }, "OPENHIM_PASSWORD/--openhim-password: a user name is set but no password"},
		{"ca missing", func(s *Settings) { s.CAFile = ca + ".missing" }, "cannot be read"},
		{"ca dir", func(s *Settings) { s.CAFile = filepath.Dir(ca) }, "is a directory"},
		{"listen port", func(s *Settings) { s.ListenPort = 0 }, "SERVER_PORT/--port: port 0 is out of range"},
		{"route port", func(s *Settings) { s.RoutePort = 70000 }, "MEDIATOR_PORT/--route-port"},
		{"log level", func(s *Settings) { s.LogLevel = "loud" }, `unknown log level "loud"`},
		{"body limit", func(s *Settings) { s.BodySizeLimit = 0 }, "body size limit must be positive"},
		{"compat", func(s *Settings) { s.Compat = "x" }, "JM_COMPAT/--compat"},
		{"no project", func(s *Settings) { s.ProjectPath = "" }, "JM_PROJECT/--project: no project is set"},
		{"mongo scheme", func(s *Settings) { s.MongoURL = "postgres://u:mongo-secret@h/db" }, "not a mongodb:// or mongodb+srv:// connection string"},
		{"no store", func(s *Settings) { s.DataDir = "" }, "no MongoDB URL and no data directory"},
		{"empty urn", func(s *Settings) { s.URN = " " }, "URN is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good
			s.CAFile = ca
			tt.modify(&s)
			errs := s.Validate()
			var all []string
			for _, e := range errs {
				all = append(all, e.Error())
			}
			joined := strings.Join(all, "\n")
			if !strings.Contains(joined, tt.want) {
				t.Errorf("errors %q do not mention %q", joined, tt.want)
			}
			for _, secret := range []string{"hunter22", "mongo-secret"} {
				if strings.Contains(joined, secret) {
					t.Errorf("error leaks %q: %s", secret, joined)
				}
			}
		})
	}
}

func TestSettingsRedacted(t *testing.T) {
	s := DefaultSettings()
	s.OpenHIMPassword = "openhim-secret"
	s.MongoURL = "mongodb://jm:mongo-secret@mongo:27017/jm"
	r := s.Redacted()
	if r["openhim_password"] != "***" || r["mongo_url"] != "mongodb://jm:***@mongo:27017/jm" {
		t.Errorf("redacted = %v", r)
	}
	for k, v := range r {
		if str, ok := v.(string); ok && (strings.Contains(str, "openhim-secret") || strings.Contains(str, "mongo-secret")) {
			t.Errorf("%s leaks a secret: %s", k, str)
		}
	}
	if r["listen_port"] != 4001 || r["route_port"] != 4001 {
		t.Errorf("route port defaults to the listen port: %v", r)
	}
	// The password never shows in -help either.
	if help, _ := helpOf(&s); strings.Contains(help, "openhim-secret") || strings.Contains(help, "mongo-secret") {
		t.Error("flag defaults print a secret")
	}
}

func TestParseRouteAuth(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []RouteUser
		err  string
	}{
		{"openhim:s3cret", []RouteUser{{"openhim", "s3cret"}}, ""},
		{"a:pw-with:colon, b:second", []RouteUser{{"a", "pw-with:colon"}, {"b", "second"}}, ""},
		{"a:1,", []RouteUser{{"a", "1"}}, ""},
		{"nopassword", nil, "entry 1 is not user:password"},
		{"a:1,:orphan-secret", nil, "entry 2 is not user:password"},
		{"a:", nil, "entry 1 is not user:password"},
		{" , ", nil, "no user:password given"},
	} {
		got, err := ParseRouteAuth(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%q: %v %v, want %v", tc.in, got, err, tc.want)
		}
	}
	// From the environment: a bad value is reported without echoing it;
	// a good one is masked in the logged configuration and in -help.
	_, errs := SettingsFromEnv(envFrom(map[string]string{"JM_ROUTE_AUTH": "only-a-secret-value"}))
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "JM_ROUTE_AUTH") || strings.Contains(errs[0].Error(), "only-a-secret-value") {
		t.Errorf("errors %v", errs)
	}
	s, errs := SettingsFromEnv(envFrom(map[string]string{"JM_ROUTE_AUTH": "openhim:route-pw-1,old:route-pw-0"}))
	if len(errs) != 0 || len(s.RouteAuth) != 2 {
		t.Fatalf("%+v %v", s.RouteAuth, errs)
	}
	r := fmt.Sprint(s.Redacted())
	if !strings.Contains(r, "openhim:***") || strings.Contains(r, "route-pw") {
		t.Errorf("redacted settings: %s", r)
	}
	help, fs := helpOf(&s)
	if strings.Contains(help, "route-pw") {
		t.Error("-help prints a route password")
	}
	if err := fs.Parse([]string{"--route-auth", "cli:from-flag"}); err != nil || len(s.RouteAuth) != 1 || s.RouteAuth[0].Username != "cli" {
		t.Errorf("flag: %v %+v", err, s.RouteAuth)
	}
}

// helpOf is the -help text of s's flags, and the flag set (bound to s).
func helpOf(s *Settings) (string, *flag.FlagSet) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	var out strings.Builder
	fs.SetOutput(&out)
	s.BindFlags(fs)
	fs.PrintDefaults()
	return out.String(), fs
}

func TestFormatByteSizeRoundTrips(t *testing.T) {
	for n, want := range map[int64]string{10 << 20: "10mb", 512 << 10: "512kb", 2 << 30: "2gb", 1536: "1536b", 1: "1b", 3 << 20 / 2: "1536kb"} {
		got := FormatByteSize(n)
		if got != want {
			t.Errorf("FormatByteSize(%d) = %q, want %q", n, got, want)
		}
		if back, err := ParseByteSize(got); err != nil || back != n {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", got, back, err, n)
		}
	}
}

func TestListenAndTimeouts(t *testing.T) {
	for _, tc := range []struct {
		listen, port string
		addr         string // "" = invalid
	}{
		{"", "", ":4001"},
		{"127.0.0.1", "", "127.0.0.1:4001"},
		{"127.0.0.1:4100", "4200", "127.0.0.1:4100"}, // the port in JM_LISTEN wins
		{":4100", "", ":4100"},
		{"localhost", "4200", "localhost:4200"},
		{"::1", "", "[::1]:4001"},
		{"[::1]:4100", "", "[::1]:4100"},
		{"127.0.0.1:99999", "", ""},
		{"bad host!", "", ""},
	} {
		env := map[string]string{"JM_LISTEN": tc.listen, "SERVER_PORT": tc.port}
		s, errs := SettingsFromEnv(func(k string) string { return env[k] })
		if tc.addr == "" {
			if len(errs) == 0 {
				t.Errorf("JM_LISTEN=%q accepted as %s", tc.listen, s.ListenAddress())
			}
			continue
		}
		if len(errs) > 0 || s.ListenAddress() != tc.addr {
			t.Errorf("JM_LISTEN=%q SERVER_PORT=%q: %s %v, want %s", tc.listen, tc.port, s.ListenAddress(), errs, tc.addr)
		}
	}
	s, errs := SettingsFromEnv(func(k string) string { return map[string]string{"READ_TIMEOUT": "5s", "IDLE_TIMEOUT": "0"}[k] })
	if s.ReadTimeout != 5*time.Second || s.IdleTimeout != DefaultIdleTimeout || s.WriteTimeout != 0 || len(errs) != 1 {
		t.Errorf("timeouts %v %v %v, errors %v", s.ReadTimeout, s.WriteTimeout, s.IdleTimeout, errs)
	}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	s = DefaultSettings()
	s.BindFlags(fs)
	if err := fs.Parse([]string{"--listen", "127.0.0.1:4555", "--read-timeout", "2s"}); err != nil || s.ListenAddress() != "127.0.0.1:4555" || s.ReadTimeout != 2*time.Second {
		t.Errorf("flags: %v %s %v", err, s.ListenAddress(), s.ReadTimeout)
	}
}
