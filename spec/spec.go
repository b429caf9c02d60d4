// Package spec declares, once, the fields of each component a user
// configures: the credential fields every adaptor reads from
// state.configuration. Each adaptor package declares its Credential in
// spec.go and registers it; `jobmediator check`, the OpenHIM config
// definitions, redaction and the reference docs (docs/reference-*.md) all
// read these declarations instead of keeping lists of their own (as
// redpanda-data/connect's component specs do).
//
// The package is on the ground floor: it imports nothing of Job Mediator's,
// so config, mediator and the adaptors can all use it.
package spec

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Type is the kind of value a field holds, as a job sees it.
type Type string

// Field types. The adaptors coerce as OpenFn's do: a number or bool field
// also accepts its text form ("5432", "true").
const (
	String Type = "string"
	Number Type = "number"
	Bool   Type = "bool"
	// Text is a long string, e.g. a PEM certificate (a textarea in the
	// OpenHIM console).
	Text Type = "text"
	// Object is a nested object (JSON text in the OpenHIM console).
	Object Type = "object"
)

// Field is one credential field.
type Field struct {
	Name string
	Type Type
	// Required: the adaptor cannot work without it.
	Required bool
	// Secret: its value is masked everywhere (logs, history, answers) and
	// offered as a password in the OpenHIM console.
	Secret bool
	Doc    string
	// Default is what the adaptor assumes when the field is absent, as
	// documented ("" for none).
	Default string
	// Aliases are other names the adaptor reads for the same field (e.g.
	// dhis2's legacy apiUrl for hostUrl).
	Aliases []string
}

// Credential is what an adaptor reads from state.configuration.
type Credential struct {
	// Adaptor is the short name (the NAME of @openfn/language-NAME).
	Adaptor string
	Doc     string
	Fields  []Field
	// AnyOf lists alternative groups of fields of which at least one must
	// be complete, e.g. dhis2's {pat} or {username, password}. Empty: no
	// such rule.
	AnyOf [][]string
	// Open: the adaptor reads no field itself, so no field is unknown.
	Open bool
}

// Field returns the field called name (or aliased so).
func (c Credential) Field(name string) (Field, bool) {
	for _, f := range c.Fields {
		if f.Name == name {
			return f, true
		}
		for _, a := range f.Aliases {
			if a == name {
				return f, true
			}
		}
	}
	return Field{}, false
}

// Names lists the field names, aliases included, in declaration order.
func (c Credential) Names() []string {
	var out []string
	for _, f := range c.Fields {
		out = append(out, f.Name)
		out = append(out, f.Aliases...)
	}
	return out
}

var (
	mu    sync.RWMutex
	creds = map[string]Credential{}
)

// Register adds an adaptor's credential declaration. It panics on a
// duplicate or a malformed declaration: a programming error caught at
// start-up.
func Register(c Credential) {
	if err := c.validate(); err != nil {
		panic("spec: " + err.Error())
	}
	mu.Lock()
	defer mu.Unlock()
	if _, dup := creds[c.Adaptor]; dup {
		panic("spec: duplicate credential spec for " + c.Adaptor)
	}
	creds[c.Adaptor] = c
}

func (c Credential) validate() error {
	if c.Adaptor == "" {
		return fmt.Errorf("a credential spec needs Adaptor")
	}
	seen := map[string]bool{}
	for _, f := range c.Fields {
		switch f.Type {
		case String, Number, Bool, Text, Object:
		default:
			return fmt.Errorf("%s.%s: unknown type %q", c.Adaptor, f.Name, f.Type)
		}
		if f.Doc == "" {
			return fmt.Errorf("%s.%s: no Doc", c.Adaptor, f.Name)
		}
		for _, n := range append([]string{f.Name}, f.Aliases...) {
			if n == "" || seen[n] {
				return fmt.Errorf("%s: field name %q empty or declared twice", c.Adaptor, n)
			}
			seen[n] = true
		}
	}
	for _, g := range c.AnyOf {
		for _, n := range g {
			if !seen[n] {
				return fmt.Errorf("%s: AnyOf names undeclared field %q", c.Adaptor, n)
			}
		}
	}
	return nil
}

// Lookup returns the credential declaration of an adaptor by short name.
func Lookup(adaptor string) (Credential, bool) {
	mu.RLock()
	defer mu.RUnlock()
	c, ok := creds[adaptor]
	return c, ok
}

// All lists every registered declaration, sorted by adaptor.
func All() []Credential {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]Credential, 0, len(creds))
	for _, c := range creds {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Adaptor < out[j].Adaptor })
	return out
}

// SecretFieldNames lists every field name (and alias) any adaptor declares
// secret, sorted: values under them in a credential are secrets.
func SecretFieldNames() []string {
	set := map[string]bool{}
	for _, c := range All() {
		for _, f := range c.Fields {
			if f.Secret {
				set[f.Name] = true
				for _, a := range f.Aliases {
					set[a] = true
				}
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// TypeError says why v cannot be the value of a field of type t (as the
// adaptors coerce), or "" when it can. It never quotes the value.
func TypeError(t Type, v any) string {
	switch v.(type) {
	case nil:
		return ""
	case map[string]any:
		if t == Object {
			return ""
		}
		return "is an object, want a " + string(t)
	case []any:
		return "is a list, want a " + string(t)
	}
	if t == Object {
		return "want an object"
	}
	switch t {
	case Number:
		switch x := v.(type) {
		case int, int64, float64, int32, uint, uint64:
			return ""
		case string:
			if _, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil || strings.TrimSpace(x) == "" {
				return ""
			}
			return "is text that is not a number"
		}
		return "want a number"
	case Bool:
		switch x := v.(type) {
		case bool, int, int64, float64:
			return "" // JavaScript truthiness, as the adaptors read it
		case string:
			switch strings.TrimSpace(x) {
			case "true", "false", "1", "0", "":
				return ""
			}
			return "is text other than true or false"
		}
		return "want true or false"
	}
	return ""
}
