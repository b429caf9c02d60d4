package primero

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Filters of GET /api/v2/cases.
//
// Primero v2 style (every top-level parameter that is not reserved):
//
//	field=value          equality; against an array field, membership
//	field=a,b            any of the values
//	field[]=a&field[]=b  any of the values
//	field=true|false     boolean (also matches the strings "true"/"false")
//	field=from..to       inclusive range of dates/times or numbers; either end
//	                     may be empty (open range, the Cambodia cursor form
//	                     "2025-01-01T00:00:00Z.."); a bare date as the upper
//	                     end covers that whole day
//
// Primero v1 style, as the deprecated Cambodia jobs send it through qs:
//
//	scope[field]=list||a,b
//	scope[field]=date_range||28-04-2022.01-01-4020   (dd-mm-yyyy [HH:MM])
//	scope[field]=range||1.5 | range||*.*             (*.* = has any value)
//	scope[or][f1]=or_op||…&scope[or][f2]=…           any of the group
//	scope[or][field][]=a                             list membership
//
// Derived fields usable in filters: service_response_types (the
// service_response_type of every services_section element),
// transitions_created_at and transitions_changed_at (latest referral).
var reserved = map[string]bool{
	"page": true, "per": true, "order_by": true, "order": true, "fields": true,
	"remote": true, "locale": true, "id_search": true, "query": true, "scope": true,
}

type cond func(rec map[string]any) bool

type filters struct{ all []cond }

func (f filters) match(rec map[string]any) bool {
	for _, c := range f.all {
		if !c(rec) {
			return false
		}
	}
	return true
}

func compileFilters(params map[string]any) (filters, error) {
	var f filters
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := params[k]
		switch {
		case k == "scope":
			sc, ok := v.(map[string]any)
			if !ok {
				return f, fmt.Errorf("scope must be a nested object (scope[field]=…), got %v", v)
			}
			conds, err := compileScope(sc)
			if err != nil {
				return f, err
			}
			f.all = append(f.all, conds...)
		case k == "query":
			q, _ := v.(string)
			f.all = append(f.all, textQuery(q))
		case reserved[k]:
		default:
			c, err := compileV2(k, v)
			if err != nil {
				return f, err
			}
			f.all = append(f.all, c)
		}
	}
	return f, nil
}

// textQuery searches the identifiers and names, case-insensitively.
func textQuery(q string) cond {
	q = strings.ToLower(strings.TrimSpace(q))
	return func(rec map[string]any) bool {
		if q == "" {
			return true
		}
		for _, k := range []string{"name", "case_id", "case_id_display", "short_id", "oscar_number", "mosvy_number"} {
			if v, _ := rec[k].(string); strings.Contains(strings.ToLower(v), q) {
				return true
			}
		}
		return false
	}
}

func compileV2(field string, v any) (cond, error) {
	switch t := v.(type) {
	case []any:
		return anyOf(field, t)
	case map[string]any:
		return nil, fmt.Errorf("filter %s: nested objects are only valid under scope", field)
	case string:
		if from, to, ok := strings.Cut(t, ".."); ok {
			return rangeCond(field, from, to)
		}
		if strings.Contains(t, ",") {
			parts := strings.Split(t, ",")
			vals := make([]any, len(parts))
			for i, p := range parts {
				vals[i] = p
			}
			return anyOf(field, vals)
		}
		return eqCond(field, t), nil
	}
	return nil, fmt.Errorf("filter %s: unsupported value %v", field, v)
}

func anyOf(field string, vals []any) (cond, error) {
	var strs []string
	for _, x := range vals {
		s, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("filter %s: list values must be scalars", field)
		}
		strs = append(strs, s)
	}
	return func(rec map[string]any) bool {
		for _, s := range strs {
			if valueEquals(rec[field], s) {
				return true
			}
		}
		return false
	}, nil
}

func eqCond(field, want string) cond {
	return func(rec map[string]any) bool { return valueEquals(rec[field], want) }
}

// valueEquals compares a stored value with a query string; arrays match if
// any element does.
func valueEquals(v any, want string) bool {
	switch t := v.(type) {
	case nil:
		return false
	case string:
		return t == want
	case bool:
		return strconv.FormatBool(t) == want
	case int64:
		return strconv.FormatInt(t, 10) == want
	case float64:
		f, err := strconv.ParseFloat(want, 64)
		return err == nil && f == t
	case []any:
		for _, e := range t {
			if valueEquals(e, want) {
				return true
			}
		}
	}
	return false
}

// rangeCond builds an inclusive range over times (when the bounds parse as
// dates) or numbers.
func rangeCond(field, from, to string) (cond, error) {
	if from == "" && to == "" {
		return nil, fmt.Errorf("filter %s: empty range '..'", field)
	}
	ft, ferr := parseBound(from, false)
	tt, terr := parseBound(to, true)
	if ferr == nil && terr == nil {
		return func(rec map[string]any) bool {
			s, ok := rec[field].(string)
			if !ok {
				return false
			}
			t, err := parseTime(s)
			if err != nil {
				return false
			}
			if !ft.IsZero() && t.Before(ft) {
				return false
			}
			if !tt.IsZero() && !t.Before(tt) {
				return false
			}
			return true
		}, nil
	}
	lo, lerr := parseNum(from)
	hi, herr := parseNum(to)
	if lerr != nil || herr != nil {
		return nil, fmt.Errorf("filter %s: invalid range %q (want dates/times or numbers around '..')", field, from+".."+to)
	}
	return func(rec map[string]any) bool {
		var n float64
		switch t := rec[field].(type) {
		case int64:
			n = float64(t)
		case float64:
			n = t
		default:
			return false
		}
		return (lo == nil || n >= *lo) && (hi == nil || n <= *hi)
	}, nil
}

// parseBound parses one end of a time range; an empty end is unbounded
// (zero time). The upper bound is returned exclusive: a bare date becomes
// the start of the next day, a timestamp one nanosecond later.
func parseBound(s string, upper bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := parseTime(s)
	if err != nil {
		return t, err
	}
	if !upper {
		return t, nil
	}
	if isDateOnly(s) {
		return t.AddDate(0, 0, 1), nil
	}
	return t.Add(time.Nanosecond), nil
}

func isDateOnly(s string) bool {
	s = strings.TrimSpace(s)
	return len(s) == 10 && !strings.ContainsAny(s, "T :")
}

func parseNum(s string) (*float64, error) {
	if s == "" || s == "*" {
		return nil, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, err
	}
	return &f, nil
}

// ---- legacy v1 scope ----

func compileScope(sc map[string]any) ([]cond, error) {
	var out []cond
	keys := make([]string, 0, len(sc))
	for k := range sc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := sc[k]
		if k == "or" {
			group, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("scope[or] must be a nested object")
			}
			inner, err := compileScope(group)
			if err != nil {
				return nil, err
			}
			out = append(out, func(rec map[string]any) bool {
				for _, c := range inner {
					if c(rec) {
						return true
					}
				}
				return len(inner) == 0
			})
			continue
		}
		c, err := compileScopeCond(k, v)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func compileScopeCond(field string, v any) (cond, error) {
	switch t := v.(type) {
	case []any:
		return anyOf(field, t)
	case map[string]any:
		return nil, fmt.Errorf("scope[%s]: unexpected nested object", field)
	case string:
		spec := strings.TrimPrefix(t, "or_op||")
		kind, val, ok := strings.Cut(spec, "||")
		if !ok {
			return eqCond(field, spec), nil
		}
		switch kind {
		case "list":
			parts := strings.Split(val, ",")
			vals := make([]any, len(parts))
			for i, p := range parts {
				vals[i] = p
			}
			return anyOf(field, vals)
		case "date_range":
			from, to, ok := strings.Cut(val, ".")
			if !ok {
				return nil, fmt.Errorf("scope[%s]: date_range needs from.to, got %q", field, val)
			}
			if _, err := parseBound(from, false); err != nil {
				return nil, fmt.Errorf("scope[%s]: invalid date %q (want dd-mm-yyyy [HH:MM])", field, from)
			}
			if _, err := parseBound(to, true); err != nil {
				return nil, fmt.Errorf("scope[%s]: invalid date %q (want dd-mm-yyyy [HH:MM])", field, to)
			}
			return rangeCond(field, from, to)
		case "range":
			if val == "*.*" {
				return func(rec map[string]any) bool {
					x := rec[field]
					return x != nil && x != ""
				}, nil
			}
			lo, hi, ok := strings.Cut(val, ".")
			if !ok {
				return nil, fmt.Errorf("scope[%s]: range needs lo.hi, got %q", field, val)
			}
			return rangeCond(field, lo, hi)
		default:
			return nil, fmt.Errorf("scope[%s]: unknown filter type %q (want list, date_range or range)", field, kind)
		}
	}
	return nil, fmt.Errorf("scope[%s]: unsupported value", field)
}
