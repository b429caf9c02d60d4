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
// project.yaml stays byte-for-byte OpenFn's:
//
//	compat: legacy | lightning          # project-wide profile
//	sensitive_keys: [nationalId]        # extra keys to redact
//	workflows:
//	  <workflow key or name>:
//	    path: /hello                    # channel path, default /<slug of key>
//	    methods: [POST]
//	    response: data | state | work_order | upstream | no_content
//	    async: false
//	    compat: legacy | lightning
//	    retry: {max_attempts: 5, initial_backoff: 10s, max_backoff: 10m}
//	    lane: routed | scheduled
//	    timeout: 300s
//	    memory_limit: 512mb             # one run's memory; over it the run fails alone
//	    enabled: true
//	    polling: "*/5 * * * *"          # let OpenHIM core schedule it
//	    overlap: skip | queue           # cron tick while the last run is still going
//	    time_zone: Asia/Phnom_Penh      # zone the cron expression is read in
//
// Every option has a default, so the file is optional. Unknown keys are
// errors here (it is our file; a typo must not silently fall back to a
// default).

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
	optionsTopKeys      = []string{"compat", "sensitive_keys", "workflows"}
	optionsWorkflowKeys = []string{"path", "methods", "response", "async", "compat", "retry", "lane", "timeout", "memory_limit", "enabled", "polling", "overlap", "time_zone"}
	optionsRetryKeys    = []string{"max_attempts", "initial_backoff", "max_backoff"}
	httpMethods         = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
	responseModes       = []ResponseMode{ResponseData, ResponseState, ResponseWorkOrder, ResponseUpstream, ResponseNoContent}
	laneRE              = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
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
	c.checkKeys(top, "", optionsTopKeys, true)
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
	c.checkKeys(pairs, field, optionsWorkflowKeys, true)
	opt := &o.Options
	for _, f := range pairs {
		ff := join(field, f.Key)
		if !contains(optionsWorkflowKeys, f.Key) {
			continue
		}
		o.Set[f.Key] = f.Line
		switch f.Key {
		case "path":
			opt.Path, _ = c.str(f.Val, ff)
			if msg, fix := checkPathShape(opt.Path); msg != "" {
				c.add(f.Line, ff, msg, fix)
			}
		case "methods":
			for _, m := range c.strList(f.Val, ff) {
				up := strings.ToUpper(strings.TrimSpace(m))
				if !contains(httpMethods, up) {
					c.add(f.Line, ff, fmt.Sprintf("unknown HTTP method %q", m), "use "+strings.Join(httpMethods, ", "))
					continue
				}
				if !contains(opt.Methods, up) {
					opt.Methods = append(opt.Methods, up)
				}
			}
			if len(opt.Methods) == 0 {
				delete(o.Set, "methods")
			}
		case "response":
			s, _ := c.str(f.Val, ff)
			opt.Response = ResponseMode(s)
			ok := false
			for _, m := range responseModes {
				ok = ok || m == opt.Response
			}
			if !ok {
				c.add(f.Line, ff, fmt.Sprintf("unknown response mode %q", s), "use data, state, work_order, upstream or no_content")
			}
		case "async":
			opt.Async = c.boolean(f.Val, ff, false)
		case "compat":
			opt.Compat = c.compat(f.Val, f.Line, ff)
		case "lane":
			opt.Lane, _ = c.str(f.Val, ff)
			if !laneRE.MatchString(opt.Lane) {
				c.add(f.Line, ff, fmt.Sprintf("lane %q is not a lane name", opt.Lane), "use routed, scheduled, or a lowercase name of your own")
			}
		case "timeout":
			opt.Timeout, _ = c.duration(f.Val, f.Line, ff)
			if opt.Timeout == 0 {
				c.add(f.Line, ff, "timeout must be positive", "write e.g. 300s")
			}
		case "memory_limit":
			s, _ := c.str(f.Val, ff)
			n, err := ParseByteSize(s)
			switch {
			case err != nil:
				c.add(f.Line, ff, err.Error(), "write a size such as 512mb or 2gb")
			case n < 16<<20:
				c.add(f.Line, ff, fmt.Sprintf("memory_limit %q is below 16 MB, too little to run a job", s), "write at least 16mb (the default is 512mb)")
			default:
				opt.MemoryLimit = n
			}
		case "enabled":
			opt.Enabled = c.boolean(f.Val, ff, true)
		case "polling":
			opt.Polling, _ = c.str(f.Val, ff)
			if isBlank(opt.Polling) {
				c.add(f.Line, ff, "polling schedule is empty", "write OpenHIM's pollingSchedule, e.g. `*/5 * * * *`, or remove polling")
			}
		case "overlap":
			opt.Overlap, _ = c.str(f.Val, ff)
			if opt.Overlap != OverlapSkip && opt.Overlap != OverlapQueue {
				c.add(f.Line, ff, fmt.Sprintf("unknown overlap policy %q", opt.Overlap), "use skip (drop a tick while the previous run is going) or queue (run it afterwards)")
			}
		case "time_zone":
			opt.TimeZone, _ = c.str(f.Val, ff)
			if _, err := time.LoadLocation(opt.TimeZone); err != nil || isBlank(opt.TimeZone) {
				c.add(f.Line, ff, fmt.Sprintf("unknown time zone %q", opt.TimeZone), "use an IANA zone name such as UTC, Africa/Nairobi or Asia/Phnom_Penh")
			}
		case "retry":
			rp, _ := c.mapping(f.Val, ff)
			c.checkKeys(rp, ff, optionsRetryKeys, true)
			for _, r := range rp {
				rf := join(ff, r.Key)
				switch r.Key {
				case "max_attempts":
					s, _ := c.str(r.Val, rf)
					n, err := strconv.Atoi(s)
					if err != nil || n < 0 {
						c.add(r.Line, rf, "max_attempts must be a whole number ≥ 0", "write e.g. 5 (0 disables retries)")
						continue
					}
					opt.Retry.MaxAttempts = n
				case "initial_backoff":
					opt.Retry.InitialBackoff, _ = c.duration(r.Val, r.Line, rf)
				case "max_backoff":
					opt.Retry.MaxBackoff, _ = c.duration(r.Val, r.Line, rf)
				default:
					continue
				}
				o.Set["retry."+r.Key] = r.Line
			}
			delete(o.Set, "retry")
		}
	}
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
	src := o.Options
	for k := range o.Set {
		switch k {
		case "path":
			dst.Path = src.Path
		case "methods":
			dst.Methods = append([]string(nil), src.Methods...)
		case "response":
			dst.Response = src.Response
		case "async":
			dst.Async = src.Async
		case "compat":
			if src.Compat != "" {
				dst.Compat = src.Compat
			}
		case "lane":
			dst.Lane = src.Lane
		case "timeout":
			if src.Timeout > 0 {
				dst.Timeout = src.Timeout
			}
		case "memory_limit":
			if src.MemoryLimit > 0 {
				dst.MemoryLimit = src.MemoryLimit
			}
		case "enabled":
			dst.Enabled = src.Enabled
		case "polling":
			dst.Polling = src.Polling
		case "overlap":
			dst.Overlap = src.Overlap
		case "time_zone":
			dst.TimeZone = src.TimeZone
		case "retry.max_attempts":
			dst.Retry.MaxAttempts = src.Retry.MaxAttempts
		case "retry.initial_backoff":
			dst.Retry.InitialBackoff = src.Retry.InitialBackoff
		case "retry.max_backoff":
			dst.Retry.MaxBackoff = src.Retry.MaxBackoff
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
