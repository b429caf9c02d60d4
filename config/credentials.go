package config

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"

	"github.com/jobmediator/jobmediator/internal/jsonvalue"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/spec"
)

// Credentials is the credential map a job's `state.configuration` comes
// from: `{<credential key>: {field: value, …}}`, as the OpenFn CLI's
// --credentials file. Lightning exports only credential names, so values
// live in a file beside the deployment (--credentials / JM_CREDENTIALS) and
// in the OpenHIM console, whose values win (Merge).
//
// A Credentials value is immutable: Get returns copies and Merge returns a
// new value, so one can be shared by concurrent runs.
type Credentials struct {
	m map[string]map[string]any
	// lines holds each key's line in the file it was loaded from.
	lines map[string]int
}

// NewCredentials wraps a map (copied).
func NewCredentials(m map[string]map[string]any) Credentials {
	c := Credentials{m: make(map[string]map[string]any, len(m))}
	for k, v := range m {
		c.m[k] = jsonvalue.CloneMap(v)
	}
	return c
}

// LoadCredentials reads a YAML or JSON credentials map. Errors name the
// file, line and credential key, never a value.
func LoadCredentials(path string) (Credentials, error) {
	root, _, err := parseFile(path)
	if err != nil {
		var ves ValidationErrors
		if errors.As(err, &ves) {
			return Credentials{}, ves
		}
		if errors.Is(err, os.ErrNotExist) {
			return Credentials{}, ValidationErrors{{File: path, Message: "credentials file not found", Fix: "check --credentials (JM_CREDENTIALS)"}}
		}
		return Credentials{}, ValidationErrors{{File: path, Message: "cannot read credentials file", Fix: "check the file's permissions"}}
	}
	col := &collector{file: path}
	pairs, _ := col.mapping(root, "")
	out := Credentials{m: map[string]map[string]any{}, lines: map[string]int{}}
	for _, kv := range pairs {
		out.lines[kv.Key] = kv.Line
		if isNull(kv.Val) {
			out.m[kv.Key] = map[string]any{}
			continue
		}
		// c.object reports the kind found, never the value.
		if obj, ok := col.object(kv.Val, kv.Key); ok {
			out.m[kv.Key] = obj
		}
	}
	if len(col.errs) > 0 {
		for i := range col.errs {
			col.errs[i].Fix = "write each credential as `key: {field: value, …}`"
		}
		return Credentials{}, col.errs
	}
	return out, nil
}

// Get returns a copy of the credential's fields.
func (c Credentials) Get(key string) (map[string]any, bool) {
	v, ok := c.m[key]
	if !ok {
		return nil, false
	}
	return jsonvalue.CloneMap(v), true
}

// Line is the line of key in the file the credentials were loaded from, 0
// when unknown.
func (c Credentials) Line(key string) int { return c.lines[key] }

// Keys lists the credential keys, sorted.
func (c Credentials) Keys() []string {
	out := make([]string, 0, len(c.m))
	for k := range c.m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Len is the number of credentials.
func (c Credentials) Len() int { return len(c.m) }

// Merge returns new Credentials where overrides (e.g. password configDefs
// set in the OpenHIM console) win field by field. Empty or nil override
// values are ignored: an unset console field must not blank a file value.
func (c Credentials) Merge(overrides map[string]map[string]any) Credentials {
	out := NewCredentials(c.m)
	for key, fields := range overrides {
		dst := out.m[key]
		if dst == nil {
			dst = map[string]any{}
		}
		for f, v := range fields {
			if v == nil {
				continue
			}
			if s, ok := v.(string); ok && s == "" {
				continue
			}
			dst[f] = jsonvalue.Clone(v)
		}
		out.m[key] = dst
	}
	return out
}

// SecretValues lists the values of secret fields in every credential, at
// any depth, sorted and without duplicates: what the redactor must scrub.
// A field is secret when an adaptor declares it so (package spec, e.g.
// postgresql's TLS key), when its name looks sensitive (password, token,
// …, by internal/redact's key rules), or when it is one of extraKeys.
func (c Credentials) SecretValues(extraKeys ...string) []string {
	r := redact.New(append(spec.SecretFieldNames(), extraKeys...)...)
	seen := map[string]bool{}
	for _, fields := range c.m {
		for _, v := range r.SecretsIn(fields) {
			seen[v] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// String never prints values.
func (c Credentials) String() string {
	return fmt.Sprintf("Credentials%v", c.Keys())
}

// Map copies the credentials into the plain map Merge takes.
func (c Credentials) Map() map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, k := range c.Keys() {
		v, _ := c.Get(k)
		out[k] = v
	}
	return out
}
