package webhook

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// matchesCriteria applies an OpenFn v1 criteria trigger to a message the
// way OpenFn.org did: the message body must contain the criteria document
// (PostgreSQL `body @> criteria`: nested objects are matched key by key,
// every criteria array element must be contained in some body element).
func matchesCriteria(criteria string, input json.RawMessage) (bool, error) {
	var want any
	if err := json.Unmarshal([]byte(criteria), &want); err != nil {
		return false, fmt.Errorf("trigger criteria is not JSON: %v", err)
	}
	var state struct {
		Data any `json:"data"`
	}
	if err := json.Unmarshal(input, &state); err != nil {
		return false, err
	}
	return contains(state.Data, want), nil
}

func contains(have, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			hv, ok := h[k]
			if !ok || !contains(hv, wv) {
				return false
			}
		}
		return true
	case []any:
		h, ok := have.([]any)
		if !ok {
			return false
		}
		for _, wv := range w {
			found := false
			for _, hv := range h {
				if contains(hv, wv) {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(normalizeNumber(have), normalizeNumber(want))
	}
}

// normalizeNumber makes 1 and 1.0 (and json.Number) compare equal.
func normalizeNumber(v any) any {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		if err == nil {
			return f
		}
	case int:
		return float64(n)
	}
	return v
}
