package mediator

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/spec"
)

// Registration is the POST /mediators document (openhim.md §2.1).
type Registration struct {
	URN                  string         `json:"urn"`
	Version              string         `json:"version"`
	Name                 string         `json:"name"`
	Description          string         `json:"description,omitempty"`
	Endpoints            []Route        `json:"endpoints"`
	DefaultChannelConfig []Channel      `json:"defaultChannelConfig,omitempty"`
	ConfigDefs           []ConfigDef    `json:"configDefs,omitempty"`
	Config               map[string]any `json:"config,omitempty"`

	// Revision orders registrations of the same build: RegistrationVersion
	// folds it into the version so core accepts a changed document. Set it
	// from NextRevision (or any value that grows when the document
	// changes). Not sent.
	Revision int64 `json:"-"`
	// Params maps every generated config param back to what it controls
	// (BuildRegistration fills it). Not sent.
	Params map[string]ParamRef `json:"-"`
}

// ParamRef says what a generated config param controls.
type ParamRef struct {
	Kind string // ParamEnabled or ParamCredential
	Key  string // workflow key or credential key, as given
	// Fields maps template param names to the credential's field names
	// (they differ only when a field name had to be escaped).
	Fields map[string]string
}

// Param kinds.
const (
	ParamEnabled    = "enabled"
	ParamCredential = "credential"
)

// Route is a RouteDef: a channel route or a registration endpoint.
type Route struct {
	Name              string `json:"name"`
	Host              string `json:"host,omitempty"`
	Port              int    `json:"port,omitempty"`
	Path              string `json:"path,omitempty"`
	PathTransform     string `json:"pathTransform,omitempty"`
	Primary           bool   `json:"primary"`
	Secured           bool   `json:"secured"`
	ForwardAuthHeader bool   `json:"forwardAuthHeader,omitempty"`
	Type              string `json:"type,omitempty"`
	Username          string `json:"username,omitempty"`
	Password          string `json:"password,omitempty"`
	Status            string `json:"status,omitempty"`
}

// Channel is a ChannelDef for defaultChannelConfig (openhim.md §4.1).
type Channel struct {
	Name                  string   `json:"name"`
	Description           string   `json:"description,omitempty"`
	URLPattern            string   `json:"urlPattern"`
	Methods               []string `json:"methods,omitempty"`
	Type                  string   `json:"type,omitempty"`
	AuthType              string   `json:"authType,omitempty"`
	Allow                 []string `json:"allow"`
	Whitelist             []string `json:"whitelist,omitempty"`
	Routes                []Route  `json:"routes"`
	Timeout               int      `json:"timeout,omitempty"` // ms, 1–3600000
	Priority              int      `json:"priority,omitempty"`
	IsAsynchronousProcess bool     `json:"isAsynchronousProcess,omitempty"`
	PollingSchedule       string   `json:"pollingSchedule,omitempty"`
	RequestBody           bool     `json:"requestBody"`
	ResponseBody          bool     `json:"responseBody"`
	Status                string   `json:"status,omitempty"`
	TxViewAcl             []string `json:"txViewAcl,omitempty"`
	TxViewFullAcl         []string `json:"txViewFullAcl,omitempty"`
	TxRerunAcl            []string `json:"txRerunAcl,omitempty"`
}

// ConfigDef describes one console config field.
type ConfigDef struct {
	Param       string      `json:"param"`
	DisplayName string      `json:"displayName,omitempty"`
	Description string      `json:"description,omitempty"`
	Type        string      `json:"type"`
	Values      []string    `json:"values,omitempty"`
	Template    []ConfigDef `json:"template,omitempty"`
	Array       bool        `json:"array,omitempty"`
}

// ChannelSpec is one workflow's OpenHIM entry point.
type ChannelSpec struct {
	Workflow string   // workflow key
	Path     string   // path on the mediator, e.g. /patients
	Methods  []string // HTTP methods; ignored for polling channels
	Async    bool     // isAsynchronousProcess (core ≥8.3)
	Polling  string   // pollingSchedule ("5 minutes", "0 2 * * *") or "" for an HTTP channel
	Timeout  time.Duration
}

// Identity is how the mediator presents itself to core.
type Identity struct {
	URN, Name, Description, Version string
	RouteHost                       string // host core uses to reach the mediator
	RoutePort                       int
	RouteSecured                    bool // core calls the mediator over HTTPS (its cert must be trusted in core's keystore)
	// RouteUsername/RoutePassword, when set, go on every route so core
	// authenticates to the mediator with Basic auth (JM_ROUTE_AUTH).
	RouteUsername, RoutePassword string
	AllowRole                    string // client role admitted to default channels; default "jobmediator"
}

// CredentialFields is one project credential offered for editing in the
// console.
type CredentialFields struct {
	Key    string
	Fields map[string]any
	// Adaptors are the short names of the adaptors whose jobs use the
	// credential (config.Project.CredentialAdaptors). Their declarations
	// (package spec) type the console fields and say which are passwords,
	// and the fields they declare are offered even when the project has no
	// value for them.
	Adaptors []string
}

// DefaultAllowRole is the client role default channels admit. A private
// channel with an empty allow list admits no client (openhim.md §15), so
// operators give their clients this role.
const DefaultAllowRole = "jobmediator"

// BuildRegistration derives the registration document from the project.
//
//   - endpoints: one route per channel spec (the console pre-fills channel
//     routes from them); a mediator without channels gets one root endpoint,
//     because core refuses a new mediator without endpoints.
//   - defaultChannelConfig: per spec a channel named "<Name> – <workflow>"
//     (core's channel names are unique across mediators, §15) with an
//     anchored urlPattern "^<path>$", the methods, type http (or polling
//     with its schedule), authType private admitting AllowRole, and exactly
//     one enabled primary http route to RouteHost:RoutePort at the path.
//   - configDefs/config: per workflow a bool "enabled_<slug>" (default
//     true); per credential a struct "credential_<slug>" whose template has
//     one item per field the project sets or the credential's adaptors
//     declare (package spec). A declared field takes its declared type and
//     doc, and is a password when declared secret; an undeclared one is
//     typed by its value (string, number, bool; bigstring holding JSON
//     text for nested values) and is a password when its name looks
//     secret. Params avoid
//     dots and "$" because core stores config as Mongo sub-document keys.
//     Every field's default is null = "not overridden": project values are
//     never sent as config (secrets would sit unmasked in core's GET
//     /mediators list, and a stored default would mask later project
//     edits); non-secret ones appear in the field description. Every param
//     has a default because core drops stored keys missing from a newer
//     registration's config (§2.3).
//
// Version is id.Version; pass the result through RegistrationVersion.
func BuildRegistration(id Identity, channels []ChannelSpec, creds []CredentialFields, workflows []string) Registration {
	role := id.AllowRole
	if role == "" {
		role = DefaultAllowRole
	}
	reg := Registration{
		URN:         id.URN,
		Version:     id.Version,
		Name:        id.Name,
		Description: id.Description,
		Endpoints:   []Route{},
		Config:      map[string]any{},
		Params:      map[string]ParamRef{},
	}
	specs := append([]ChannelSpec(nil), channels...)
	sort.SliceStable(specs, func(i, j int) bool {
		if specs[i].Workflow != specs[j].Workflow {
			return specs[i].Workflow < specs[j].Workflow
		}
		return specs[i].Path < specs[j].Path
	})
	usedNames := map[string]int{}
	for _, s := range specs {
		path := s.Path
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		name := uniqueName(usedNames, fmt.Sprintf("%s – %s", id.Name, s.Workflow))
		route := Route{
			Name: name, Host: id.RouteHost, Port: id.RoutePort, Path: path,
			Primary: true, Secured: id.RouteSecured, Type: "http", Status: "enabled",
			Username: id.RouteUsername, Password: id.RoutePassword,
		}
		reg.Endpoints = append(reg.Endpoints, route)
		ch := Channel{
			Name:         name,
			Description:  channelDescription(s.Workflow, id.Name, id.URN),
			URLPattern:   "^" + regexp.QuoteMeta(path) + "$",
			Type:         "http",
			AuthType:     "private",
			Allow:        []string{role},
			Routes:       []Route{route},
			RequestBody:  true,
			ResponseBody: true,
			Status:       "enabled",
		}
		if s.Polling != "" {
			ch.Type = "polling"
			ch.PollingSchedule = s.Polling
		} else {
			ch.Methods = normMethods(s.Methods)
		}
		if s.Async {
			ch.IsAsynchronousProcess = true
		}
		if s.Timeout > 0 {
			ms := s.Timeout.Milliseconds()
			ch.Timeout = int(min(max(ms, 1), 3600000))
		}
		reg.DefaultChannelConfig = append(reg.DefaultChannelConfig, ch)
	}
	if len(reg.Endpoints) == 0 {
		reg.Endpoints = append(reg.Endpoints, Route{Name: id.Name, Host: id.RouteHost, Port: id.RoutePort,
			Path: "/", Primary: true, Secured: id.RouteSecured, Type: "http", Status: "enabled"})
	}

	usedParams := map[string]int{}
	wfs := append([]string(nil), workflows...)
	sort.Strings(wfs)
	for _, w := range dedupe(wfs) {
		p := uniqueName(usedParams, "enabled_"+Slug(w))
		reg.ConfigDefs = append(reg.ConfigDefs, ConfigDef{Param: p, DisplayName: "Enable workflow " + w,
			Description: fmt.Sprintf("When off, Job Mediator does not run workflow %q.", w), Type: "bool"})
		reg.Config[p] = true
		reg.Params[p] = ParamRef{Kind: ParamEnabled, Key: w}
	}
	cs := append([]CredentialFields(nil), creds...)
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].Key < cs[j].Key })
	for _, c := range cs {
		p := uniqueName(usedParams, "credential_"+Slug(c.Key))
		ref := ParamRef{Kind: ParamCredential, Key: c.Key, Fields: map[string]string{}}
		def := ConfigDef{Param: p, DisplayName: "Credential " + c.Key,
			Description: fmt.Sprintf("Overrides fields of project credential %q; empty fields keep the project's value (JSON text for nested fields).", c.Key),
			Type:        "struct"}
		value := map[string]any{}
		specs := credentialSpecs(c.Adaptors)
		fields := make([]string, 0, len(c.Fields))
		for f := range c.Fields {
			fields = append(fields, f)
		}
		// Declared fields the project leaves empty can be set in the console.
		for _, sc := range specs {
			for _, fd := range sc.Fields {
				if !hasAny(c.Fields, append([]string{fd.Name}, fd.Aliases...)) && !slices.Contains(fields, fd.Name) {
					fields = append(fields, fd.Name)
				}
			}
		}
		sort.Strings(fields)
		usedFields := map[string]int{}
		red := redact.New()
		red.AddSecretsFrom(c.Fields)
		for _, f := range fields {
			fp := uniqueName(usedFields, fieldParam(f))
			ref.Fields[fp] = f
			item := ConfigDef{Param: fp, DisplayName: f}
			v := c.Fields[f]
			// Every field defaults to null, meaning "not overridden": core
			// keeps a stored struct over a newer registration's default
			// (§2.3), so a project value sent as default would later mask
			// the project's own edits. Non-secret project values are shown
			// in the description instead.
			value[fp] = nil
			fd, declared := declaredField(specs, f)
			switch {
			case declared:
				item.Type = consoleType(fd)
				item.Description = fd.Doc
			default:
				switch v.(type) {
				case bool:
					item.Type = "bool"
				case float64, float32, int, int64, int32, uint, uint64, uint32, json.Number:
					item.Type = "number"
				case string, nil:
					item.Type = "string"
				default:
					// Nested values: a struct template cannot nest, so the
					// console edits them as JSON text.
					item.Type = "bigstring"
				}
				// A field no adaptor declares is judged by its name, so
				// an undeclared secret is still never shown.
				if red.SensitiveKey(f) {
					item.Type = "password"
				}
			}
			if item.Type != "password" && v != nil {
				// Shown only when nothing in it looks secret (key names,
				// the credential's secret values, passwords in URLs).
				if b, err := json.Marshal(v); err == nil && string(red.JSON(b)) == string(b) && !urlHasPassword(v) {
					item.Description = strings.TrimSpace(item.Description + " Project value: " + clipText(string(b), 200))
				}
			}
			def.Template = append(def.Template, item)
		}
		if len(def.Template) == 0 {
			// core refuses a struct without template; nothing to edit.
			continue
		}
		reg.ConfigDefs = append(reg.ConfigDefs, def)
		reg.Config[p] = value
		reg.Params[p] = ref
	}
	return reg
}

// credentialSpecs are the declarations of the named adaptors that declare
// fields (language-common declares none).
func credentialSpecs(adaptors []string) []spec.Credential {
	var out []spec.Credential
	for _, a := range adaptors {
		if c, ok := spec.Lookup(a); ok && !c.Open {
			out = append(out, c)
		}
	}
	return out
}

// declaredField finds f (or a field it is an alias of) in the specs. When
// two adaptors declare it, a secret declaration wins.
func declaredField(specs []spec.Credential, f string) (spec.Field, bool) {
	var found spec.Field
	ok := false
	for _, c := range specs {
		if fd, has := c.Field(f); has && (!ok || fd.Secret) {
			found, ok = fd, true
		}
	}
	return found, ok
}

// consoleType is the configDef type of a declared field.
func consoleType(fd spec.Field) string {
	switch {
	case fd.Secret:
		return "password"
	case fd.Type == spec.Number:
		return "number"
	case fd.Type == spec.Bool:
		return "bool"
	case fd.Type == spec.Text || fd.Type == spec.Object:
		return "bigstring"
	}
	return "string"
}

func hasAny(m map[string]any, names []string) bool {
	for _, n := range names {
		if _, ok := m[n]; ok {
			return true
		}
	}
	return false
}

// channelDescription names the workflow, the mediator and, at the end in
// parentheses, the mediator's urn: the mark by which the registrar tells
// its own channels from another mediator's of the same name (channels
// carry no other link to the mediator that installed them).
func channelDescription(workflow, name, urn string) string {
	return fmt.Sprintf("Runs workflow %q on %s (%s)", workflow, name, urn)
}

// legacyChannelDescription is the description before it carried the urn.
func legacyChannelDescription(workflow, name string) string {
	return fmt.Sprintf("Runs workflow %q on %s", workflow, name)
}

// Slug makes a key usable in a config param name: lower-case ASCII letters,
// digits and "_" only (no dots or "$": Mongo sub-document keys).
func Slug(s string) string {
	var b strings.Builder
	lastUnderscore := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			lastUnderscore = false
		} else if !lastUnderscore {
			b.WriteByte('_')
			lastUnderscore = true
		}
	}
	out := strings.Trim(b.String(), "_")
	if out == "" {
		out = "x"
	}
	return out
}

// fieldParam keeps credential field names readable (they are usually plain
// identifiers) and only replaces what Mongo forbids.
func fieldParam(f string) string {
	f = strings.ReplaceAll(f, ".", "_")
	if strings.HasPrefix(f, "$") {
		f = "_" + f[1:]
	}
	if f == "" {
		f = "_"
	}
	return f
}

func urlHasPassword(v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return false
	}
	_, has := u.User.Password()
	return has
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func uniqueName(used map[string]int, name string) string {
	used[name]++
	if n := used[name]; n > 1 {
		candidate := fmt.Sprintf("%s_%d", name, n)
		for used[candidate] > 0 {
			n++
			candidate = fmt.Sprintf("%s_%d", name, n)
		}
		used[candidate]++
		return candidate
	}
	return name
}

func dedupe(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}

var httpMethods = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "DELETE": true,
	"CONNECT": true, "OPTIONS": true, "TRACE": true, "PATCH": true}

// normMethods upper-cases and de-duplicates; no methods means POST, since a
// channel without methods never matches on core ≥7.0.1.
func normMethods(ms []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range ms {
		m = strings.ToUpper(strings.TrimSpace(m))
		if m == "" || seen[m] {
			continue
		}
		seen[m] = true
		out = append(out, m)
	}
	if len(out) == 0 {
		out = []string{"POST"}
	}
	return out
}

var semverRE = regexp.MustCompile(`^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
	`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
	`(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// ValidSemver reports whether core's semver.valid accepts v.
func ValidSemver(v string) bool {
	m := semverRE.FindStringSubmatch(v)
	if m == nil {
		return false
	}
	// node-semver refuses numeric parts above Number.MAX_SAFE_INTEGER.
	for _, p := range m[1:4] {
		if n, err := strconv.ParseUint(p, 10, 64); err != nil || n > 1<<53-1 {
			return false
		}
	}
	return true
}

// revisionSpan is the room the revision takes in the patch number: unix
// seconds stay below it until the year 2286.
const revisionSpan = 10_000_000_000

// RegistrationVersion returns the version to register: a valid semver that
// orders registrations by (build version, reg.Revision), so a changed
// document is never silently ignored by core.
//
// Why this shape: core replaces the stored mediator only when the new
// version is semver-greater (§2.3) and ignores build metadata, so a content
// hash cannot order anything. The order comes from reg.Revision (NextRevision
// persists one that grows whenever the document's hash changes), and it is
// folded into the patch number: PATCH' = PATCH×10¹⁰ + Revision. A prerelease
// suffix ("1.2.0-r.5") would not do: it sorts below the plain release and
// below "-rc.1", so moving between release and prerelease builds would be
// ignored. With the patch encoding a newer build always wins (higher
// major/minor/patch), the same build with a newer revision wins, and the
// build's own prerelease keeps its meaning. The first 12 hex digits of the
// document hash go into build metadata, so operators can see in the console
// which document is stored. A build version that is not semver (dev builds)
// counts as 0.0.0.
func RegistrationVersion(buildVersion string, reg Registration) string {
	major, minor, patch, pre := uint64(0), uint64(0), uint64(0), ""
	if m := semverRE.FindStringSubmatch(strings.TrimSpace(buildVersion)); m != nil {
		major, _ = strconv.ParseUint(m[1], 10, 64)
		minor, _ = strconv.ParseUint(m[2], 10, 64)
		patch, _ = strconv.ParseUint(m[3], 10, 64)
		pre = m[4]
	}
	rev := reg.Revision
	if rev < 0 {
		rev = 0
	}
	if rev >= revisionSpan {
		rev = revisionSpan - 1
	}
	// Stay below MAX_SAFE_INTEGER: cap the build patch at 900000.
	p := min(patch, 900_000)*revisionSpan + uint64(rev)
	v := fmt.Sprintf("%d.%d.%d", major, minor, p)
	if pre != "" {
		v += "-" + pre
	}
	return v + "+" + ContentHash(reg)[:12]
}

// ContentHash is the hex SHA-256 of what core stores from the document,
// excluding the version itself and route passwords (the hash ends up in the
// version string core shows; a password's hash has no business there).
func ContentHash(reg Registration) string {
	reg.Version = ""
	reg.Revision = 0
	reg.Endpoints = maskRoutes(reg.Endpoints)
	chs := make([]Channel, len(reg.DefaultChannelConfig))
	for i, ch := range reg.DefaultChannelConfig {
		ch.Routes = maskRoutes(ch.Routes)
		chs[i] = ch
	}
	reg.DefaultChannelConfig = chs
	b, _ := json.Marshal(reg) // map keys are sorted by encoding/json
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Validate checks the document against what core enforces on POST
// /mediators (§2.1) and what it should enforce on default channels but does
// not (§2.5), so mistakes fail early and clearly.
func (reg Registration) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if strings.TrimSpace(reg.URN) == "" {
		add("urn is required")
	}
	if reg.Version == "" {
		add("version is required")
	} else if !ValidSemver(reg.Version) {
		add("version %q is not semver (core needs e.g. 1.2.3)", reg.Version)
	}
	if strings.TrimSpace(reg.Name) == "" {
		add("name is required")
	}
	if len(reg.Endpoints) == 0 {
		add("at least one endpoint is required")
	}
	for i, r := range reg.Endpoints {
		if err := validateRoute(r); err != nil {
			add("endpoints[%d]: %v", i, err)
		}
	}
	names := map[string]bool{}
	for i, ch := range reg.DefaultChannelConfig {
		if err := validateChannel(ch); err != nil {
			add("defaultChannelConfig[%d] %q: %v", i, ch.Name, err)
		}
		if names[ch.Name] {
			add("defaultChannelConfig[%d]: channel name %q is used twice (core's channel names are unique)", i, ch.Name)
		}
		names[ch.Name] = true
	}
	defs := map[string]ConfigDef{}
	for i, d := range reg.ConfigDefs {
		if err := validateConfigDef(d, true); err != nil {
			add("configDefs[%d] %q: %v", i, d.Param, err)
		}
		if _, dup := defs[d.Param]; dup {
			add("configDefs[%d]: param %q is defined twice", i, d.Param)
		}
		defs[d.Param] = d
	}
	keys := make([]string, 0, len(reg.Config))
	for k := range reg.Config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d, ok := defs[k]
		if !ok {
			add("config: no config definition found for parameter %s", k)
			continue
		}
		if err := checkConfigValue(d, reg.Config[k]); err != nil {
			add("config %s: %v", k, err)
		}
	}
	return errors.Join(errs...)
}

func validateRoute(r Route) error {
	switch {
	case r.Name == "":
		return errors.New("route name is required")
	case r.Type != "" && r.Type != "http":
		return fmt.Errorf("route %q: type must be http, got %q", r.Name, r.Type)
	case r.Port < 0 || r.Port > 65536:
		return fmt.Errorf("route %q: port %d out of range", r.Name, r.Port)
	case r.Path != "" && r.PathTransform != "":
		return fmt.Errorf("route %q: path and pathTransform are mutually exclusive", r.Name)
	case r.Status != "" && r.Status != "enabled" && r.Status != "disabled":
		return fmt.Errorf("route %q: status must be enabled or disabled", r.Name)
	}
	return nil
}

func validateChannel(ch Channel) error {
	var errs []error
	if ch.Name == "" {
		errs = append(errs, errors.New("name is required"))
	}
	if !strings.HasPrefix(ch.URLPattern, "^") || !strings.HasSuffix(ch.URLPattern, "$") {
		errs = append(errs, fmt.Errorf("urlPattern %q must be anchored (^…$)", ch.URLPattern))
	} else if _, err := regexp.Compile(ch.URLPattern); err != nil {
		errs = append(errs, fmt.Errorf("urlPattern: %v", err))
	}
	switch ch.Type {
	case "", "http":
		if len(ch.Methods) == 0 {
			errs = append(errs, errors.New("methods are required (a channel without methods never matches on core ≥7.0.1)"))
		}
		seen := map[string]bool{}
		for _, m := range ch.Methods {
			if !httpMethods[m] {
				errs = append(errs, fmt.Errorf("method %q is not one core knows", m))
			}
			if seen[m] {
				errs = append(errs, fmt.Errorf("method %q repeated", m))
			}
			seen[m] = true
		}
	case "polling":
		if ch.PollingSchedule == "" {
			errs = append(errs, errors.New("a polling channel needs pollingSchedule"))
		}
		if len(ch.Methods) > 0 {
			errs = append(errs, errors.New("methods are only allowed on http channels"))
		}
	default:
		errs = append(errs, fmt.Errorf("type %q is not http or polling", ch.Type))
	}
	if ch.AuthType != "public" && len(ch.Allow) == 0 {
		errs = append(errs, errors.New(`allow is empty: a private channel admits no client (give a role or set authType "public")`))
	}
	for _, a := range ch.Allow {
		if a == "" {
			errs = append(errs, errors.New("allow has an empty entry"))
		}
	}
	primaries := 0
	for _, r := range ch.Routes {
		if err := validateRoute(r); err != nil {
			errs = append(errs, err)
		}
		if r.Primary && r.Status != "disabled" {
			primaries++
		}
	}
	if primaries != 1 {
		errs = append(errs, fmt.Errorf("needs exactly one enabled primary route, has %d (without one, requests hang)", primaries))
	}
	if ch.Timeout != 0 && (ch.Timeout < 1 || ch.Timeout > 3600000) {
		errs = append(errs, fmt.Errorf("timeout %d ms outside 1–3600000", ch.Timeout))
	}
	if ch.Priority < 0 {
		errs = append(errs, errors.New("priority must be ≥1"))
	}
	return errors.Join(errs...)
}

var configTypes = map[string]bool{"string": true, "bigstring": true, "bool": true, "number": true,
	"option": true, "map": true, "struct": true, "password": true}

func validateConfigDef(d ConfigDef, top bool) error {
	if d.Param == "" {
		return errors.New("param is required")
	}
	if strings.Contains(d.Param, ".") || strings.HasPrefix(d.Param, "$") {
		return errors.New(`param must not contain "." or start with "$" (config is stored as Mongo keys)`)
	}
	if !configTypes[d.Type] {
		return fmt.Errorf("type %q is not one of string, bigstring, bool, number, option, map, struct, password", d.Type)
	}
	switch d.Type {
	case "option":
		if len(d.Values) == 0 {
			return errors.New("option needs a non-empty values list")
		}
	case "struct":
		if !top {
			return errors.New("struct items cannot be structs")
		}
		if len(d.Template) == 0 {
			return errors.New("struct needs a template")
		}
		for _, t := range d.Template {
			if err := validateConfigDef(t, false); err != nil {
				return fmt.Errorf("template %q: %w", t.Param, err)
			}
		}
	}
	return nil
}

// checkConfigValue mirrors core's validateConfig.
func checkConfigValue(d ConfigDef, v any) error {
	if d.Array {
		arr, ok := v.([]any)
		if !ok {
			if sv, ok2 := toAnySlice(v); ok2 {
				arr = sv
			} else {
				return errors.New("must be an array (array: true)")
			}
		}
		for i, item := range arr {
			if err := checkScalar(d, item); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return nil
	}
	if _, isArr := toAnySlice(v); isArr && d.Type != "map" {
		return errors.New("must not be an array")
	}
	return checkScalar(d, v)
}

func toAnySlice(v any) ([]any, bool) {
	switch t := v.(type) {
	case []any:
		return t, true
	case []string:
		out := make([]any, len(t))
		for i, s := range t {
			out[i] = s
		}
		return out, true
	}
	return nil, false
}

func checkScalar(d ConfigDef, v any) error {
	switch d.Type {
	case "string", "bigstring", "password":
		if _, ok := v.(string); !ok {
			return fmt.Errorf("must be a string, got %T", v)
		}
	case "bool":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("must be a boolean, got %T", v)
		}
	case "number":
		switch n := v.(type) {
		case int, int32, int64, uint, uint32, uint64, json.Number:
		case float64:
			if math.IsNaN(n) || math.IsInf(n, 0) {
				return errors.New("must be a finite number")
			}
		case float32:
		default:
			return fmt.Errorf("must be a number, got %T", v)
		}
	case "option":
		s, ok := v.(string)
		if !ok || !contains(d.Values, s) {
			return fmt.Errorf("must be one of %v", d.Values)
		}
	case "map":
		if v == nil {
			return nil
		}
		switch m := v.(type) {
		case map[string]string:
		case map[string]any:
			for k, mv := range m {
				if _, ok := mv.(string); !ok {
					return fmt.Errorf("map value %q must be a string", k)
				}
			}
		default:
			return fmt.Errorf("must be an object of strings, got %T", v)
		}
	case "struct":
		if v == nil {
			return nil
		}
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("must be an object, got %T", v)
		}
		for k := range m {
			found := false
			for _, t := range d.Template {
				if t.Param == k {
					found = true
				}
			}
			if !found {
				return fmt.Errorf("field %q is not in the template", k)
			}
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// maskRoutes copies routes with any password replaced by a marker.
func maskRoutes(rs []Route) []Route {
	out := make([]Route, len(rs))
	for i, r := range rs {
		if r.Password != "" {
			r.Password = "set"
		}
		out[i] = r
	}
	return out
}
