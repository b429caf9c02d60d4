package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jobmediator/jobmediator/internal/redact"
)

// Settings are the daemon's own settings (not the project's).
//
// Precedence, highest first: command-line flag > environment variable >
// default. Where the ecosystem has several spellings of one variable, the
// first one listed below that is set (non-empty) wins:
//
//	OpenHIMURL        OPENHIM_MEDIATOR_URL | OPENHIM_URL | OPENHIM_API_URL   --openhim-url
//	OpenHIMUsername   OPENHIM_USERNAME                                        --openhim-username
//	OpenHIMPassword   OPENHIM_PASSWORD                                        --openhim-password
//	TrustSelfSigned   TRUST_SELF_SIGNED (default false: verify TLS)          --trust-self-signed
//	CAFile            OPENHIM_CA_FILE                                         --openhim-ca-file
//	Register          REGISTER_MEDIATOR | OPENHIM_REGISTER (default: true when an OpenHIM URL is set)  --register
//	URN               MEDIATOR_URN (default urn:mediator:jobmediator)         --urn
//	MediatorName      MEDIATOR_NAME (default "Job Mediator")                  --mediator-name
//	RouteHost         MEDIATOR_HOST (route host advertised to core; "" = this host's name)  --route-host
//	RoutePort         MEDIATOR_PORT (route port advertised to core; 0 = ListenPort)         --route-port
//	ListenPort        SERVER_PORT (default 4001)                              --port
//	ListenHost        JM_LISTEN (address to listen on, e.g. 127.0.0.1 or 127.0.0.1:4001; a port given here wins over SERVER_PORT; default all interfaces)  --listen
//	ReadTimeout       READ_TIMEOUT (whole request, headers and body; default 60s)  --read-timeout
//	WriteTimeout      WRITE_TIMEOUT (answer; default: the longest workflow timeout + 30s)  --write-timeout
//	IdleTimeout       IDLE_TIMEOUT (keep-alive connection left idle; default 120s)  --idle-timeout
//	LogLevel          LOG_LEVEL (default info)                                --log-level
//	BodySizeLimit     BODY_SIZE_LIMIT (50mb, 512kb, 1048576; default 10 MiB)  --body-size-limit
//	ProjectPath       JM_PROJECT                                              --project
//	OptionsPath       JM_OPTIONS (default: jobmediator.yaml beside the project)  --options
//	CredentialsPath   JM_CREDENTIALS                                          --credentials
//	DataDir           JM_DATA_DIR (embedded store; default ./data)            --data-dir
//	MongoURL          MONGO_URL | MONGODB_CONNECTION_STRING                   --mongo-url
//	MongoDatabase     MONGO_DATABASE (default jobmediator)                    --mongo-database
//	HeartbeatInterval HEARTBEAT_INTERVAL (10s, or seconds; default 10s)      --heartbeat
//	Compat            JM_COMPAT (legacy | lightning; default per project format)  --compat
//	SensitiveKeys     JM_SENSITIVE_KEYS (comma-separated)                     --sensitive-key (repeatable)
//	RetentionDays     JM_RETENTION_DAYS (run history age limit; 0 = keep)     --retention-days
//	RetentionMaxRuns  JM_RETENTION_MAX_RUNS (newest runs kept; 0 = keep)      --retention-max-runs
//	Workers           JM_WORKERS (queued runs at once; default 4)             --workers
//	APIToken          JM_API_TOKEN (bearer token for /api, several comma-separated; empty disables the API)  --api-token
//	RouteAuth         JM_ROUTE_AUTH (user:password[,user:password…] callers of workflow endpoints must send; empty = open)  --route-auth
//	TimeZone          JM_TIME_ZONE (IANA zone cron expressions are read in; default UTC)  --time-zone
//	QueueLease        JM_QUEUE_LEASE (how long a claimed message is ours before another replica may take it; default 60s)
//	Pprof             JM_PPROF (serve /debug/pprof behind the API token; default false)  --pprof
//	Isolation         JM_ISOLATION (process: every run in a worker process with a memory limit; none: in the daemon; default process)  --isolation
//	RunWorkers        JM_RUN_WORKERS (runs at once, one worker process each; default 10)  --run-workers
//	TLSCertFile       TLS_CERT_FILE (serve HTTPS with this PEM certificate)   --tls-cert
//	TLSKeyFile        TLS_KEY_FILE (its PEM key)                              --tls-key
//	TLSClientCAFile   TLS_CLIENT_CA_FILE (workflow endpoints need a client certificate signed by it)  --client-ca
//	PublicURL         JM_PUBLIC_URL (how people reach this mediator; links in notifications)  --public-url
//	NotifyWebhookURL  JM_NOTIFY_WEBHOOK_URL (POST notifications as signed JSON)
//	NotifyWebhookSecret JM_NOTIFY_WEBHOOK_SECRET (HMAC key of X-JobMediator-Signature)
//	SMTPURL           JM_SMTP_URL (smtp://user:pass@host:587 STARTTLS, smtps:// TLS)
//	SMTPCAFile        JM_SMTP_CA_FILE (PEM CA bundle for the mail server's certificate)
//	NotifyEmailFrom   JM_NOTIFY_EMAIL_FROM (sender of notification mail)
//	NotifyEmailTo     JM_NOTIFY_EMAIL_TO (comma-separated recipients of every notification)
//	NotifyWindow      JM_NOTIFY_WINDOW (collect a storm this long before the first message; default 1m)
//	NotifyRepeat      JM_NOTIFY_REPEAT (least time between messages about one open problem; default 1h)
//	ConsoleAddr       JM_CONSOLE_ADDR (operator console: "" = under /console/ on the main port, host:port = its own listener, off = none)  --console-addr
//	AdminPassword     JM_ADMIN_PASSWORD (first console admin's password; empty = generated and printed once)
//	SessionTTL        JM_SESSION_TTL (how long a console login lasts; default 8h)  --session-ttl
//	OpenHIMConsoleURL OPENHIM_CONSOLE_URL (links runs to their transaction in the OpenHIM console)  --openhim-console-url
//
// Booleans accept true/false, 1/0, yes/no, on/off. jobmediator.yaml does not
// hold settings: it is per-project, settings are per-deployment.
type Settings struct {
	OpenHIMURL, OpenHIMUsername, OpenHIMPassword string
	TrustSelfSigned                              bool
	CAFile                                       string
	Register                                     bool
	URN, MediatorName                            string
	RouteHost                                    string
	RoutePort                                    int
	ListenPort                                   int
	// ListenHost is the address the listener binds ("" = every interface),
	// e.g. 127.0.0.1 to keep the port private to the host.
	ListenHost string
	// ReadTimeout bounds reading a whole request (a trickled body gets 408);
	// WriteTimeout bounds writing the answer (0: the longest workflow
	// timeout plus 30s, so no run is cut off); IdleTimeout closes idle
	// keep-alive connections.
	ReadTimeout, WriteTimeout, IdleTimeout    time.Duration
	LogLevel                                  string
	BodySizeLimit                             int64
	ProjectPath, OptionsPath, CredentialsPath string
	DataDir                                   string
	MongoURL, MongoDatabase                   string
	HeartbeatInterval                         time.Duration
	Compat                                    Compat
	SensitiveKeys                             []string
	// Run history retention: runs older than RetentionDays and all but the
	// RetentionMaxRuns newest are culled hourly (0 = keep).
	RetentionDays, RetentionMaxRuns int
	// Workers is how many queued messages (async work, retries) this
	// replica runs at once.
	Workers int
	// APIToken guards the operator API (/api: manual runs, run history,
	// cursors); empty disables it. Several tokens, comma-separated, are all
	// accepted, so one can be rotated without downtime.
	APIToken string
	// RouteAuth, when set, is who may call the workflow endpoints: Basic
	// auth with one of these users. The first is what the default channels
	// registered with core send (route username/password); the others stay
	// valid while a rotated password reaches every channel.
	RouteAuth []RouteUser
	// TimeZone is the default zone for cron expressions.
	TimeZone string
	// QueueLease is how long a claimed message stays ours without renewal;
	// after a crash, other replicas (or this one restarted) reclaim it.
	QueueLease time.Duration
	// Pprof serves Go's profiler at /debug/pprof, behind the operator API
	// token, so an operator can profile a production mediator. Off by
	// default: a CPU profile costs a few percent while it runs.
	Pprof bool
	// Isolation is where jobs run: IsolationProcess (default) in worker
	// processes, so a runaway job fails alone; IsolationNone in the daemon
	// itself (one job can then take every run down: for debugging only).
	Isolation string
	// RunWorkers is how many runs go at once, each in its own worker
	// process (0: 10, the default routed plus scheduled lanes).
	RunWorkers int

	// TLS: HTTPS from these files (reloaded on SIGHUP or change); with a
	// client CA, workflow endpoints need a client certificate it signed
	// (OpenHIM core on a secured route) or one of their inbox methods.
	TLSCertFile, TLSKeyFile, TLSClientCAFile string
	// PublicURL is the mediator's address for people (links to the
	// console's runs page in notifications); default derived from the
	// route host and port.
	PublicURL string
	// Notifications (notify package): a signed webhook and/or mail.
	NotifyWebhookURL, NotifyWebhookSecret string
	SMTPURL, SMTPCAFile                   string
	NotifyEmailFrom                       string
	NotifyEmailTo                         []string
	NotifyWindow, NotifyRepeat            time.Duration
	// ConsoleAddr moves the operator console to its own listener
	// (host:port), keeping it off the HIE network; "" serves it under
	// /console/ on the main port, "off" not at all.
	ConsoleAddr string
	// AdminPassword is the first console admin's password (only used while
	// the store has no user).
	AdminPassword string
	// SessionTTL is how long a console login lasts.
	SessionTTL time.Duration
	// OpenHIMConsoleURL is the OpenHIM console's address, for links from a
	// run to its transaction.
	OpenHIMConsoleURL string

	// registerExplicit is set once REGISTER_MEDIATOR or --register was
	// given; until then Register follows whether an OpenHIM URL is set.
	registerExplicit bool
}

// SplitTokens reads a comma-separated list of secrets (JM_API_TOKEN):
// blanks trimmed, empty entries dropped.
func SplitTokens(v string) []string {
	var out []string
	for _, t := range strings.Split(v, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// RouteUser is a username and password for Basic auth on the workflow
// endpoints.
type RouteUser struct{ Username, Password string }

// ParseRouteAuth reads "user:password[,user:password…]". A password may
// contain ":" but not ",".
func ParseRouteAuth(v string) ([]RouteUser, error) {
	var out []RouteUser
	for _, pair := range strings.Split(v, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		u, p, ok := strings.Cut(pair, ":")
		if !ok || u == "" || p == "" {
			// Never echo the pair: it may be a password.
			return nil, fmt.Errorf("entry %d is not user:password", len(out)+1)
		}
		out = append(out, RouteUser{Username: u, Password: p})
	}
	if len(out) == 0 {
		return nil, errors.New("no user:password given")
	}
	return out, nil
}

// Setting defaults.
const (
	DefaultListenPort    = 4001
	DefaultReadTimeout   = 60 * time.Second
	DefaultIdleTimeout   = 120 * time.Second
	DefaultURN           = "urn:mediator:jobmediator"
	DefaultMediatorName  = "Job Mediator"
	DefaultBodySizeLimit = 10 << 20
	DefaultDataDir       = "./data"
	DefaultHeartbeat     = 10 * time.Second
	DefaultLogLevel      = "info"
	DefaultMongoDatabase = "jobmediator"
	IsolationProcess     = "process"
	IsolationNone        = "none"
)

// envSource is the File of ValidationErrors about environment variables.
const envSource = "environment"

// DefaultSettings are the settings with nothing set.
func DefaultSettings() Settings {
	return Settings{
		URN:               DefaultURN,
		MediatorName:      DefaultMediatorName,
		ListenPort:        DefaultListenPort,
		ReadTimeout:       DefaultReadTimeout,
		IdleTimeout:       DefaultIdleTimeout,
		LogLevel:          DefaultLogLevel,
		BodySizeLimit:     DefaultBodySizeLimit,
		DataDir:           DefaultDataDir,
		MongoDatabase:     DefaultMongoDatabase,
		HeartbeatInterval: DefaultHeartbeat,
		Isolation:         IsolationProcess,
		SessionTTL:        DefaultSessionTTL,
	}
}

// DefaultSessionTTL is how long a console login lasts by default.
const DefaultSessionTTL = 8 * time.Hour

// SettingsFromEnv reads the settings from the environment (getenv is
// os.Getenv in production). Every bad value is reported, as a
// ValidationError naming the variable; the value is left at its default.
func SettingsFromEnv(getenv func(string) string) (Settings, []error) {
	s := DefaultSettings()
	var errs []error
	bad := func(name, msg, fix string) {
		errs = append(errs, ValidationError{File: envSource, Field: name, Message: msg, Fix: fix})
	}
	// first returns the first set alias and its name.
	first := func(names ...string) (string, string) {
		for _, n := range names {
			if v := strings.TrimSpace(getenv(n)); v != "" {
				return v, n
			}
		}
		return "", ""
	}
	str := func(dst *string, names ...string) {
		if v, _ := first(names...); v != "" {
			*dst = v
		}
	}
	boolean := func(dst *bool, names ...string) bool {
		v, name := first(names...)
		if v == "" {
			return false
		}
		b, err := parseBool(v)
		if err != nil {
			bad(name, err.Error(), "use true or false")
			return false
		}
		*dst = b
		return true
	}
	port := func(dst *int, allowZero bool, names ...string) {
		v, name := first(names...)
		if v == "" {
			return
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 65535 || (n == 0 && !allowZero) {
			bad(name, fmt.Sprintf("%q is not a port number", v), "use a number from 1 to 65535")
			return
		}
		*dst = n
	}

	count := func(dst *int, name string) {
		v, _ := first(name)
		if v == "" {
			return
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			bad(name, fmt.Sprintf("%q is not a whole number", v), "use 0 or a positive whole number")
			return
		}
		*dst = n
	}
	count(&s.RetentionDays, "JM_RETENTION_DAYS")
	count(&s.RetentionMaxRuns, "JM_RETENTION_MAX_RUNS")
	count(&s.Workers, "JM_WORKERS")
	count(&s.RunWorkers, "JM_RUN_WORKERS")
	if v, name := first("JM_ISOLATION"); v != "" {
		if v = strings.ToLower(v); v != IsolationProcess && v != IsolationNone {
			bad(name, fmt.Sprintf("unknown isolation %q", v), "use process (default) or none")
		} else {
			s.Isolation = v
		}
	}

	str(&s.OpenHIMURL, "OPENHIM_MEDIATOR_URL", "OPENHIM_URL", "OPENHIM_API_URL")
	str(&s.OpenHIMUsername, "OPENHIM_USERNAME")
	// The password is taken verbatim (spaces may be part of it).
	if v := getenv("OPENHIM_PASSWORD"); v != "" {
		s.OpenHIMPassword = v
	}
	boolean(&s.TrustSelfSigned, "TRUST_SELF_SIGNED")
	boolean(&s.Pprof, "JM_PPROF")
	str(&s.TLSCertFile, "TLS_CERT_FILE")
	str(&s.TLSKeyFile, "TLS_KEY_FILE")
	str(&s.TLSClientCAFile, "TLS_CLIENT_CA_FILE")
	str(&s.PublicURL, "JM_PUBLIC_URL")
	str(&s.NotifyWebhookURL, "JM_NOTIFY_WEBHOOK_URL")
	// Secrets are taken verbatim (spaces may be part of them).
	if v := getenv("JM_NOTIFY_WEBHOOK_SECRET"); v != "" {
		s.NotifyWebhookSecret = v
	}
	str(&s.SMTPURL, "JM_SMTP_URL")
	str(&s.SMTPCAFile, "JM_SMTP_CA_FILE")
	str(&s.NotifyEmailFrom, "JM_NOTIFY_EMAIL_FROM")
	if v, _ := first("JM_NOTIFY_EMAIL_TO"); v != "" {
		s.NotifyEmailTo = splitList(v)
	}
	for _, d := range []struct {
		dst  *time.Duration
		name string
	}{{&s.NotifyWindow, "JM_NOTIFY_WINDOW"}, {&s.NotifyRepeat, "JM_NOTIFY_REPEAT"}} {
		if v, name := first(d.name); v != "" {
			dur, err := ParseDuration(v)
			if err != nil || dur <= 0 {
				bad(name, fmt.Sprintf("%q is not a positive duration", v), "write e.g. 1m")
			} else {
				*d.dst = dur
			}
		}
	}
	str(&s.CAFile, "OPENHIM_CA_FILE")
	s.Register = s.OpenHIMURL != ""
	s.registerExplicit = boolean(&s.Register, "REGISTER_MEDIATOR", "OPENHIM_REGISTER")
	str(&s.URN, "MEDIATOR_URN")
	str(&s.MediatorName, "MEDIATOR_NAME")
	str(&s.RouteHost, "MEDIATOR_HOST")
	port(&s.RoutePort, true, "MEDIATOR_PORT")
	port(&s.ListenPort, false, "SERVER_PORT")
	if v, _ := first("LOG_LEVEL"); v != "" {
		s.LogLevel = strings.ToLower(v)
	}
	if v, name := first("BODY_SIZE_LIMIT"); v != "" {
		n, err := ParseByteSize(v)
		if err != nil {
			bad(name, err.Error(), "write a size such as 50mb, 512kb or 1048576")
		} else {
			s.BodySizeLimit = n
		}
	}
	str(&s.ProjectPath, "JM_PROJECT")
	str(&s.OptionsPath, "JM_OPTIONS")
	str(&s.CredentialsPath, "JM_CREDENTIALS")
	str(&s.DataDir, "JM_DATA_DIR")
	str(&s.MongoURL, "MONGO_URL", "MONGODB_CONNECTION_STRING")
	str(&s.MongoDatabase, "MONGO_DATABASE")
	if v, name := first("JM_LISTEN"); v != "" {
		if err := s.setListen(v); err != nil {
			bad(name, err.Error(), "write a host or host:port, e.g. 127.0.0.1 or 127.0.0.1:4001")
		}
	}
	for _, d := range []struct {
		p    *time.Duration
		name string
	}{{&s.ReadTimeout, "READ_TIMEOUT"}, {&s.WriteTimeout, "WRITE_TIMEOUT"}, {&s.IdleTimeout, "IDLE_TIMEOUT"}} {
		if v, name := first(d.name); v != "" {
			t, err := ParseDuration(v)
			if err != nil || t < time.Second {
				bad(name, fmt.Sprintf("%q is not a duration of at least 1s", v), "write e.g. 60s")
			} else {
				*d.p = t
			}
		}
	}
	if v, name := first("HEARTBEAT_INTERVAL"); v != "" {
		d, err := ParseDuration(v)
		if err != nil || d == 0 {
			bad(name, fmt.Sprintf("%q is not a positive duration", v), "write e.g. 10s")
		} else {
			s.HeartbeatInterval = d
		}
	}
	if v := getenv("JM_API_TOKEN"); v != "" {
		s.APIToken = v
	}
	if v := getenv("JM_ROUTE_AUTH"); v != "" {
		users, err := ParseRouteAuth(v)
		if err != nil {
			bad("JM_ROUTE_AUTH", err.Error(), "write user:password, several separated by commas")
		} else {
			s.RouteAuth = users
		}
	}
	if v, name := first("JM_TIME_ZONE"); v != "" {
		if _, err := time.LoadLocation(v); err != nil {
			bad(name, fmt.Sprintf("%q is not a time zone", v), "use an IANA name such as UTC or Asia/Phnom_Penh")
		} else {
			s.TimeZone = v
		}
	}
	if v, name := first("JM_QUEUE_LEASE"); v != "" {
		d, err := ParseDuration(v)
		if err != nil || d < time.Second {
			bad(name, fmt.Sprintf("%q is not a duration of at least 1s", v), "write e.g. 60s")
		} else {
			s.QueueLease = d
		}
	}
	str(&s.ConsoleAddr, "JM_CONSOLE_ADDR")
	if v := getenv("JM_ADMIN_PASSWORD"); v != "" {
		s.AdminPassword = v
	}
	str(&s.OpenHIMConsoleURL, "OPENHIM_CONSOLE_URL")
	if v, name := first("JM_SESSION_TTL"); v != "" {
		d, err := ParseDuration(v)
		if err != nil || d < time.Minute {
			bad(name, fmt.Sprintf("%q is not a duration of at least 1m", v), "write e.g. 8h")
		} else {
			s.SessionTTL = d
		}
	}
	if v, name := first("JM_COMPAT"); v != "" {
		c, err := parseCompat(v)
		if err != nil {
			bad(name, err.Error(), "use legacy or lightning")
		} else {
			s.Compat = c
		}
	}
	if v, _ := first("JM_SENSITIVE_KEYS"); v != "" {
		s.SensitiveKeys = splitList(v)
	}
	return s, errs
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseCompat(v string) (Compat, error) {
	switch Compat(strings.ToLower(strings.TrimSpace(v))) {
	case CompatLegacy:
		return CompatLegacy, nil
	case CompatLightning:
		return CompatLightning, nil
	case CompatDefault:
		return CompatDefault, nil
	}
	return "", fmt.Errorf("unknown compat profile %q", v)
}

// parseBool accepts the spellings deployments use.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "yes", "y", "on":
		return true, nil
	case "false", "0", "no", "n", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean", v)
}

// ParseByteSize reads a size as body-parser (the `bytes` package) does:
// a number of bytes, or a number with b, kb, mb, gb (also kib, mib, gib; k,
// m, g), all powers of 1024, case-insensitive.
func ParseByteSize(v string) (int64, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.TrimSpace(s[i:])
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || num == "" {
		return 0, fmt.Errorf("%q is not a size", v)
	}
	mult := map[string]float64{
		"": 1, "b": 1,
		"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
		"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
		"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
	}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("%q has an unknown unit %q", v, unit)
	}
	n := f * mult
	if n < 1 {
		return 0, fmt.Errorf("%q is smaller than one byte", v)
	}
	if n > 1<<40 {
		return 0, fmt.Errorf("%q is larger than 1 TiB", v)
	}
	return int64(n), nil
}

// BindFlags defines one flag per setting on fs, each defaulting to the
// current value (so call it after SettingsFromEnv); flags given on the
// command line then override the environment.
func (s *Settings) BindFlags(fs *flag.FlagSet) {
	fs.Var(&urlFlag{s}, "openhim-url", "OpenHIM core API URL (env OPENHIM_MEDIATOR_URL | OPENHIM_URL | OPENHIM_API_URL)")
	fs.Var(strFlag{&s.OpenHIMUsername}, "openhim-username", "OpenHIM API user (env OPENHIM_USERNAME)")
	fs.Var(secretFlag{&s.OpenHIMPassword}, "openhim-password", "OpenHIM API password (env OPENHIM_PASSWORD; prefer the env: flags show in ps)")
	fs.Var(boolFlag{p: &s.TrustSelfSigned}, "trust-self-signed", "accept OpenHIM's self-signed certificate (env TRUST_SELF_SIGNED)")
	fs.Var(boolFlag{p: &s.Pprof}, "pprof", "serve /debug/pprof behind the API token (env JM_PPROF)")
	fs.Var(strFlag{&s.TLSCertFile}, "tls-cert", "serve HTTPS with this PEM certificate, reloaded on SIGHUP or change (env TLS_CERT_FILE)")
	fs.Var(strFlag{&s.TLSKeyFile}, "tls-key", "PEM key of --tls-cert (env TLS_KEY_FILE)")
	fs.Var(strFlag{&s.TLSClientCAFile}, "client-ca", "workflow endpoints need a client certificate signed by this PEM CA (env TLS_CLIENT_CA_FILE)")
	fs.Var(strFlag{&s.PublicURL}, "public-url", "how people reach this mediator, for links in notifications (env JM_PUBLIC_URL)")
	fs.Var(strFlag{&s.CAFile}, "openhim-ca-file", "PEM CA bundle for OpenHIM's certificate (env OPENHIM_CA_FILE)")
	fs.Var(boolFlag{p: &s.Register, set: &s.registerExplicit}, "register", "register with OpenHIM core and send heartbeats (env REGISTER_MEDIATOR | OPENHIM_REGISTER; default true when an OpenHIM URL is set)")
	fs.Var(strFlag{&s.URN}, "urn", "mediator URN (env MEDIATOR_URN)")
	fs.Var(strFlag{&s.MediatorName}, "mediator-name", "mediator name shown in the console (env MEDIATOR_NAME)")
	fs.Var(strFlag{&s.RouteHost}, "route-host", "host OpenHIM routes to (env MEDIATOR_HOST)")
	fs.Var(intFlag{p: &s.RoutePort, allowZero: true}, "route-port", "port OpenHIM routes to; 0 means --port (env MEDIATOR_PORT)")
	fs.Var(intFlag{p: &s.ListenPort}, "port", "port to listen on (env SERVER_PORT)")
	fs.Var(listenFlag{s}, "listen", "address to listen on, host or host:port, e.g. 127.0.0.1:4001 (env JM_LISTEN; default every interface)")
	fs.Var(durFlag{&s.ReadTimeout}, "read-timeout", "longest time to receive a whole request (env READ_TIMEOUT)")
	fs.Var(durFlag{&s.WriteTimeout}, "write-timeout", "longest time to send an answer; 0 = longest workflow timeout + 30s (env WRITE_TIMEOUT)")
	fs.Var(durFlag{&s.IdleTimeout}, "idle-timeout", "idle keep-alive connections are closed after this (env IDLE_TIMEOUT)")
	fs.Var(strFlag{&s.LogLevel}, "log-level", "trace, debug, info, warn, error (env LOG_LEVEL)")
	fs.Var(sizeFlag{&s.BodySizeLimit}, "body-size-limit", "largest request body, e.g. 50mb (env BODY_SIZE_LIMIT)")
	fs.Var(strFlag{&s.ProjectPath}, "project", "project.yaml, workflow.json or a directory (env JM_PROJECT)")
	fs.Var(strFlag{&s.OptionsPath}, "options", "jobmediator.yaml (env JM_OPTIONS; default beside the project)")
	fs.Var(strFlag{&s.CredentialsPath}, "credentials", "credentials map, YAML or JSON (env JM_CREDENTIALS)")
	fs.Var(strFlag{&s.DataDir}, "data-dir", "embedded store directory (env JM_DATA_DIR)")
	fs.Var(secretFlag{&s.MongoURL}, "mongo-url", "MongoDB connection string; empty uses the embedded store (env MONGO_URL | MONGODB_CONNECTION_STRING)")
	fs.Var(strFlag{&s.MongoDatabase}, "mongo-database", "MongoDB database (env MONGO_DATABASE)")
	fs.Var(durFlag{&s.HeartbeatInterval}, "heartbeat", "heartbeat interval (env HEARTBEAT_INTERVAL)")
	fs.Var(compatFlag{&s.Compat}, "compat", "default compat profile: legacy or lightning (env JM_COMPAT)")
	fs.Var(secretFlag{&s.APIToken}, "api-token", "bearer token for the operator API under /api, several comma-separated (env JM_API_TOKEN; empty disables it)")
	fs.Var(routeAuthFlag{&s.RouteAuth}, "route-auth", "user:password[,user:password…] callers of workflow endpoints must send with Basic auth (env JM_ROUTE_AUTH)")
	fs.Var(strFlag{&s.TimeZone}, "time-zone", "IANA zone cron expressions are read in (env JM_TIME_ZONE; default UTC)")
	fs.Var(intFlag{p: &s.RetentionDays, allowZero: true}, "retention-days", "cull runs older than this many days, 0 keeps (env JM_RETENTION_DAYS)")
	fs.Var(intFlag{p: &s.RetentionMaxRuns, allowZero: true}, "retention-max-runs", "keep at most this many runs, 0 keeps all (env JM_RETENTION_MAX_RUNS)")
	fs.Var(intFlag{p: &s.Workers, allowZero: true}, "workers", "queued runs (async work, retries) at once, default 4 (env JM_WORKERS)")
	fs.Var(strFlag{&s.Isolation}, "isolation", "where jobs run: process (worker processes with memory limits) or none (env JM_ISOLATION)")
	fs.Var(intFlag{p: &s.RunWorkers, allowZero: true}, "run-workers", "runs at once, one worker process each; 0 means 10 (env JM_RUN_WORKERS)")
	fs.Var(strFlag{&s.ConsoleAddr}, "console-addr", `operator console's own listen address (host:port); "" serves it under /console/ on --port, off disables it (env JM_CONSOLE_ADDR)`)
	fs.Var(durFlag{&s.SessionTTL}, "session-ttl", "how long a console login lasts (env JM_SESSION_TTL; default 8h)")
	fs.Var(strFlag{&s.OpenHIMConsoleURL}, "openhim-console-url", "OpenHIM console address, for links to transactions (env OPENHIM_CONSOLE_URL)")
	fs.Var(&listFlag{p: &s.SensitiveKeys}, "sensitive-key", "extra key name to redact, repeatable (env JM_SENSITIVE_KEYS)")
}

// routeAuthFlag never shows its value in -help output.
type routeAuthFlag struct{ p *[]RouteUser }

func (f routeAuthFlag) String() string { return "" }
func (f routeAuthFlag) Set(v string) error {
	users, err := ParseRouteAuth(v)
	if err != nil {
		return err
	}
	*f.p = users
	return nil
}

type strFlag struct{ p *string }

func (f strFlag) String() string {
	if f.p == nil {
		return ""
	}
	return *f.p
}
func (f strFlag) Set(v string) error { *f.p = v; return nil }

// secretFlag never shows its value in -help output.
type secretFlag struct{ p *string }

func (f secretFlag) String() string     { return "" }
func (f secretFlag) Set(v string) error { *f.p = v; return nil }

type urlFlag struct{ s *Settings }

func (f *urlFlag) String() string {
	if f == nil || f.s == nil {
		return ""
	}
	return f.s.OpenHIMURL
}
func (f *urlFlag) Set(v string) error {
	f.s.OpenHIMURL = v
	if !f.s.registerExplicit {
		f.s.Register = v != ""
	}
	return nil
}

type boolFlag struct {
	p   *bool
	set *bool
}

func (f boolFlag) String() string {
	if f.p == nil {
		return "false"
	}
	return strconv.FormatBool(*f.p)
}
func (f boolFlag) IsBoolFlag() bool { return true }
func (f boolFlag) Set(v string) error {
	b, err := parseBool(v)
	if err != nil {
		return err
	}
	*f.p = b
	if f.set != nil {
		*f.set = true
	}
	return nil
}

type intFlag struct {
	p         *int
	allowZero bool
}

func (f intFlag) String() string {
	if f.p == nil {
		return "0"
	}
	return strconv.Itoa(*f.p)
}
func (f intFlag) Set(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 65535 || (n == 0 && !f.allowZero) {
		return fmt.Errorf("%q is not a port number (1-65535)", v)
	}
	*f.p = n
	return nil
}

type sizeFlag struct{ p *int64 }

func (f sizeFlag) String() string {
	if f.p == nil {
		return "0"
	}
	return FormatByteSize(*f.p)
}

// FormatByteSize writes n the way BODY_SIZE_LIMIT is written: the largest
// unit that divides it exactly (10485760 → "10mb", 1536 → "1536b"), so
// ParseByteSize(FormatByteSize(n)) == n.
func FormatByteSize(n int64) string {
	for _, u := range []struct {
		unit string
		size int64
	}{{"gb", 1 << 30}, {"mb", 1 << 20}, {"kb", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.unit
		}
	}
	return strconv.FormatInt(n, 10) + "b"
}
func (f sizeFlag) Set(v string) error {
	n, err := ParseByteSize(v)
	if err != nil {
		return err
	}
	*f.p = n
	return nil
}

// setListen reads JM_LISTEN/--listen: a host, or host:port (the port then
// replaces SERVER_PORT).
func (s *Settings) setListen(v string) error {
	v = strings.TrimSpace(v)
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		if strings.Count(v, ":") == 1 {
			return fmt.Errorf("%q is not a listen address: %v", v, err)
		}
		host, port = strings.Trim(v, "[]"), "" // a host alone, or a bare IPv6 address
	}
	if host != "" && net.ParseIP(host) == nil && !hostnameRE.MatchString(host) {
		return fmt.Errorf("%q is not a host name or IP address", host)
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q is out of range", port)
		}
		s.ListenPort = n
	}
	s.ListenHost = host
	return nil
}

var hostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)

// StateLimit is the largest state (input and after each step) a run may
// carry, following from the body limit: a body just under BODY_SIZE_LIMIT
// becomes state.data next to the request's method, path, query and
// headers, and text bodies grow when written as a JSON string (quotes and
// backslashes double). Never below 10 MiB: scheduled pulls build state from
// what upstreams return, not from a request body.
func StateLimit(bodyLimit int64) int64 {
	return max(10<<20, 2*bodyLimit+1<<20)
}

// ListenAddress is what the daemon listens on, host:port.
func (s Settings) ListenAddress() string {
	return net.JoinHostPort(s.ListenHost, strconv.Itoa(s.ListenPort))
}

type listenFlag struct{ s *Settings }

func (f listenFlag) String() string {
	if f.s == nil || f.s.ListenHost == "" {
		return ""
	}
	return f.s.ListenAddress()
}
func (f listenFlag) Set(v string) error { return f.s.setListen(v) }

type durFlag struct{ p *time.Duration }

func (f durFlag) String() string {
	if f.p == nil {
		return "0s"
	}
	return f.p.String()
}
func (f durFlag) Set(v string) error {
	d, err := ParseDuration(v)
	if err != nil {
		return err
	}
	*f.p = d
	return nil
}

type compatFlag struct{ p *Compat }

func (f compatFlag) String() string {
	if f.p == nil {
		return ""
	}
	return string(*f.p)
}
func (f compatFlag) Set(v string) error {
	c, err := parseCompat(v)
	if err != nil {
		return err
	}
	*f.p = c
	return nil
}

// listFlag: the first use on the command line replaces the environment's
// list (flag > env), later uses append.
type listFlag struct {
	p       *[]string
	touched bool
}

func (f *listFlag) String() string {
	if f == nil || f.p == nil {
		return ""
	}
	return strings.Join(*f.p, ",")
}
func (f *listFlag) Set(v string) error {
	if !f.touched {
		*f.p = nil
		f.touched = true
	}
	*f.p = append(*f.p, splitList(v)...)
	return nil
}

var logLevels = []string{"trace", "debug", "info", "warn", "warning", "error", "fatal", "panic"}

// Validate checks the settings as a whole. Each error is a ValidationError
// whose Field names the environment variable and flag.
func (s Settings) Validate() []error {
	var errs []error
	bad := func(field, msg, fix string) {
		errs = append(errs, ValidationError{File: "settings", Field: field, Message: msg, Fix: fix})
	}
	if s.TimeZone != "" {
		if _, err := time.LoadLocation(s.TimeZone); err != nil {
			bad("JM_TIME_ZONE/--time-zone", fmt.Sprintf("%q is not a time zone", s.TimeZone), "use an IANA name such as UTC or Asia/Phnom_Penh")
		}
	}
	if s.OpenHIMURL != "" {
		u, err := url.Parse(s.OpenHIMURL)
		switch {
		case err != nil:
			bad("OPENHIM_URL/--openhim-url", "not a URL", "write e.g. https://openhim-core:8080")
		case u.Scheme != "http" && u.Scheme != "https":
			bad("OPENHIM_URL/--openhim-url", fmt.Sprintf("scheme %q is not http or https", u.Scheme), "write e.g. https://openhim-core:8080")
		case u.Host == "":
			bad("OPENHIM_URL/--openhim-url", "URL has no host", "write e.g. https://openhim-core:8080")
		case u.User != nil:
			bad("OPENHIM_URL/--openhim-url", "URL holds a user name or password", "move them to OPENHIM_USERNAME and OPENHIM_PASSWORD")
		}
	}
	if s.Register && s.OpenHIMURL == "" {
		bad("REGISTER_MEDIATOR/--register", "registration is on but no OpenHIM URL is set", "set OPENHIM_URL (or --openhim-url), or REGISTER_MEDIATOR=false")
	}
	if s.Register && s.OpenHIMUsername == "" {
		bad("OPENHIM_USERNAME/--openhim-username", "registration needs an OpenHIM API user", "set OPENHIM_USERNAME and OPENHIM_PASSWORD")
	}
	if s.OpenHIMUsername != "" && s.OpenHIMPassword == "" {
		bad("OPENHIM_PASSWORD/--openhim-password", "a user name is set but no password", "set OPENHIM_PASSWORD")
	}
	if s.CAFile != "" {
		if st, err := os.Stat(s.CAFile); err != nil {
			bad("OPENHIM_CA_FILE/--openhim-ca-file", fmt.Sprintf("CA file %s cannot be read", s.CAFile), "point it at a PEM bundle, or unset it")
		} else if st.IsDir() {
			bad("OPENHIM_CA_FILE/--openhim-ca-file", fmt.Sprintf("%s is a directory", s.CAFile), "point it at a PEM file")
		}
	}
	if (s.TLSCertFile == "") != (s.TLSKeyFile == "") {
		bad("TLS_CERT_FILE/TLS_KEY_FILE", "HTTPS needs both a certificate and its key", "set both --tls-cert and --tls-key, or neither")
	}
	if s.TLSClientCAFile != "" && s.TLSCertFile == "" {
		bad("TLS_CLIENT_CA_FILE/--client-ca", "client certificates need HTTPS", "set --tls-cert and --tls-key too")
	}
	for _, f := range []struct{ name, path string }{
		{"TLS_CERT_FILE/--tls-cert", s.TLSCertFile}, {"TLS_KEY_FILE/--tls-key", s.TLSKeyFile},
		{"TLS_CLIENT_CA_FILE/--client-ca", s.TLSClientCAFile}, {"JM_SMTP_CA_FILE", s.SMTPCAFile},
	} {
		if f.path == "" {
			continue
		}
		if st, err := os.Stat(f.path); err != nil || st.IsDir() {
			bad(f.name, fmt.Sprintf("%s cannot be read as a file", f.path), "point it at a PEM file")
		}
	}
	if s.PublicURL != "" {
		if u, err := url.Parse(s.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("JM_PUBLIC_URL/--public-url", fmt.Sprintf("%q is not an http(s) URL", s.PublicURL), "write e.g. https://jobmediator.example.org")
		}
	}
	if strings.TrimSpace(s.URN) == "" {
		bad("MEDIATOR_URN/--urn", "URN is empty", "set e.g. "+DefaultURN)
	}
	if strings.TrimSpace(s.MediatorName) == "" {
		bad("MEDIATOR_NAME/--mediator-name", "name is empty", "set e.g. "+DefaultMediatorName)
	}
	if s.ListenPort < 1 || s.ListenPort > 65535 {
		bad("SERVER_PORT/--port", fmt.Sprintf("port %d is out of range", s.ListenPort), "use 1-65535")
	}
	if s.RoutePort < 0 || s.RoutePort > 65535 {
		bad("MEDIATOR_PORT/--route-port", fmt.Sprintf("port %d is out of range", s.RoutePort), "use 1-65535, or 0 for the listen port")
	}
	if !contains(logLevels, strings.ToLower(s.LogLevel)) {
		bad("LOG_LEVEL/--log-level", fmt.Sprintf("unknown log level %q", s.LogLevel), "use trace, debug, info, warn or error")
	}
	if s.BodySizeLimit <= 0 {
		bad("BODY_SIZE_LIMIT/--body-size-limit", "body size limit must be positive", "write e.g. 10mb")
	}
	if s.Isolation != IsolationProcess && s.Isolation != IsolationNone {
		bad("JM_ISOLATION/--isolation", fmt.Sprintf("unknown isolation %q", s.Isolation), "use process (default) or none")
	}
	if s.Register && s.HeartbeatInterval <= 0 {
		bad("HEARTBEAT_INTERVAL/--heartbeat", "heartbeat interval must be positive", "write e.g. 10s")
	}
	if _, err := parseCompat(string(s.Compat)); err != nil {
		bad("JM_COMPAT/--compat", err.Error(), "use legacy or lightning")
	}
	if strings.TrimSpace(s.ProjectPath) == "" {
		bad("JM_PROJECT/--project", "no project is set", "pass --project PATH (a project.yaml, workflow.json or directory) or set JM_PROJECT")
	}
	if s.MongoURL != "" {
		u, err := url.Parse(s.MongoURL)
		if err != nil || (u.Scheme != "mongodb" && u.Scheme != "mongodb+srv") {
			// The URL may hold a password: never echo it.
			bad("MONGO_URL/--mongo-url", "not a mongodb:// or mongodb+srv:// connection string", "write e.g. mongodb://mongo:27017/jobmediator")
		}
		if strings.TrimSpace(s.MongoDatabase) == "" {
			bad("MONGO_DATABASE/--mongo-database", "database name is empty", "set e.g. jobmediator")
		}
	} else if strings.TrimSpace(s.DataDir) == "" {
		bad("JM_DATA_DIR/--data-dir", "no MongoDB URL and no data directory", "set JM_DATA_DIR (embedded store) or MONGO_URL")
	}
	return errs
}

// EffectiveRoutePort is the port advertised to OpenHIM core.
func (s Settings) EffectiveRoutePort() int {
	if s.RoutePort > 0 {
		return s.RoutePort
	}
	return s.ListenPort
}

// Redacted is the effective configuration for logging: secrets masked
// (the password, credentials inside the MongoDB URL).
func (s Settings) Redacted() map[string]any {
	pw := ""
	if s.OpenHIMPassword != "" {
		pw = redact.Mask
	}
	mongo := s.MongoURL
	if mongo != "" {
		if u, err := url.Parse(mongo); err == nil {
			if u.User != nil {
				if _, has := u.User.Password(); has {
					u.User = url.UserPassword(u.User.Username(), "xxx")
				}
			}
			mongo = strings.Replace(u.String(), ":xxx@", ":"+redact.Mask+"@", 1)
		} else {
			mongo = redact.Mask // unparsable: cannot tell what is secret
		}
	}
	var routeUsers []string
	for _, u := range s.RouteAuth {
		routeUsers = append(routeUsers, u.Username+":"+redact.Mask)
	}
	return map[string]any{
		"openhim_url":         s.OpenHIMURL,
		"openhim_username":    s.OpenHIMUsername,
		"openhim_password":    pw,
		"trust_self_signed":   s.TrustSelfSigned,
		"openhim_ca_file":     s.CAFile,
		"register":            s.Register,
		"urn":                 s.URN,
		"mediator_name":       s.MediatorName,
		"route_host":          s.RouteHost,
		"route_port":          s.EffectiveRoutePort(),
		"listen_port":         s.ListenPort,
		"listen_host":         s.ListenHost,
		"read_timeout":        s.ReadTimeout.String(),
		"write_timeout":       s.WriteTimeout.String(),
		"idle_timeout":        s.IdleTimeout.String(),
		"log_level":           s.LogLevel,
		"body_size_limit":     s.BodySizeLimit,
		"project":             s.ProjectPath,
		"options":             s.OptionsPath,
		"credentials":         s.CredentialsPath,
		"data_dir":            s.DataDir,
		"mongo_url":           mongo,
		"mongo_database":      s.MongoDatabase,
		"heartbeat_interval":  s.HeartbeatInterval.String(),
		"compat":              string(s.Compat),
		"sensitive_keys":      append([]string(nil), s.SensitiveKeys...),
		"route_auth":          routeUsers,
		"pprof":               s.Pprof,
		"isolation":           s.Isolation,
		"run_workers":         s.RunWorkers,
		"tls_cert_file":       s.TLSCertFile,
		"tls_key_file":        s.TLSKeyFile,
		"tls_client_ca_file":  s.TLSClientCAFile,
		"public_url":          s.PublicURL,
		"notify_webhook":      masked(s.NotifyWebhookURL != ""),
		"smtp":                masked(s.SMTPURL != ""),
		"notify_email_to":     append([]string(nil), s.NotifyEmailTo...),
		"console_addr":        s.ConsoleAddr,
		"session_ttl":         s.SessionTTL.String(),
		"openhim_console_url": s.OpenHIMConsoleURL,
	}
}

// masked shows whether a secret-bearing setting is set, never its value
// (a webhook URL may carry a token, an SMTP URL a password).
func masked(set bool) string {
	if set {
		return redact.Mask
	}
	return ""
}
