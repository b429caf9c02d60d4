package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// All files (YAML and JSON alike) are read through yaml.v3's node tree: JSON
// is YAML, and the tree keeps the line of every key, which is what makes
// `file:line` error messages possible for workflow.json too.

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// parseFile reads a YAML or JSON document and returns its root node (the
// document's content, aliases not yet resolved). Syntax errors become one
// ValidationError with the line yaml.v3 reports.
func parseFile(path string) (*yaml.Node, []byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	root, perr := parseBytes(path, raw)
	return root, raw, perr
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// backtickRE finds yaml.v3's quoted snippets of the input, which could be a
// secret from a credentials file; they are dropped from messages.
var backtickRE = regexp.MustCompile("`[^`]*`")

func parseBytes(path string, raw []byte) (*yaml.Node, error) {
	raw = bytes.TrimPrefix(raw, utf8BOM)
	// YAML would accept JSON with trailing commas or comments; a .json
	// file must be JSON, as the OpenFn CLI parses it with JSON.parse.
	if strings.HasSuffix(strings.ToLower(path), ".json") && !json.Valid(raw) {
		var v any
		jerr := json.Unmarshal(raw, &v)
		line := 0
		if se, ok := jerr.(*json.SyntaxError); ok {
			line = 1 + bytes.Count(raw[:min(int(se.Offset), len(raw))], []byte("\n"))
		}
		return nil, ValidationErrors{{File: path, Line: line, Message: "cannot parse: invalid JSON: " + jerr.Error(), Fix: "fix the syntax at that line"}}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		msg := backtickRE.ReplaceAllString(err.Error(), "a value")
		line := 0
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		} else {
			msg = strings.TrimPrefix(msg, "yaml: ")
		}
		return nil, ValidationErrors{{File: path, Line: line, Message: "cannot parse: " + msg, Fix: "fix the syntax at that line"}}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, ValidationErrors{{File: path, Message: "file is empty", Fix: "write the project (or options) into it, or remove it"}}
	}
	return doc.Content[0], nil
}

// deref follows YAML aliases.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// pair is one key/value of a mapping, in file order.
type pair struct {
	Key  string
	Line int
	Val  *yaml.Node
}

// mapping returns the pairs of a mapping node, reporting a non-mapping value
// and duplicate keys (yaml.v3 does not when parsing into a node). A null
// value is an empty mapping.
func (c *collector) mapping(n *yaml.Node, field string) ([]pair, bool) {
	n = deref(n)
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.MappingNode {
		c.add(n.Line, field, "want a mapping of key: value, got "+kindName(n), "write it as `key: value` lines (or {…} in JSON)")
		return nil, false
	}
	seen := map[string]int{}
	out := make([]pair, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := deref(n.Content[i])
		if k.Kind == yaml.ScalarNode && (k.Tag == "!!merge" || k.Value == "<<") {
			// YAML merge key: splice the merged mapping's pairs.
			merged, _ := c.mapping(n.Content[i+1], field)
			out = append(out, merged...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			c.add(k.Line, field, "a key must be a plain string", "quote the key")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			c.add(k.Line, join(field, k.Value), fmt.Sprintf("duplicate key (first defined at line %d)", first), "remove or rename one of them")
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, pair{Key: k.Value, Line: k.Line, Val: n.Content[i+1]})
	}
	return out, true
}

func kindName(n *yaml.Node) string {
	n = deref(n)
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "null"
		case "!!bool":
			return "a boolean"
		case "!!int", "!!float":
			return "a number"
		}
		return "a string"
	}
	return "an unexpected node"
}

// str reads a scalar as a string ("" for null). Numbers and booleans are
// accepted as their text, as YAML users write `name: 2024` unquoted.
func (c *collector) str(n *yaml.Node, field string) (string, bool) {
	n = deref(n)
	if isNull(n) {
		return "", true
	}
	if n.Kind != yaml.ScalarNode {
		c.add(n.Line, field, "want a string, got "+kindName(n), "write a single value")
		return "", false
	}
	return n.Value, true
}

// boolean reads true/false (and the spellings parseBool accepts); null
// yields def.
func (c *collector) boolean(n *yaml.Node, field string, def bool) bool {
	n = deref(n)
	if isNull(n) {
		return def
	}
	if n.Kind == yaml.ScalarNode {
		if b, err := parseBool(n.Value); err == nil {
			return b
		}
	}
	c.add(n.Line, field, "want true or false, got "+kindName(n), "write true or false")
	return def
}

// strList reads a list of strings; a single string is a one-element list.
func (c *collector) strList(n *yaml.Node, field string) []string {
	n = deref(n)
	if isNull(n) {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	if n.Kind != yaml.SequenceNode {
		c.add(n.Line, field, "want a list of strings, got "+kindName(n), "write [A, B]")
		return nil
	}
	var out []string
	for i, e := range n.Content {
		if s, ok := c.str(e, fmt.Sprintf("%s[%d]", field, i)); ok {
			out = append(out, s)
		}
	}
	return out
}

// value converts a node into plain Go values (map[string]any, []any, string,
// int, float64, bool, nil) for configuration and state objects.
func (c *collector) value(n *yaml.Node, field string) any {
	n = deref(n)
	if isNull(n) {
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		pairs, _ := c.mapping(n, field)
		m := make(map[string]any, len(pairs))
		for _, p := range pairs {
			m[p.Key] = c.value(p.Val, join(field, p.Key))
		}
		return m
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for i, e := range n.Content {
			s = append(s, c.value(e, fmt.Sprintf("%s[%d]", field, i)))
		}
		return s
	}
	var v any
	if err := n.Decode(&v); err != nil {
		// The message could quote the value; keep only its position.
		c.add(n.Line, field, "cannot read this value", "write a plain string, number or boolean")
		return nil
	}
	return v
}

// object reads a mapping as map[string]any.
func (c *collector) object(n *yaml.Node, field string) (map[string]any, bool) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		c.add(n.Line, field, "want an object, got "+kindName(n), "write {field: value, …}")
		return nil, false
	}
	m, _ := c.value(n, field).(map[string]any)
	return m, true
}

// join builds a dotted field path.
func join(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

// keys lists the keys of a node for format detection (no errors).
func hasKey(n *yaml.Node, key string) (*yaml.Node, bool) {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1], true
		}
	}
	return nil, false
}

// checkKeys reports keys outside known. Unknown keys in OpenFn files are
// warnings (OpenFn may add fields; the file must load unedited), in our own
// files they are errors.
func (c *collector) checkKeys(pairs []pair, field string, known []string, asError bool) {
	for _, p := range pairs {
		if contains(known, p.Key) {
			continue
		}
		fix := unknownKeyFix(p.Key, known)
		if asError {
			c.add(p.Line, join(field, p.Key), "unknown key", fix)
		} else {
			c.warn(p.Line, join(field, p.Key), "unknown key, ignored", fix)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
