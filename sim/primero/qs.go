package primero

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// parseQS decodes a query string the way Rack does for a Rails app: bracket
// keys build nested objects ("scope[or][x]=1" → {"scope":{"or":{"x":"1"}}}),
// "[]" appends to an array, and numeric segments ("ids[0]=a&ids[1]=b", the
// qs module's default "indices" format that the primero adaptor sends) build
// arrays in index order. Values are percent-decoded ('+' is a space).
//
// A key that is used both as a scalar and as a container ("a=1&a[b]=2") is a
// client bug; Rack answers 400 for it and so does the simulator.
func parseQS(raw string) (map[string]any, error) {
	root := map[string]any{}
	if raw == "" {
		return root, nil
	}
	for _, pair := range strings.Split(raw, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, fmt.Errorf("invalid %%-encoding in query key %q", k)
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("invalid %%-encoding in query value for %q", key)
		}
		segs, err := splitKey(key)
		if err != nil {
			return nil, err
		}
		if err := assign(root, segs, val, key); err != nil {
			return nil, err
		}
	}
	return finishArrays(root).(map[string]any), nil
}

// splitKey turns "scope[or][x][]" into ["scope","or","x",""].
func splitKey(key string) ([]string, error) {
	i := strings.IndexByte(key, '[')
	if i < 0 {
		return []string{key}, nil
	}
	if i == 0 {
		return nil, fmt.Errorf("query key %q has no name before '['", key)
	}
	segs := []string{key[:i]}
	rest := key[i:]
	for rest != "" {
		if rest[0] != '[' {
			return nil, fmt.Errorf("malformed query key %q", key)
		}
		j := strings.IndexByte(rest, ']')
		if j < 0 {
			return nil, fmt.Errorf("unbalanced brackets in query key %q", key)
		}
		segs = append(segs, rest[1:j])
		rest = rest[j+1:]
	}
	return segs, nil
}

// indexed collects "a[3]=x" entries until every key is read, so that arrays
// come out in index order whatever order the pairs arrived in.
type indexed map[int]any

// appended is an array built with "[]".
type appended []any

func assign(node map[string]any, segs []string, val, full string) error {
	name := segs[0]
	if len(segs) == 1 {
		if _, isContainer := node[name].(map[string]any); isContainer {
			return fmt.Errorf("query key %q is used both as a value and as a nested object", full)
		}
		node[name] = val
		return nil
	}
	next := segs[1]
	switch {
	case next == "":
		cur, ok := node[name]
		if !ok {
			cur = appended{}
		}
		arr, ok := cur.(appended)
		if !ok {
			return fmt.Errorf("query key %q mixes array and non-array forms", full)
		}
		if len(segs) > 2 {
			child := map[string]any{}
			if err := assign(child, segs[2:], val, full); err != nil {
				return err
			}
			node[name] = append(arr, child)
			return nil
		}
		node[name] = append(arr, val)
		return nil
	case isIndex(next):
		idx, _ := strconv.Atoi(next)
		cur, ok := node[name]
		if !ok {
			cur = indexed{}
		}
		arr, ok := cur.(indexed)
		if !ok {
			return fmt.Errorf("query key %q mixes array and non-array forms", full)
		}
		node[name] = arr
		if len(segs) > 2 {
			child, _ := arr[idx].(map[string]any)
			if child == nil {
				child = map[string]any{}
			}
			arr[idx] = child
			return assign(child, segs[2:], val, full)
		}
		arr[idx] = val
		return nil
	default:
		cur, ok := node[name]
		if !ok {
			cur = map[string]any{}
			node[name] = cur
		}
		child, ok := cur.(map[string]any)
		if !ok {
			return fmt.Errorf("query key %q is used both as a value and as a nested object", full)
		}
		return assign(child, segs[1:], val, full)
	}
}

func isIndex(s string) bool {
	if s == "" || len(s) > 6 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func finishArrays(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, c := range t {
			t[k] = finishArrays(c)
		}
		return t
	case appended:
		out := make([]any, len(t))
		for i, c := range t {
			out[i] = finishArrays(c)
		}
		return out
	case indexed:
		keys := make([]int, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Ints(keys)
		out := make([]any, 0, len(keys))
		for _, k := range keys {
			out = append(out, finishArrays(t[k]))
		}
		return out
	}
	return v
}
