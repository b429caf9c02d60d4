package openhim

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jobmediator/jobmediator/internal/jsonvalue"
)

const passwordMask = "**********"

// validationError renders like a JS Error whose name is ValidationError:
// `${err}` gives "ValidationError: <message>".
type validationError struct{ msg string }

func (e *validationError) Error() string { return "ValidationError: " + e.msg }

func vErr(format string, a ...any) error { return &validationError{fmt.Sprintf(format, a...)} }

// Mediator returns the stored mediator document (passwords unmasked).
func (c *Core) Mediator(urn string) (map[string]any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.mediators[urn]
	return cloneDoc(m), ok
}

func (c *Core) mediatorsAPI(x *apiCtx) {
	p, m := x.parts, x.r.Method
	switch {
	case len(p) == 1 && m == "GET":
		if !x.requireAdmin("getAllMediators") {
			return
		}
		// The list is NOT masked: core calls maskPasswords on the array,
		// which is a no-op (§2.4, §13.7).
		c.mu.Lock()
		out := make([]any, 0, len(c.medOrder))
		for _, urn := range c.medOrder {
			out = append(out, cloneDoc(c.mediators[urn]))
		}
		c.mu.Unlock()
		x.json(200, out)
	case len(p) == 1 && m == "POST":
		if x.requireAdmin("addMediator") {
			c.addMediator(x)
		}
	case len(p) == 2 && m == "GET":
		if !x.requireAdmin("getMediator") {
			return
		}
		doc, ok := c.Mediator(p[1])
		if !ok {
			x.status(404)
			return
		}
		maskPasswords(arr(doc["configDefs"]), doc["config"])
		x.json(200, doc)
	case len(p) == 2 && m == "DELETE":
		if !x.requireAdmin("removeMediator") {
			return
		}
		c.mu.Lock()
		if _, ok := c.mediators[p[1]]; ok {
			delete(c.mediators, p[1])
			for i, u := range c.medOrder {
				if u == p[1] {
					c.medOrder = append(c.medOrder[:i], c.medOrder[i+1:]...)
					break
				}
			}
		}
		c.mu.Unlock()
		x.text(200, fmt.Sprintf("Mediator with urn %s has been successfully removed by %s", p[1], x.user.email))
	case len(p) == 3 && p[2] == "heartbeat" && m == "POST":
		if x.requireAdmin("mediatorHeartbeat") {
			c.mediatorHeartbeat(x, p[1])
		}
	case len(p) == 3 && p[2] == "config" && m == "PUT":
		if x.requireAdmin("setConfig") {
			c.setMediatorConfig(x, p[1])
		}
	case len(p) == 3 && p[2] == "channels" && m == "POST":
		if x.requireAdmin("loadDefaultChannels") {
			c.loadDefaultChannels(x, p[1])
		}
	}
}

// addMediator is POST /mediators (§2.1–§2.3).
func (c *Core) addMediator(x *apiCtx) {
	body, ok := x.body.(map[string]any)
	if !ok {
		body = map[string]any{} // an array has no urn either
	}
	body = cloneDoc(body)
	fail := func(err error) {
		var ve *validationError
		if errors.As(err, &ve) {
			x.text(400, "Could not add Mediator via the API: "+err.Error())
		} else {
			x.text(500, "Could not add Mediator via the API: "+err.Error())
		}
	}
	urn := str(body["urn"])
	if urn == "" {
		fail(vErr("URN is required"))
		return
	}
	ver := str(body["version"])
	if _, ok := parseSemver(ver); !ok {
		fail(vErr("Version is required. Must be in SemVer form x.y.z"))
		return
	}
	if defs, present := body["configDefs"]; present && defs != nil {
		if err := validateConfigDefs(defs); err != nil {
			fail(err)
			return
		}
		if cfg, ok := body["config"]; ok && cfg != nil {
			if err := validateConfig(arr(defs), cfg); err != nil {
				fail(err)
				return
			}
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	existing, exists := c.mediators[urn]
	if exists {
		old, _ := parseSemver(str(existing["version"]))
		nv, _ := parseSemver(ver)
		if compareSemver(nv, old) > 0 {
			// findByIdAndUpdate(existing._id, body): present top-level fields
			// replace the stored ones, without validators. Config keys that
			// already have a non-null value keep it; keys only in the stored
			// config are dropped (§2.3).
			if newCfg := obj(body["config"]); newCfg != nil {
				if oldCfg := obj(existing["config"]); oldCfg != nil {
					for k := range newCfg {
						if v, ok := oldCfg[k]; ok && v != nil {
							newCfg[k] = v
						}
					}
				}
			}
			for k, v := range body {
				if k == "_id" || k == "_configModifiedTS" || k == "_uptime" || k == "_lastHeartbeat" {
					continue
				}
				existing[k] = v
			}
			addSubdocIDs(c, existing)
		}
		x.status(201)
		return
	}
	if eps := arr(body["endpoints"]); len(eps) < 1 {
		fail(vErr("At least 1 endpoint is required"))
		return
	}
	if err := validateMediatorSchema(body); err != nil {
		fail(err)
		return
	}
	for _, k := range []string{"_configModifiedTS", "_uptime", "_lastHeartbeat"} {
		delete(body, k)
	}
	body["_id"] = c.newID()
	body["__v"] = 0.0
	addSubdocIDs(c, body)
	c.mediators[urn] = body
	c.medOrder = append(c.medOrder, urn)
	x.status(201)
}

// addSubdocIDs gives sub-documents the _id and defaults Mongoose would.
func addSubdocIDs(c *Core, m map[string]any) {
	for _, e := range arr(m["endpoints"]) {
		if ep := obj(e); ep != nil {
			routeDefaults(c, ep)
		}
	}
	for _, d := range arr(m["configDefs"]) {
		if def := obj(d); def != nil {
			if def["_id"] == nil {
				def["_id"] = c.newID()
			}
			if def["values"] == nil {
				def["values"] = []any{}
			}
			if def["template"] == nil {
				def["template"] = []any{}
			}
		}
	}
	for _, ch := range arr(m["defaultChannelConfig"]) {
		if chd := obj(ch); chd != nil {
			if chd["_id"] == nil {
				chd["_id"] = c.newID()
			}
			for _, r := range arr(chd["routes"]) {
				if rt := obj(r); rt != nil && rt["_id"] == nil {
					rt["_id"] = c.newID()
				}
			}
		}
	}
}

func routeDefaults(c *Core, r map[string]any) {
	if r["_id"] == nil {
		r["_id"] = c.newID()
	}
	if r["type"] == nil {
		r["type"] = "http"
	}
	if r["status"] == nil {
		r["status"] = "enabled"
	}
	if r["forwardAuthHeader"] == nil {
		r["forwardAuthHeader"] = false
	}
	if s, ok := r["port"].(string); ok {
		if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
			r["port"] = f
		}
	}
}

var configDefTypes = []string{"string", "bigstring", "bool", "number", "option", "map", "struct", "password"}

// validateMediatorSchema is the Mongoose validation of a new mediator.
func validateMediatorSchema(m map[string]any) error {
	var msgs []string
	if str(m["name"]) == "" {
		msgs = append(msgs, "name: Path `name` is required.")
	}
	for i, e := range arr(m["endpoints"]) {
		msgs = append(msgs, routeSchemaErrors(fmt.Sprintf("endpoints.%d.", i), obj(e))...)
	}
	for i, d := range arr(m["configDefs"]) {
		def := obj(d)
		if str(def["param"]) == "" {
			msgs = append(msgs, fmt.Sprintf("configDefs.%d.param: Path `param` is required.", i))
		}
		if t := str(def["type"]); t == "" {
			msgs = append(msgs, fmt.Sprintf("configDefs.%d.type: Path `type` is required.", i))
		} else if !contains(configDefTypes, t) {
			msgs = append(msgs, fmt.Sprintf("configDefs.%d.type: `%s` is not a valid enum value for path `type`.", i, t))
		}
	}
	if len(msgs) > 0 {
		return vErr("Mediator validation failed: %s", strings.Join(msgs, ", "))
	}
	return nil
}

// routeSchemaErrors checks a RouteDef (route or endpoint) as Mongoose does.
func routeSchemaErrors(prefix string, r map[string]any) []string {
	var msgs []string
	if str(r["name"]) == "" {
		msgs = append(msgs, prefix+"name: Path `name` is required.")
	}
	t := str(r["type"])
	if t != "" && t != "http" && t != "kafka" {
		msgs = append(msgs, fmt.Sprintf("%stype: `%s` is not a valid enum value for path `type`.", prefix, t))
	}
	if t != "kafka" {
		if str(r["host"]) == "" {
			msgs = append(msgs, prefix+"host: Path `host` is required.")
		}
		switch p := r["port"].(type) {
		case nil:
			msgs = append(msgs, prefix+"port: Path `port` is required.")
		case float64:
			if p < 0 || p > 65536 {
				msgs = append(msgs, fmt.Sprintf("%sport: Path `port` (%v) is out of range (0–65536).", prefix, p))
			}
		case string:
			if _, err := strconv.ParseFloat(strings.TrimSpace(p), 64); err != nil {
				msgs = append(msgs, fmt.Sprintf("%sport: Cast to Number failed for value \"%s\" (type string) at path \"port\"", prefix, p))
			}
		default:
			msgs = append(msgs, fmt.Sprintf("%sport: Cast to Number failed at path \"port\"", prefix))
		}
	}
	if s := str(r["status"]); s != "" && s != "enabled" && s != "disabled" {
		msgs = append(msgs, fmt.Sprintf("%sstatus: `%s` is not a valid enum value for path `status`.", prefix, s))
	}
	return msgs
}

// validateConfigDefs is core's validateConfigDef over every definition.
func validateConfigDefs(v any) error {
	defs, ok := v.([]any)
	if !ok {
		return vErr("configDefs must be an array")
	}
	for _, d := range defs {
		if err := validateConfigDef(obj(d)); err != nil {
			return err
		}
	}
	return nil
}

func validateConfigDef(def map[string]any) error {
	param := str(def["param"])
	switch str(def["type"]) {
	case "struct":
		tpl, ok := def["template"]
		if !ok || tpl == nil {
			return vErr("Must specify a template for struct param '%s'", param)
		}
		for _, t := range arr(tpl) {
			item := obj(t)
			if str(item["param"]) == "" {
				return vErr("Must specify field 'param' in template definition for param '%s'", param)
			}
			if str(item["type"]) == "" {
				return vErr("Must specify field 'type' in template definition for param '%s'", param)
			}
			if str(item["type"]) == "struct" {
				return vErr("May not recursively specify 'struct' in template definitions (param '%s')", param)
			}
			if err := validateConfigDef(item); err != nil {
				return err
			}
		}
	case "option":
		vals, ok := def["values"].([]any)
		if !ok {
			return vErr("Expected field 'values' to be an array (option param '%s')", param)
		}
		if len(vals) == 0 {
			return vErr("Must specify a values array for option param '%s'", param)
		}
	}
	return nil
}

// validateConfig is core's validateConfig: every key needs a definition and
// every value must fit its type (§2.1).
func validateConfig(defs []any, config any) error {
	cfg, ok := config.(map[string]any)
	if !ok {
		// Object.keys of a non-object: arrays have index keys, scalars none.
		if a, isArr := config.([]any); isArr && len(a) > 0 {
			return vErr("No config definition found for parameter 0")
		}
		return nil
	}
	for _, param := range sortedKeysInsertion(cfg) {
		var matching []map[string]any
		for _, d := range defs {
			if def := obj(d); str(def["param"]) == param {
				matching = append(matching, def)
			}
		}
		if len(matching) == 0 {
			return vErr("No config definition found for parameter %s", param)
		}
		for _, def := range matching {
			val := cfg[param]
			if boolean(def["array"]) {
				items, ok := val.([]any)
				if !ok {
					return vErr("Expected config param %s to be an array of type %s", param, str(def["type"]))
				}
				for i, it := range items {
					if err := validateConfigField(fmt.Sprintf("%s[%d]", param, i), def, it); err != nil {
						return err
					}
				}
			} else if err := validateConfigField(param, def, val); err != nil {
				return err
			}
		}
	}
	return nil
}

// sortedKeysInsertion: Go maps lose JSON key order; sorting keeps the error
// for several bad keys deterministic.
func sortedKeysInsertion(m map[string]any) []string { return sortedKeys(m) }

// jsTypeof is JavaScript's typeof for a decoded JSON value.
func jsTypeof(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	default: // objects, arrays and null
		return "object"
	}
}

func validateConfigField(param string, def map[string]any, field any) error {
	t := jsTypeof(field)
	switch str(def["type"]) {
	case "string":
		if t != "string" {
			return vErr("Expected config param %s to be a string.", param)
		}
	case "bigstring":
		if t != "string" {
			return vErr("Expected config param %s to be a large string.", param)
		}
	case "number":
		if t != "number" {
			return vErr("Expected config param %s to be a number.", param)
		}
	case "bool":
		if t != "boolean" {
			return vErr("Expected config param %s to be a boolean.", param)
		}
	case "option":
		found := false
		for _, v := range arr(def["values"]) {
			if v == field {
				found = true
			}
		}
		if !found {
			vals := make([]string, 0)
			for _, v := range arr(def["values"]) {
				vals = append(vals, fmt.Sprint(v))
			}
			return vErr("Expected config param %s to be one of %s", param, strings.Join(vals, ","))
		}
	case "map":
		if t != "object" {
			return vErr("Expected config param %s to be an object.", param)
		}
		for _, v := range mapValues(field) {
			if _, ok := v.(string); !ok {
				return vErr("Expected config param %s to only contain string values.", param)
			}
		}
	case "struct":
		if t != "object" {
			return vErr("Expected config param %s to be an object.", param)
		}
		var fields []string
		for _, tp := range arr(def["template"]) {
			fields = append(fields, str(obj(tp)["param"]))
		}
		for _, k := range jsKeys(field) {
			if !contains(fields, k) {
				return vErr("Field %s is not defined in template definition for config param %s.", k, param)
			}
		}
	case "password":
		if t != "string" {
			return vErr("Expected config param %s to be a string representing a password.", param)
		}
	}
	return nil
}

// mapValues and jsKeys iterate an "object" as for…in does (arrays by index,
// null not at all).
func mapValues(v any) []any {
	switch t := v.(type) {
	case map[string]any:
		out := make([]any, 0, len(t))
		for _, k := range sortedKeys(t) {
			out = append(out, t[k])
		}
		return out
	case []any:
		return t
	}
	return nil
}

func jsKeys(v any) []string {
	switch t := v.(type) {
	case map[string]any:
		return sortedKeys(t)
	case []any:
		out := make([]string, len(t))
		for i := range t {
			out[i] = strconv.Itoa(i)
		}
		return out
	}
	return nil
}

// maskPasswords replaces truthy password values with the mask, recursing
// into structs, exactly as core's maskPasswords (arrays of structs are not
// recursed into, since config[param] is then an array).
func maskPasswords(defs []any, config any) {
	cfg := obj(config)
	if cfg == nil {
		return
	}
	for _, d := range defs {
		def := obj(d)
		p := str(def["param"])
		v := cfg[p]
		if !jsonvalue.Truthy(v) {
			continue
		}
		switch str(def["type"]) {
		case "password":
			if boolean(def["array"]) {
				if items, ok := v.([]any); ok {
					for i := range items {
						items[i] = passwordMask
					}
				}
			} else {
				cfg[p] = passwordMask
			}
		case "struct":
			maskPasswords(arr(def["template"]), v)
		}
	}
}

// restoreMaskedPasswords puts stored secrets back where the console sent the
// mask (§2.4).
func restoreMaskedPasswords(defs []any, masked, stored any) {
	m, s := obj(masked), obj(stored)
	if m == nil || s == nil {
		return
	}
	for _, d := range defs {
		def := obj(d)
		p := str(def["param"])
		switch str(def["type"]) {
		case "password":
			if !jsonvalue.Truthy(m[p]) || !jsonvalue.Truthy(s[p]) {
				continue
			}
			if boolean(def["array"]) {
				mi, si := arr(m[p]), arr(s[p])
				for i := range mi {
					if mi[i] == passwordMask && i < len(si) {
						mi[i] = si[i]
					}
				}
			} else if m[p] == passwordMask {
				m[p] = s[p]
			}
		case "struct":
			if jsonvalue.Truthy(m[p]) && jsonvalue.Truthy(s[p]) {
				restoreMaskedPasswords(arr(def["template"]), m[p], s[p])
			}
		}
	}
}

// mediatorHeartbeat is POST /mediators/:urn/heartbeat (§3).
func (c *Core) mediatorHeartbeat(x *apiCtx, urn string) {
	c.mu.Lock()
	m, ok := c.mediators[urn]
	if !ok {
		c.mu.Unlock()
		x.status(404)
		return
	}
	hb := obj(x.body)
	if hb == nil || hb["uptime"] == nil {
		c.mu.Unlock()
		x.status(400)
		return
	}
	now := c.now()
	send := hb["config"] == true
	if mod, ok := jsDateValue(m["_configModifiedTS"], time.UTC); ok {
		// `date > undefined` is false: a mediator that never beat gets
		// nothing here (§3 edge case).
		if last, ok := jsDateValue(m["_lastHeartbeat"], time.UTC); ok && mod.After(last) {
			send = true
		}
	}
	cfg, hasCfg := m["config"]
	cfg = clone(cfg)
	m["_lastHeartbeat"] = isoTime(now)
	m["_uptime"] = hb["uptime"]
	c.mu.Unlock()
	switch {
	case !send:
		x.text(200, "")
	case !hasCfg:
		// Koa writes the status text for an undefined body (§3).
		x.text(200, "OK")
	default:
		x.json(200, cfg)
	}
}

// setMediatorConfig is PUT /mediators/:urn/config (§2.4).
func (c *Core) setMediatorConfig(x *apiCtx, urn string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.mediators[urn]
	if !ok {
		x.text(404, "No mediator found for this urn.")
		return
	}
	cfg := clone(x.body)
	defs := arr(m["configDefs"])
	restoreMaskedPasswords(defs, cfg, m["config"])
	if err := validateConfig(defs, cfg); err != nil {
		var ve *validationError
		if errors.As(err, &ve) {
			x.text(400, ve.msg)
		} else {
			x.text(400, err.Error())
		}
		return
	}
	m["config"] = cfg
	m["_configModifiedTS"] = isoTime(c.now())
	x.status(200)
}

// loadDefaultChannels is POST /mediators/:urn/channels (§2.5): the channels
// are saved with the model only, bypassing the channel API's checks.
func (c *Core) loadDefaultChannels(x *apiCtx, urn string) {
	c.mu.Lock()
	m, ok := c.mediators[urn]
	if !ok {
		c.mu.Unlock()
		x.text(404, "No mediator found for this urn.")
		return
	}
	defaults := arr(clone(m["defaultChannelConfig"]))
	c.mu.Unlock()
	names := stringsOf(x.body)
	list, isList := x.body.([]any)
	var chosen []any
	switch {
	case !isList && x.body != nil:
		// Not an array (e.g. {} when the body was not sent as JSON):
		// channels.length is undefined, so core saves nothing yet says 201.
	case len(list) == 0:
		chosen = defaults
	default:
		for _, d := range defaults {
			if contains(names, str(obj(d)["name"])) {
				chosen = append(chosen, d)
			}
		}
		if len(chosen) < len(list) {
			x.text(400, fmt.Sprintf("Could not load mediator default channel config, one or more channels in the request body not found in the mediator config (urn: %s)", urn))
			return
		}
	}
	var firstErr error
	for _, d := range chosen {
		ch := obj(d)
		delete(ch, "_id")
		for _, r := range arr(ch["routes"]) {
			delete(obj(r), "_id")
		}
		ch["updatedBy"] = map[string]any{"id": x.user.email, "name": x.user.email}
		// Core saves them all at once (Q.all of saves) and answers with
		// the first rejection: every channel that can be saved is, even
		// when another one's name is taken.
		if _, err := c.saveChannel(ch, false); err != nil && firstErr == nil {
			firstErr = err
		}
		// loadDefaultChannels never calls the polling triggers: an installed
		// polling channel is only scheduled at the next core start.
	}
	if firstErr != nil {
		x.text(500, fmt.Sprintf("Could not load mediator default channel config (urn: %s): %v", urn, firstErr))
		return
	}
	x.status(201)
}

// ---- semver (semver.valid / semver.gt as used by core)

type semver struct {
	major, minor, patch uint64
	pre                 []string
}

func parseSemver(s string) (semver, bool) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "v")
	if s == "" {
		return semver{}, false
	}
	if i := strings.IndexByte(s, '+'); i >= 0 {
		build := s[i+1:]
		if !validIdents(build, false) {
			return semver{}, false
		}
		s = s[:i]
	}
	var pre []string
	if i := strings.IndexByte(s, '-'); i >= 0 {
		if !validIdents(s[i+1:], true) {
			return semver{}, false
		}
		pre = strings.Split(s[i+1:], ".")
		s = s[:i]
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return semver{}, false
	}
	var n [3]uint64
	for i, p := range parts {
		if p == "" || (len(p) > 1 && p[0] == '0') {
			return semver{}, false
		}
		v, err := strconv.ParseUint(p, 10, 53)
		if err != nil {
			return semver{}, false
		}
		n[i] = v
	}
	return semver{n[0], n[1], n[2], pre}, true
}

func validIdents(s string, noLeadingZero bool) bool {
	if s == "" {
		return false
	}
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return false
		}
		numeric := true
		for _, r := range id {
			switch {
			case r >= '0' && r <= '9':
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '-':
				numeric = false
			default:
				return false
			}
		}
		if noLeadingZero && numeric && len(id) > 1 && id[0] == '0' {
			return false
		}
	}
	return true
}

// compareSemver orders versions by SemVer 2.0 precedence.
func compareSemver(a, b semver) int {
	for _, d := range [][2]uint64{{a.major, b.major}, {a.minor, b.minor}, {a.patch, b.patch}} {
		if d[0] != d[1] {
			if d[0] < d[1] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a.pre) == 0 && len(b.pre) == 0:
		return 0
	case len(a.pre) == 0:
		return 1
	case len(b.pre) == 0:
		return -1
	}
	for i := 0; i < len(a.pre) && i < len(b.pre); i++ {
		x, y := a.pre[i], b.pre[i]
		xn, xerr := strconv.ParseUint(x, 10, 64)
		yn, yerr := strconv.ParseUint(y, 10, 64)
		switch {
		case xerr == nil && yerr == nil:
			if xn != yn {
				if xn < yn {
					return -1
				}
				return 1
			}
		case xerr == nil:
			return -1
		case yerr == nil:
			return 1
		default:
			if x != y {
				if x < y {
					return -1
				}
				return 1
			}
		}
	}
	switch {
	case len(a.pre) < len(b.pre):
		return -1
	case len(a.pre) > len(b.pre):
		return 1
	}
	return 0
}
