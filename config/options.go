package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"
)

// jobmediator.yaml holds what OpenFn's formats have no place for, so that
// project.yaml stays byte-for-byte OpenFn's. Its options are declared once,
// in optionspec.go (TopOptions, WorkflowOptionSpecs): reading, checking,
// the "did you mean" for unknown keys and docs/reference-options.md all come
// from there. Every option has a default, so the file is optional. Unknown
// keys are errors here (it is our file; a typo must not silently fall back
// to a default).
//
//go:generate go test -run TestOptionsReference -update .

// Defaults applied to every workflow.
const (
	DefaultRetryAttempts  = 5
	DefaultInitialBackoff = 10 * time.Second
	DefaultMaxBackoff     = 10 * time.Minute
	DefaultTimeout        = 300 * time.Second
	DefaultMemoryLimit    = 512 << 20
	LaneRouted            = "routed"
	LaneScheduled         = "scheduled"
)

// ReservedPaths are served by Job Mediator itself; no channel may use them
// or anything below them.
var ReservedPaths = []string{"/healthz", "/readyz", "/uptime", "/api", "/metrics"}

var (
	httpMethods   = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
	responseModes = []ResponseMode{ResponseData, ResponseState, ResponseWorkOrder, ResponseUpstream, ResponseNoContent}
	laneRE        = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
)

// MediatorOptions is a parsed jobmediator.yaml.
type MediatorOptions struct {
	Path          string
	Compat        Compat
	SensitiveKeys []string
	Workflows     []WorkflowOverride // file order
	Warnings      ValidationErrors
}

// WorkflowOverride is one `workflows:` entry: the options it sets, and the
// line of each key it set (so only those replace defaults).
type WorkflowOverride struct {
	Ref     string // workflow key or name as written
	Line    int
	Options WorkflowOptions
	Set     map[string]int // option key ("path", "retry.max_attempts", …) → line
}

// LoadMediatorOptions reads and checks a jobmediator.yaml on its own (its
// workflow references are checked when applied to a project). On
// validation errors it returns both what it could read and the
// ValidationErrors, so ApplyOptions can still report project-level problems.
func LoadMediatorOptions(path string) (*MediatorOptions, error) {
	root, _, err := parseFile(path)
	if err != nil {
		return nil, err
	}
	c := &collector{file: path}
	mo := &MediatorOptions{Path: path}
	top, _ := c.mapping(root, "")
	c.checkKeys(top, "", optionKeys(TopOptions, ""), true)
	for _, kv := range top {
		switch kv.Key {
		case "compat":
			mo.Compat = c.compat(kv.Val, kv.Line, "compat")
		case "sensitive_keys":
			mo.SensitiveKeys = c.strList(kv.Val, "sensitive_keys")
		case "workflows":
			wfs, _ := c.mapping(kv.Val, "workflows")
			for _, w := range wfs {
				mo.Workflows = append(mo.Workflows, c.workflowOverride(w))
			}
		}
	}
	mo.Warnings = c.warnings
	if len(c.errs) > 0 {
		return mo, c.errs
	}
	return mo, nil
}

func (c *collector) compat(n *yaml.Node, line int, field string) Compat {
	s, ok := c.str(n, field)
	if !ok {
		return ""
	}
	switch Compat(s) {
	case CompatDefault, CompatLegacy, CompatLightning:
		return Compat(s)
	}
	c.add(line, field, fmt.Sprintf("unknown compat profile %q", s), "use legacy (OpenFn v1, @openfn/core) or lightning (@openfn/runtime)")
	return ""
}

// duration accepts Go durations ("10s", "1m30s") and bare numbers of seconds.
func (c *collector) duration(n *yaml.Node, line int, field string) (time.Duration, bool) {
	s, ok := c.str(n, field)
	if !ok {
		return 0, false
	}
	d, err := ParseDuration(s)
	if err != nil {
		c.add(line, field, err.Error(), "write a duration such as 30s, 5m or 1h, or a number of seconds")
		return 0, false
	}
	return d, true
}

// ParseDuration accepts Go durations ("10s", "1m30s") and bare numbers of
// seconds ("30").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("duration %q is negative", s)
		}
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	return d, nil
}

func (c *collector) workflowOverride(kv pair) WorkflowOverride {
	field := join("workflows", kv.Key)
	o := WorkflowOverride{Ref: kv.Key, Line: kv.Line, Set: map[string]int{}}
	pairs, _ := c.mapping(kv.Val, field)
	c.readOptions(pairs, field, "", &o)
	return o
}

// checkPathShape returns a message and fix when p cannot be a channel path.
func checkPathShape(p string) (msg, fix string) {
	switch {
	case p == "":
		return "path is empty", "write a path starting with /, e.g. /hello"
	case !strings.HasPrefix(p, "/"):
		return fmt.Sprintf("path %q does not start with /", p), "write /" + strings.TrimLeft(p, "/")
	case strings.ContainsAny(p, "?# \t") || strings.Contains(p, "//"):
		return fmt.Sprintf("path %q has a query, fragment, space or empty segment", p), "use a plain path such as /hello"
	}
	for _, r := range ReservedPaths {
		if p == r || strings.HasPrefix(p, r+"/") {
			return fmt.Sprintf("path %q is reserved for Job Mediator's own %s endpoint", p, r), "choose another path in jobmediator.yaml"
		}
	}
	return "", ""
}

// Slug is the default channel path segment for a workflow key: lowercase,
// runs of anything but letters and digits become one "-".
func Slug(key string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(key) {
		if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(r)
			dash = false
			continue
		}
		if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	s := strings.TrimRight(b.String(), "-")
	if s == "" {
		return "workflow"
	}
	return s
}

// DefaultOptions are a workflow's options when jobmediator.yaml says nothing.
func DefaultOptions(w *Workflow, projectCompat Compat) WorkflowOptions {
	o := WorkflowOptions{
		Enabled:  true,
		Path:     "/" + Slug(w.Key),
		Methods:  []string{"POST"},
		Response: ResponseData,
		Compat:   projectCompat,
		Retry:    RetryPolicy{MaxAttempts: DefaultRetryAttempts, InitialBackoff: DefaultInitialBackoff, MaxBackoff: DefaultMaxBackoff},
		Lane:     LaneRouted,
		Timeout:  DefaultTimeout,

		MemoryLimit: DefaultMemoryLimit,
	}
	if !w.ServedOverHTTP() && w.hasTrigger(TriggerCron) {
		o.Lane = LaneScheduled
	}
	if w.planTimeout > 0 {
		o.Timeout = w.planTimeout
	}
	return o
}

// ServedOverHTTP reports whether the workflow has an enabled webhook (or v1
// criteria) trigger, i.e. gets an HTTP channel.
func (w *Workflow) ServedOverHTTP() bool {
	return w.hasTrigger(TriggerWebhook) || w.hasTrigger(TriggerCriteria)
}

func (w *Workflow) hasTrigger(t TriggerType) bool {
	for _, tr := range w.Triggers {
		if tr.Type == t && tr.Enabled {
			return true
		}
	}
	return false
}

// ApplyOptions sets every workflow's Options: defaults, then what mo says
// (mo may be nil). It returns the problems that need the project to see:
// entries naming no workflow, reserved paths, two workflows on one path and
// method.
func (p *Project) ApplyOptions(mo *MediatorOptions) ValidationErrors {
	var errs ValidationErrors
	file := ""
	if mo != nil {
		file = mo.Path
		p.OptionsPath = mo.Path
		if mo.Compat != "" {
			p.Compat = mo.Compat
		}
		p.SensitiveKeys = append([]string(nil), mo.SensitiveKeys...)
	}
	for _, w := range p.Workflows {
		w.Options = DefaultOptions(w, p.Compat)
	}
	// where records which file/line set a workflow's path, for errors.
	type origin struct {
		file, field string
		line        int
	}
	where := map[*Workflow]origin{}
	if mo != nil {
		claimed := map[*Workflow]string{}
		for _, o := range mo.Workflows {
			field := join("workflows", o.Ref)
			w := p.Workflow(o.Ref)
			if w == nil {
				known := make([]string, 0, len(p.Workflows))
				for _, x := range p.Workflows {
					known = append(known, x.Key)
				}
				errs = append(errs, ValidationError{File: file, Line: o.Line, Field: field,
					Message: fmt.Sprintf("no workflow %q in %s", o.Ref, p.Path), Fix: unknownNameFix(o.Ref, known)})
				continue
			}
			if prev, dup := claimed[w]; dup {
				errs = append(errs, ValidationError{File: file, Line: o.Line, Field: field,
					Message: fmt.Sprintf("workflow %q is already configured as %q", w.Key, prev), Fix: "merge the two entries"})
				continue
			}
			claimed[w] = o.Ref
			applyOverride(&w.Options, o)
			if line, ok := o.Set["path"]; ok {
				where[w] = origin{file, join(field, "path"), line}
			}
		}
	}
	// Paths: reserved prefixes (for defaults too) and conflicts among the
	// workflows that actually get an HTTP route.
	type route struct{ path, method string }
	taken := map[route]*Workflow{}
	for _, w := range p.Workflows {
		if !w.ServedOverHTTP() {
			continue
		}
		org, explicit := where[w]
		if !explicit {
			org = origin{file: p.Path, field: w.field, line: w.line}
		}
		if msg, _ := checkPathShape(w.Options.Path); msg != "" {
			if !explicit {
				// Shape errors of explicit paths were reported when reading
				// jobmediator.yaml; defaults can still hit a reserved path.
				errs = append(errs, ValidationError{File: org.file, Line: org.line, Field: org.field,
					Message: "default channel " + msg, Fix: fmt.Sprintf("set `workflows: {%s: {path: /other}}` in jobmediator.yaml", w.Key)})
			}
			continue
		}
		if !w.Options.Enabled {
			continue
		}
		for _, m := range w.Options.Methods {
			r := route{w.Options.Path, m}
			if other, dup := taken[r]; dup {
				errs = append(errs, ValidationError{File: org.file, Line: org.line, Field: org.field,
					Message: fmt.Sprintf("%s %s is already served by workflow %q", m, w.Options.Path, other.Key),
					Fix:     "give one of them another path in jobmediator.yaml (or disable one)"})
				continue
			}
			taken[r] = w
		}
	}
	return errs
}

func applyOverride(dst *WorkflowOptions, o WorkflowOverride) {
	for k := range o.Set {
		if spec, ok := optionSpec(k); ok {
			spec.apply(dst, o.Options)
		}
	}
	if dst.Retry.MaxBackoff < dst.Retry.InitialBackoff {
		dst.Retry.MaxBackoff = dst.Retry.InitialBackoff
	}
}

// EffectiveCompat is the profile a job runs with: the job's own, else its
// workflow's (jobmediator.yaml, which already folds in the project-wide
// `compat:`), else the settings default (JM_COMPAT), else the format's
// native profile (legacy for v1 projects, lightning otherwise).
func (p *Project) EffectiveCompat(w *Workflow, j *Job, settingsDefault Compat) Compat {
	switch {
	case j != nil && j.Compat != "":
		return j.Compat
	case w != nil && w.Options.Compat != "":
		return w.Options.Compat
	case p.Compat != "":
		return p.Compat
	case settingsDefault != "":
		return settingsDefault
	case p.Format == FormatV1:
		return CompatLegacy
	}
	return CompatLightning
}
