package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// OptionSpec declares one jobmediator.yaml option, once: its key, what it
// takes, its default and doc (for docs/reference-options.md), how it is
// read and checked, and how it replaces the default. The reader, `check`,
// the unknown-key errors ("did you mean") and the reference docs all come
// from these tables.
type OptionSpec struct {
	Key     string // dotted under its level, e.g. "retry.max_attempts"
	Takes   string // what a value looks like, for the docs
	Default string
	Example string // YAML value, for the docs' example
	Doc     string
	// read parses and checks the value into o; false means the key does
	// not count as set (e.g. an empty methods list).
	read func(c *collector, n *yaml.Node, line int, field string, o *WorkflowOptions) bool
	// apply copies the option from a read override onto dst.
	apply func(dst *WorkflowOptions, src WorkflowOptions)
}

// TopOptions are the file's top-level keys (read in LoadMediatorOptions).
var TopOptions = []OptionSpec{
	{Key: "compat", Takes: "legacy | lightning", Default: "legacy for v1 projects, else lightning", Example: "lightning",
		Doc: "Project-wide compatibility profile (OpenFn v1 `@openfn/core`, or Lightning `@openfn/runtime`)."},
	{Key: "sensitive_keys", Takes: "list of key names", Example: "[nationalId]",
		Doc: "Extra keys whose values are redacted everywhere, on top of password, token and the adaptors' secret fields."},
	{Key: "workflows", Takes: "map of workflow key or name → options below",
		Doc: "Per-workflow options; each entry must name a workflow of the project."},
}

// WorkflowOptionSpecs are the keys of a `workflows:` entry, in the order
// the docs show them.
var WorkflowOptionSpecs = []OptionSpec{
	{Key: "path", Takes: "path starting with /", Default: "/<slug of the workflow key>", Example: "/hello",
		Doc: "Channel path the workflow is served on (also its OpenHIM channel's urlPattern and route path).",
		read: func(c *collector, n *yaml.Node, line int, f string, o *WorkflowOptions) bool {
			o.Path, _ = c.str(n, f)
			if msg, fix := checkPathShape(o.Path); msg != "" {
				c.add(line, f, msg, fix)
			}
			return true
		},
		apply: func(dst *WorkflowOptions, src WorkflowOptions) { dst.Path = src.Path }},
	{Key: "methods", Takes: "list of " + strings.Join(httpMethods, ", "), Default: "[POST]", Example: "[POST]",
		Doc: "HTTP methods the channel accepts.",
		read: func(c *collector, n *yaml.Node, line int, f string, o *WorkflowOptions) bool {
			for _, m := range c.strList(n, f) {
				up := strings.ToUpper(strings.TrimSpace(m))
				if !contains(httpMethods, up) {
					c.add(line, f, fmt.Sprintf("unknown HTTP method %q", m), "use "+strings.Join(httpMethods, ", "))
					continue
				}
				if !contains(o.Methods, up) {
					o.Methods = append(o.Methods, up)
				}
			}
			return len(o.Methods) > 0
		},
		apply: func(dst *WorkflowOptions, src WorkflowOptions) { dst.Methods = append([]string(nil), src.Methods...) }},
	{Key: "response", Takes: "data | state | work_order | upstream | no_content", Default: "data", Example: "data",
		Doc: "What a caller gets back: the final state's data, the whole state, a work-order receipt, the last upstream answer, or 204.",
		read: func(c *collector, n *yaml.Node, line int, f string, o *WorkflowOptions) bool {
			s, _ := c.str(n, f)
			o.Response = ResponseMode(s)
			ok := false
			for _, m := range responseModes {
				ok = ok || m == o.Response
			}
			if !ok {
				c.add(line, f, fmt.Sprintf("unknown response mode %q", s), "use data, state, work_order, upstream or no_content")
			}
			return true
		},
		apply: func(dst *WorkflowOptions, src WorkflowOptions) { dst.Response = src.Response }},
	{Key: "async", Takes: "true | false", Default: "false", Example: "false",
		Doc: "Answer 202 Processing at once and finish the OpenHIM transaction with PUT /transactions/:id.",
		read: func(c *collector, n *yaml.Node, _ int, f string, o *WorkflowOptions) bool {
			o.Async = c.boolean(n, f, false)
			return true
		},
		apply: func(dst *WorkflowOptions, src WorkflowOptions) { dst.Async = src.Async }},
	{Key: "compat", Takes: "legacy | lightning", Default: "the project's", Example: "lightning",
		Doc: "This workflow's compatibility profile.",
		read: func(c *collector, n *yaml.Node, line int, f string, o *WorkflowOptions) bool {
			o.Compat = c.compat(n, line, f)
			return true
		},
		apply: func(dst *WorkflowOptions, src WorkflowOptions) {
			if src.Compat != "" {
				dst.Compat = src.Compat
			}
		}},
	{Key: "retry.max_attempts", Takes: "whole number ≥ 0", Default: strconv.Itoa(DefaultRetryAttempts), Example: "5",
		Doc: "Attempts of our own retry queue for transient failures; 0 disables retries.",
		read: func(c *collector, n *yaml.Node, line int, f string, o *WorkflowOptions) bool {
			s, _ := c.str(n, f)
			v, err := strconv.Atoi(s)
			if err != nil || v < 0 {
				c.add(line, f, "max_attempts must be a whole number ≥ 0", "write e.g. 5 (0 disables retries)")
				return false
			}
			o.Retry.MaxAttempts = v
			return true
		},
		apply: func(dst *WorkflowOptions, src WorkflowOptions) { dst.Retry.MaxAttempts = src.Retry.MaxAttempts }},
	{Key: "retry.initial_backoff", Takes: "duration", Default: DefaultInitialBackoff.String(), Example: "10s",
		Doc:   "Wait before the first retry; doubles (with jitter) after each.",
		read:  readDuration(func(o *WorkflowOptions) *time.Duration { return &o.Retry.InitialBackoff }),
		apply: func(dst *WorkflowOptions, src WorkflowOptions) { dst.Retry.InitialBackoff = src.Retry.InitialBackoff }},
	{Key: "retry.max_backoff", Takes: "duration", Default: DefaultMaxBackoff.String(), Example: "10m",
		Doc:   "Longest wait between retries (never below initial_backoff).",
		read:  readDuration(func(o *WorkflowOptions) *time.Duration { return &o.Retry.MaxBackoff }),
		apply: func(dst *WorkflowOptions, src WorkflowOptions) { dst.Retry.MaxBackoff = src.Retry.MaxBackoff }},
	{Key: "lane", Takes: "routed | scheduled | a lowercase name", Default: "routed (scheduled for cron-only workflows)", Example: "routed",
		Doc: "Worker pool the workflow's queued runs use, so slow pulls cannot starve routed requests.",
		read: func(c *collector, n *yaml.Node, line int, f string, o *WorkflowOptions) bool {
			o.Lane, _ = c.str(n, f)
			if !laneRE.MatchString(o.Lane) {
				c.add(line, f, fmt.Sprintf("lane %q is not a lane name", o.Lane), "use routed, scheduled, or a lowercase name of your own")
			}
			return true
		},
		apply: func(dst *WorkflowOptions, src WorkflowOptions) { dst.Lane = src.Lane }},
	{Key: "timeout", Takes: "duration", Default: DefaultTimeout.String() + " (or the plan's options.timeout)", Example: "300s",
		Doc: "Deadline of a whole run.",
		read: func(c *collector, n *yaml.Node, line int, f string, o *WorkflowOptions) bool {
			o.Timeout, _ = c.duration(n, line, f)
			if o.Timeout == 0 {
				c.add(line, f, "timeout must be positive", "write e.g. 300s")
			}
			return true
		},
		apply: func(dst *WorkflowOptions, src WorkflowOptions) {
			if src.Timeout > 0 {
				dst.Timeout = src.Timeout
			}
		}},
	{Key: "memory_limit", Takes: "size (e.g. 512mb, 2gb), at least 16mb", Default: strconv.Itoa(DefaultMemoryLimit>>20) + "mb", Example: "512mb",
		Doc: "Memory one run may use; over it the run fails alone (the process and other runs go on).",
		read: func(c *collector, n *yaml.Node, line int, f string, o *WorkflowOptions) bool {
			s, _ := c.str(n, f)
			v, err := ParseByteSize(s)
			switch {
			case err != nil:
				c.add(line, f, err.Error(), "write a size such as 512mb or 2gb")
			case v < 16<<20:
				c.add(line, f, fmt.Sprintf("memory_limit %q is below 16 MB, too little to run a job", s), "write at least 16mb (the default is 512mb)")
			default:
				o.MemoryLimit = v
			}
			return true
		},
		apply: func(dst *WorkflowOptions, src WorkflowOptions) {
			if src.MemoryLimit > 0 {
				dst.MemoryLimit = src.MemoryLimit
			}
		}},
	{Key: "enabled", Takes: "true | false", Default: "true", Example: "true",
		Doc: "Whether the workflow runs at all; also a switch in the OpenHIM console.",
		read: func(c *collector, n *yaml.Node, _ int, f string, o *WorkflowOptions) bool {
			o.Enabled = c.boolean(n, f, true)
			return true
		},
		apply: func(dst *WorkflowOptions, src WorkflowOptions) { dst.Enabled = src.Enabled }},
	{Key: "polling", Takes: "OpenHIM pollingSchedule (cron or e.g. \"5 minutes\")", Default: "none", Example: `"*/15 * * * *"`,
		Doc: "Let OpenHIM core schedule the workflow as a polling channel instead of our cron (docs/scheduling.md). Checked as core reads it (an interval such as `15 minutes`, or cron with optional seconds): a schedule core cannot read is an error here, since core would only log it and never poll.",
		read: func(c *collector, n *yaml.Node, line int, f string, o *WorkflowOptions) bool {
			o.Polling, _ = c.str(n, f)
			if isBlank(o.Polling) {
				c.add(line, f, "polling schedule is empty", "write OpenHIM's pollingSchedule, e.g. `*/5 * * * *`, or remove polling")
			} else if err := ValidatePollingSchedule(o.Polling); err != nil {
				c.add(line, f, err.Error()+": core would never poll it", "write a cron expression such as `*/15 * * * *`, or an interval such as `15 minutes`")
			}
			return true
		},
		apply: func(dst *WorkflowOptions, src WorkflowOptions) { dst.Polling = src.Polling }},
	{Key: "overlap", Takes: "skip | queue", Default: "skip", Example: "skip",
		Doc: "What a cron tick does while the previous run of the workflow is still going: drop it, or run it afterwards.",
		read: func(c *collector, n *yaml.Node, line int, f string, o *WorkflowOptions) bool {
			o.Overlap, _ = c.str(n, f)
			if o.Overlap != OverlapSkip && o.Overlap != OverlapQueue {
				c.add(line, f, fmt.Sprintf("unknown overlap policy %q", o.Overlap), "use skip (drop a tick while the previous run is going) or queue (run it afterwards)")
			}
			return true
		},
		apply: func(dst *WorkflowOptions, src WorkflowOptions) { dst.Overlap = src.Overlap }},
	{Key: "time_zone", Takes: "IANA zone name", Default: "JM_TIME_ZONE, else UTC", Example: "Asia/Phnom_Penh",
		Doc: "Zone the workflow's cron expression is read in.",
		read: func(c *collector, n *yaml.Node, line int, f string, o *WorkflowOptions) bool {
			o.TimeZone, _ = c.str(n, f)
			if _, err := time.LoadLocation(o.TimeZone); err != nil || isBlank(o.TimeZone) {
				c.add(line, f, fmt.Sprintf("unknown time zone %q", o.TimeZone), "use an IANA zone name such as UTC, Africa/Nairobi or Asia/Phnom_Penh")
			}
			return true
		},
		apply: func(dst *WorkflowOptions, src WorkflowOptions) { dst.TimeZone = src.TimeZone }},
	{Key: "inbox", Takes: "list of {type: api_key | basic | hmac, credential: <name>} (hmac also timestamp_header, tolerance)", Default: "none: open (or OpenHIM core only, with JM_ROUTE_AUTH or a client CA)",
		Example: "[{type: api_key, credential: partner-key}]",
		Doc:     "Who may call the endpoint directly, as Lightning's webhook auth methods; each names a credentials-file entry (api_key: `key` in the x-api-key header; basic: `username`, `password`; hmac: `secret`, X-Signature-256: sha256=<hex HMAC of the body>). Several entries rotate keys. None presented → 401, wrong → 404; OpenHIM core always passes. See docs/security.md.",
		read:    readInbox,
		apply:   func(dst *WorkflowOptions, src WorkflowOptions) { dst.Inbox = append([]InboxMethod(nil), src.Inbox...) }},
	{Key: "rate_limit", Takes: "{requests: n, per: duration, burst: n}", Default: "no limit", Example: "{requests: 60, per: 1m}",
		Doc:   "Requests each direct client (its inbox credential, else its address) may make; over it 429 with Retry-After. OpenHIM core is not limited.",
		read:  readRateLimit,
		apply: func(dst *WorkflowOptions, src WorkflowOptions) { dst.RateLimit = src.RateLimit }},
	{Key: "notify", Takes: "{events: [run_failed, dead_letter, failing], failing: {times, within}, email: [addresses], webhook: <credential>, payload_excerpt: bool}", Default: "events run_failed and dead_letter to the JM_NOTIFY_* sinks",
		Example: "{events: [run_failed, dead_letter], email: [ops@example.org]}",
		Doc:     "Which failures of this workflow are notified and to whom besides the global sinks (a webhook credential holds `url` and `secret`); payload_excerpt adds a redacted excerpt of the input. See docs/security.md.",
		read:    readNotify,
		apply:   func(dst *WorkflowOptions, src WorkflowOptions) { dst.Notify = src.Notify }},
}

// readDuration reads a duration option into the field at returns.
func readDuration(at func(*WorkflowOptions) *time.Duration) func(*collector, *yaml.Node, int, string, *WorkflowOptions) bool {
	return func(c *collector, n *yaml.Node, line int, f string, o *WorkflowOptions) bool {
		*at(o), _ = c.duration(n, line, f)
		return true
	}
}

// optionKeys lists the keys at one level of a table: "" for the top of a
// workflows entry, or a group such as "retry". A group's name is a key of
// its parent level.
func optionKeys(specs []OptionSpec, group string) []string {
	var out []string
	for _, s := range specs {
		key := s.Key
		if group != "" {
			rest, ok := strings.CutPrefix(key, group+".")
			if !ok {
				continue
			}
			key = rest
		}
		head, _, _ := strings.Cut(key, ".")
		if !contains(out, head) {
			out = append(out, head)
		}
	}
	return out
}

func optionSpec(key string) (OptionSpec, bool) {
	for _, s := range WorkflowOptionSpecs {
		if s.Key == key {
			return s, true
		}
	}
	return OptionSpec{}, false
}

// readOptions reads the pairs of one level (group "" or e.g. "retry") of a
// workflows entry into o, recording the line of every option set.
func (c *collector) readOptions(pairs []pair, field, group string, o *WorkflowOverride) {
	c.checkKeys(pairs, field, optionKeys(WorkflowOptionSpecs, group), true)
	for _, f := range pairs {
		key := f.Key
		if group != "" {
			key = group + "." + f.Key
		}
		ff := join(field, f.Key)
		if s, ok := optionSpec(key); ok {
			if s.read(c, f.Val, f.Line, ff, &o.Options) {
				o.Set[key] = f.Line
			}
			continue
		}
		if contains(optionKeys(WorkflowOptionSpecs, group), f.Key) {
			// a group such as retry: its own keys below it
			sub, _ := c.mapping(f.Val, ff)
			c.readOptions(sub, ff, key, o)
		}
	}
}

// OptionsMarkdown renders docs/reference-options.md from the tables.
func OptionsMarkdown() string {
	var b strings.Builder
	b.WriteString("# Reference: jobmediator.yaml\n\n")
	b.WriteString("<!-- Generated from config/optionspec.go by `go generate ./config`; do not edit. -->\n\n")
	b.WriteString("jobmediator.yaml sits next to the project (or is named by `--options` / `JM_OPTIONS`) and\n")
	b.WriteString("holds what OpenFn's formats have no place for, so the project file stays OpenFn's. Every key is\n")
	b.WriteString("optional; an unknown key is an error (with a \"did you mean\"), and `jobmediator check` reports\n")
	b.WriteString("every problem with its file, line and fix.\n\n")
	table := func(specs []OptionSpec) {
		b.WriteString("| key | takes | default | what it does |\n|---|---|---|---|\n")
		for _, s := range specs {
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", s.Key, mdCell(s.Takes), mdCell(s.Default), mdCell(s.Doc))
		}
	}
	b.WriteString("## Top level\n\n")
	table(TopOptions)
	b.WriteString("\n## Per workflow (`workflows: {<workflow key or name>: …}`)\n\n")
	table(WorkflowOptionSpecs)
	b.WriteString("\n## Example\n\n```yaml\n")
	for _, s := range TopOptions {
		if s.Example != "" {
			fmt.Fprintf(&b, "%s: %s\n", s.Key, s.Example)
		}
	}
	b.WriteString("workflows:\n  my-workflow:\n")
	group := ""
	for _, s := range WorkflowOptionSpecs {
		head, sub, nested := strings.Cut(s.Key, ".")
		switch {
		case !nested:
			group = ""
			fmt.Fprintf(&b, "    %s: %s\n", s.Key, s.Example)
		default:
			if group != head {
				group = head
				fmt.Fprintf(&b, "    %s:\n", head)
			}
			fmt.Fprintf(&b, "      %s: %s\n", sub, s.Example)
		}
	}
	b.WriteString("```\n")
	return b.String()
}

// mdCell keeps a table cell whole: a "|" in it would end the cell.
func mdCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
