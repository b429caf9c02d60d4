// Package jsonvalue holds helpers for decoded JSON values (map[string]any,
// []any and scalars) shared by the config, the OpenHIM config store and the
// simulators.
package jsonvalue

// Clone returns a deep copy of a decoded JSON value, so a caller can change
// it without touching the original. Maps and slices are copied; scalars are
// immutable and returned as they are.
func Clone(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return CloneMap(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = Clone(e)
		}
		return out
	}
	return v
}

// CloneMap is Clone for an object; nil stays nil.
func CloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = Clone(v)
	}
	return out
}

// Truthy is JavaScript's truthiness of a decoded JSON (or YAML) value:
// false for null, false, "", 0 and NaN; true for anything else, objects
// and arrays included.
func Truthy(v any) bool {
	switch t := v.(type) {
	case nil:
		return false
	case bool:
		return t
	case string:
		return t != ""
	case float64:
		return t != 0 && t == t
	case int:
		return t != 0
	case int64:
		return t != 0
	}
	return true
}
