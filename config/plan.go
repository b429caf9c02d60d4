package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// @openfn/cli execution plan (workflow.json or .yaml), openfn-jobs.md §3.2:
// `{workflow: {steps}}`, the bare `{steps}` workflow, or the legacy
// `{jobs: […]}`. Steps become jobs and edges; a step without expression
// and adaptor is a trigger.
//
// A plan without a trigger step is run by the CLI on demand; here it gets a
// webhook trigger named "webhook" with an edge to the start step, so the
// workflow is served as an HTTP channel (and can be run manually).

var (
	planRootKeys     = []string{"id", "workflow", "options"}
	planWorkflowKeys = []string{"id", "name", "steps", "jobs", "start", "globals", "credentials", "options", "openfn", "history"}
	planOptionKeys   = []string{"start", "end", "timeout", "stepTimeout", "sanitize", "output", "statePropsToRemove", "strict"}
	planStepKeys     = []string{"id", "name", "adaptor", "adaptors", "expression", "configuration", "state", "data", "next",
		"type", "cron_expression", "enabled", "linker", "previous", "openfn"}
)

func (l *loader) plan(root *yaml.Node, p *Project) {
	c := l.c
	top, _ := c.mapping(root, "")
	wfNode, wfField, wpairs := root, "", top
	var opts *yaml.Node
	var topID string
	if _, ok := hasKey(root, "workflow"); ok {
		c.checkKeys(top, "", planRootKeys, false)
		for _, kv := range top {
			switch kv.Key {
			case "workflow":
				wfNode, wfField = kv.Val, "workflow"
			case "options":
				opts = kv.Val
			case "id":
				topID, _ = c.str(kv.Val, "id")
			}
		}
		var ok bool
		if wpairs, ok = c.mapping(wfNode, wfField); !ok {
			return
		}
	}
	c.checkKeys(wpairs, wfField, planWorkflowKeys, false)
	var stepsN *yaml.Node
	var stepsField, start, name, id string
	startLine := deref(wfNode).Line
	for _, kv := range wpairs {
		switch kv.Key {
		case "steps", "jobs":
			stepsN, stepsField = kv.Val, join(wfField, kv.Key)
		case "start":
			start, _ = c.str(kv.Val, join(wfField, "start"))
			startLine = kv.Line
		case "name":
			name, _ = c.str(kv.Val, join(wfField, "name"))
		case "id":
			id, _ = c.str(kv.Val, join(wfField, "id"))
		case "options":
			if opts == nil {
				opts = kv.Val
			}
		case "globals":
			c.warn(kv.Line, join(wfField, "globals"), "workflow globals are not supported and are ignored", "move shared code into each job")
		}
	}
	w := &Workflow{}
	var timeout time.Duration
	if opts != nil {
		of := "options"
		opairs, _ := c.mapping(opts, of)
		c.checkKeys(opairs, of, planOptionKeys, false)
		for _, kv := range opairs {
			switch kv.Key {
			case "start":
				if s, _ := c.str(kv.Val, join(of, "start")); s != "" {
					start, startLine = s, kv.Line
				}
			case "timeout":
				s, _ := c.str(kv.Val, join(of, "timeout"))
				ms, err := strconv.Atoi(s)
				if err != nil || ms <= 0 {
					c.add(kv.Line, join(of, "timeout"), "timeout must be a positive number of milliseconds", "write e.g. `timeout: 300000`")
				} else {
					timeout = time.Duration(ms) * time.Millisecond
				}
			}
		}
	}
	w.planTimeout = timeout
	w.Key = firstNonEmpty(id, topID, strings.TrimSuffix(filepath.Base(p.Path), filepath.Ext(p.Path)))
	w.Name = firstNonEmpty(name, w.Key)
	p.Name = w.Name
	l.locs[w] = loc{deref(wfNode).Line, wfField}

	steps := deref(stepsN)
	if steps == nil || isNull(steps) {
		c.add(deref(wfNode).Line, join(wfField, "steps"), "workflow has no steps", "add `steps: [{id, adaptor, expression}, …]`")
		p.Workflows = append(p.Workflows, w)
		return
	}
	if steps.Kind != yaml.SequenceNode {
		c.add(steps.Line, stepsField, "want a list of steps, got "+kindName(steps), "write steps as a JSON array")
		p.Workflows = append(p.Workflows, w)
		return
	}
	type pendingNext struct {
		src   string
		trig  bool
		node  *yaml.Node
		field string
		line  int
	}
	var nexts []pendingNext
	ids := map[string]int{}
	var firstID string
	for i, sn := range steps.Content {
		sf := fmt.Sprintf("%s[%d]", stepsField, i)
		spairs, ok := c.mapping(sn, sf)
		if !ok {
			continue
		}
		c.checkKeys(spairs, sf, planStepKeys, false)
		get := func(k string) (pair, bool) {
			for _, kv := range spairs {
				if kv.Key == k {
					return kv, true
				}
			}
			return pair{}, false
		}
		sid := ""
		if kv, ok := get("id"); ok {
			sid, _ = c.str(kv.Val, sf+".id")
		}
		if sid == "" {
			// The CLI names anonymous steps job-1, job-2, …
			sid = fmt.Sprintf("job-%d", i+1)
		}
		line := deref(sn).Line
		if first, dup := ids[sid]; dup {
			c.add(line, sf+".id", fmt.Sprintf("duplicate step id %q (first at line %d)", sid, first), "give every step a unique id")
			continue
		}
		ids[sid] = line
		if firstID == "" {
			firstID = sid
		}
		_, hasExpr := get("expression")
		_, hasAdaptor := get("adaptor")
		_, hasAdaptors := get("adaptors")
		if !hasExpr && !hasAdaptor && !hasAdaptors {
			t := l.planTrigger(sid, spairs, sf)
			l.locs[t] = loc{line, sf}
			w.Triggers = append(w.Triggers, t)
			if kv, ok := get("next"); ok {
				nexts = append(nexts, pendingNext{sid, true, kv.Val, sf + ".next", kv.Line})
			}
			continue
		}
		j := l.planJob(sid, spairs, sf, line, p)
		w.Jobs = append(w.Jobs, j)
		if kv, ok := get("next"); ok {
			nexts = append(nexts, pendingNext{sid, false, kv.Val, sf + ".next", kv.Line})
		}
	}
	for _, pn := range nexts {
		w.Edges = append(w.Edges, l.planEdges(pn.src, pn.trig, pn.node, pn.field, w)...)
	}
	if start == "" {
		start = firstID
	}
	if start != "" && w.Job(start) == nil && w.Trigger(start) == nil {
		c.add(startLine, "start", fmt.Sprintf("start step %q does not exist", start), "name the id of a step")
	} else if len(w.Triggers) == 0 && w.Job(start) != nil {
		t := &Trigger{Key: "webhook", Type: TriggerWebhook, Enabled: true}
		w.Triggers = append(w.Triggers, t)
		e := &Edge{Key: "webhook->" + start, SourceTrigger: "webhook", TargetJob: start, Condition: ConditionAlways, Enabled: true}
		l.locs[e] = loc{startLine, "start"}
		w.Edges = append([]*Edge{e}, w.Edges...)
	}
	p.Workflows = append(p.Workflows, w)
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func (l *loader) planTrigger(id string, pairs []pair, field string) *Trigger {
	c := l.c
	t := &Trigger{Key: id, Type: TriggerWebhook, Enabled: true}
	cronLine := 0
	for _, kv := range pairs {
		switch kv.Key {
		case "type":
			s, _ := c.str(kv.Val, field+".type")
			switch TriggerType(s) {
			case "", TriggerWebhook:
			case TriggerCron, TriggerKafka:
				t.Type = TriggerType(s)
			default:
				c.add(kv.Line, field+".type", fmt.Sprintf("unknown trigger type %q", s), "use webhook, cron or kafka")
			}
		case "cron_expression":
			t.CronExpression, _ = c.str(kv.Val, field+".cron_expression")
			cronLine = kv.Line
		case "enabled":
			t.Enabled = c.boolean(kv.Val, field+".enabled", true)
		}
	}
	if t.Type == TriggerCron {
		if t.CronExpression == "" {
			c.add(pairs[0].Line, field+".cron_expression", "cron trigger has no cron_expression", "add e.g. `\"cron_expression\": \"0 * * * *\"`")
		} else {
			l.checkCron(t.CronExpression, cronLine, field+".cron_expression")
		}
	}
	return t
}

func (l *loader) planJob(id string, pairs []pair, field string, line int, p *Project) *Job {
	c := l.c
	j := &Job{Key: id, Name: id, Line: line}
	l.locs[j] = loc{line, field}
	adaptorLine := line
	for _, kv := range pairs {
		switch kv.Key {
		case "name":
			if s, _ := c.str(kv.Val, field+".name"); s != "" {
				j.Name = s
			}
		case "adaptor":
			j.Adaptor, _ = c.str(kv.Val, field+".adaptor")
			adaptorLine = kv.Line
		case "adaptors":
			list := c.strList(kv.Val, field+".adaptors")
			adaptorLine = kv.Line
			if len(list) > 0 && j.Adaptor == "" {
				j.Adaptor = list[0]
			}
			if len(list) > 1 {
				c.warn(kv.Line, field+".adaptors", "only the first adaptor is used", "keep one adaptor per step")
			}
		case "expression":
			s, ok := c.str(kv.Val, field+".expression")
			switch {
			case !ok:
			case isBlank(s):
				c.add(kv.Line, field+".expression", "expression is empty", "write the job's code or the path of a .js file")
			case looksLikePath(s):
				if body, abs, ok := l.readBody(s, kv.Line, field+".expression"); ok {
					j.Body, j.BodyPath = body, abs
				}
			default:
				j.Body = s
			}
		case "configuration":
			l.planConfiguration(kv, field, j, p)
		case "state", "data":
			if isNull(kv.Val) {
				continue
			}
			if obj, ok := c.object(kv.Val, field+"."+kv.Key); ok {
				if kv.Key == "data" {
					obj = map[string]any{"data": obj}
				}
				j.State = obj
			}
		}
	}
	if j.Adaptor == "" {
		c.add(line, field+".adaptor", "step has an expression but no adaptor", "add `\"adaptor\": \"@openfn/language-common@latest\"` (or http, dhis2, …)")
	} else {
		l.checkAdaptor(j.Adaptor, adaptorLine, field+".adaptor")
		if CheckAdaptorSyntax(j.Adaptor) == nil {
			j.Adaptor = ExpandAdaptor(j.Adaptor)
		}
	}
	if _, ok := findPair(pairs, "expression"); !ok {
		c.add(line, field+".expression", "step has an adaptor but no expression", "add the job's code or the path of its .js file")
	}
	return j
}

func findPair(pairs []pair, k string) (pair, bool) {
	for _, kv := range pairs {
		if kv.Key == k {
			return kv, true
		}
	}
	return pair{}, false
}

// looksLikePath is the CLI's rule: a one-line expression ending in .js is a
// file to load, anything else is source.
func looksLikePath(s string) bool {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "file://") {
		return true
	}
	return !strings.ContainsAny(s, "\n;( ") && (strings.HasSuffix(s, ".js") || strings.HasSuffix(s, ".ts"))
}

// planConfiguration reads `configuration`: an object (inline), a path to a
// JSON/YAML file, or a credential id resolved from the credentials map.
func (l *loader) planConfiguration(kv pair, field string, j *Job, p *Project) {
	c := l.c
	cf := field + ".configuration"
	n := deref(kv.Val)
	switch {
	case isNull(n):
	case n.Kind == yaml.MappingNode:
		j.Configuration, _ = c.object(n, cf)
	default:
		s, ok := c.str(n, cf)
		if !ok || s == "" {
			return
		}
		lower := strings.ToLower(s)
		if strings.HasSuffix(lower, ".json") || strings.HasSuffix(lower, ".yaml") || strings.HasSuffix(lower, ".yml") {
			abs := s
			if !filepath.IsAbs(abs) {
				abs = filepath.Join(l.dir, s)
			}
			root, _, err := parseFile(abs)
			if err != nil {
				var ves ValidationErrors
				if errors.Is(err, os.ErrNotExist) {
					c.add(kv.Line, cf, fmt.Sprintf("configuration file %s not found (resolved to %s)", s, abs), "fix the path (relative to the workflow file) or use a credential id")
				} else if errors.As(err, &ves) {
					c.errs = append(c.errs, ves...)
				} else {
					c.add(kv.Line, cf, fmt.Sprintf("cannot read configuration file %s", s), "check the file's permissions")
				}
				return
			}
			sub := &collector{file: abs}
			obj, _ := sub.object(root, "")
			c.errs = append(c.errs, sub.errs...)
			j.Configuration = obj
			return
		}
		j.Credential = s
		if !contains(p.Credentials, s) {
			p.Credentials = append(p.Credentials, s)
		}
	}
}

// planEdges reads a step's `next`: a step id, or a map of target id to
// true/false, a condition string, or {condition, label, disabled}.
func (l *loader) planEdges(src string, fromTrigger bool, n *yaml.Node, field string, w *Workflow) []*Edge {
	c := l.c
	newEdge := func(target string, line int, f string) *Edge {
		e := &Edge{Key: src + "->" + target, TargetJob: target, Condition: ConditionAlways, Enabled: true}
		if fromTrigger {
			e.SourceTrigger = src
		} else {
			e.SourceJob = src
		}
		l.locs[e] = loc{line, f}
		if w.Job(target) == nil {
			if w.Trigger(target) != nil {
				c.add(line, f, fmt.Sprintf("edge points at trigger %q", target), "point next at a job step")
			} else {
				c.add(line, f, fmt.Sprintf("step %q does not exist", target), "name the id of a step in this workflow")
			}
		}
		return e
	}
	setCond := func(e *Edge, s string, line int, f string) {
		if ct, ok := conditionType(s); ok && ct != ConditionJSExpression {
			e.Condition = ct
			return
		}
		if isBlank(s) {
			c.add(line, f, "condition is empty", "write always, on_job_success, on_job_failure or a JavaScript expression")
			return
		}
		e.Condition, e.Expression = ConditionJSExpression, s
	}
	n = deref(n)
	if isNull(n) {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		return []*Edge{newEdge(n.Value, n.Line, field)}
	}
	pairs, ok := c.mapping(n, field)
	if !ok {
		return nil
	}
	var out []*Edge
	for _, kv := range pairs {
		f := join(field, kv.Key)
		e := newEdge(kv.Key, kv.Line, f)
		v := deref(kv.Val)
		switch {
		case v.Kind == yaml.ScalarNode && v.Tag == "!!bool":
			e.Enabled = c.boolean(v, f, true)
		case v.Kind == yaml.ScalarNode:
			setCond(e, v.Value, kv.Line, f)
		case v.Kind == yaml.MappingNode:
			epairs, _ := c.mapping(v, f)
			c.checkKeys(epairs, f, []string{"condition", "label", "disabled"}, false)
			hasCond := false
			for _, ep := range epairs {
				switch ep.Key {
				case "condition":
					hasCond = true
					cv := deref(ep.Val)
					if cv.Kind == yaml.ScalarNode && cv.Tag == "!!bool" {
						if !c.boolean(cv, f+".condition", true) {
							e.Enabled = false
						}
					} else if s, ok := c.str(cv, f+".condition"); ok {
						setCond(e, s, ep.Line, f+".condition")
					}
				case "label":
					e.Label, _ = c.str(ep.Val, f+".label")
				case "disabled":
					if c.boolean(ep.Val, f+".disabled", false) {
						e.Enabled = false
					}
				}
			}
			if !hasCond && e.Enabled {
				// @openfn/runtime does not follow an edge object without a
				// condition; keep that, but say so.
				e.Enabled = false
				c.warn(kv.Line, f, "edge has no condition, so OpenFn never follows it", "add `\"condition\": \"always\"` (or true)")
			}
		default:
			c.add(kv.Line, f, "want true, false, a condition string or {condition, label, disabled}", "write e.g. `\"next\": {\""+kv.Key+"\": \"on_job_success\"}`")
		}
		out = append(out, e)
	}
	return out
}
