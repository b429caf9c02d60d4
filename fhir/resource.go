// Package fhir decodes, validates and builds FHIR R4 resources on top of
// github.com/samply/golang-fhir-models (v0.3.2), computes DHIS2 period ids
// and converts between FHIR resources and DHIS2 payloads (MeasureReport →
// dataValueSet, tracked entity → transaction Bundle, Patient → tracked entity).
//
// The package knows nothing about OpenHIM or JavaScript: the adaptor layer
// calls these pure functions. The generated models are convenient to read
// but lossy (they drop `contained`, `_field` primitive extensions and unknown
// elements, invent required enum values on zero structs and emit empty
// required-choice siblings such as `occurrenceString:""`), so a Resource keeps
// its raw JSON as the source of truth and uses the typed struct as a view.
package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
)

// Resource is one decoded FHIR resource.
//
// Raw is the canonical content: the input bytes without a BOM, compacted.
// Typed is a *models.X (golang-fhir-models) decoded from Raw; treat it as
// read-only unless you change it through Update, which merges the change
// back into Raw. MarshalJSON emits Raw, so elements the library cannot
// represent (contained resources, primitive extensions, unknown elements)
// survive a decode/encode cycle.
type Resource struct {
	Type  string
	ID    string
	Raw   json.RawMessage
	Typed any
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// StripBOM removes a leading UTF-8 byte order mark, which some servers and
// test fixtures emit and encoding/json rejects.
func StripBOM(b []byte) []byte { return bytes.TrimPrefix(b, utf8BOM) }

// Error is returned when input is not a decodable FHIR resource. Issues
// carries every problem found (at least one) as OperationOutcome issues.
type Error struct {
	Issues []Issue
}

func (e *Error) Error() string {
	if len(e.Issues) == 0 {
		return "fhir: invalid resource"
	}
	msg := "fhir: " + e.Issues[0].String()
	if n := len(e.Issues) - 1; n > 0 {
		msg += fmt.Sprintf(" (and %d more issue(s))", n)
	}
	return msg
}

// OperationOutcome returns the error as an R4 OperationOutcome.
func (e *Error) OperationOutcome() *OperationOutcome {
	return &OperationOutcome{Issue: append([]Issue(nil), e.Issues...)}
}

func issueErr(code, expr, format string, args ...any) *Error {
	return &Error{Issues: []Issue{newIssue(SeverityError, code, expr, fmt.Sprintf(format, args...))}}
}

// Decode parses one FHIR R4 resource in JSON. It strips a UTF-8 BOM, checks
// that the input is a JSON object with a string resourceType naming an R4
// resource, and unmarshals it into the golang-fhir-models type. Shapes the
// model cannot hold (an object where R4 has an array, an unknown required
// code, ...) fail with an *Error naming the element path. Decode does not
// run the full Validate; call (*Resource).Validate for that.
func Decode(b []byte) (*Resource, error) {
	b = StripBOM(b)
	var head struct {
		ResourceType json.RawMessage `json:"resourceType"`
		ID           json.RawMessage `json:"id"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field == "" {
			return nil, issueErr(IssueStructure, "", "expected a JSON object (a FHIR resource), got a JSON %s", ute.Value)
		}
		return nil, issueErr(IssueStructure, "", "invalid JSON: %v", err)
	}
	if len(head.ResourceType) == 0 || string(head.ResourceType) == "null" {
		return nil, issueErr(IssueRequired, "resourceType", "missing resourceType: a FHIR resource must name its type")
	}
	var rt string
	if err := json.Unmarshal(head.ResourceType, &rt); err != nil {
		return nil, issueErr(IssueStructure, "resourceType", "resourceType must be a string, got %s", jsonKindOfRaw(head.ResourceType))
	}
	if rt == "" {
		return nil, issueErr(IssueRequired, "resourceType", "missing resourceType (empty string): a FHIR resource must name its type")
	}
	newT, ok := resourceTypes[rt]
	if !ok {
		return nil, issueErr(IssueInvalid, "resourceType", "unknown resourceType %q: not an R4 resource type", rt)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, b); err != nil {
		return nil, issueErr(IssueStructure, "", "invalid JSON: %v", err)
	}
	typed := newT()
	if err := json.Unmarshal(compact.Bytes(), typed); err != nil {
		// The library's errors lack the element path (enum errors) or
		// use Go names; the structural walker finds and names it.
		if issues := structuralIssues(compact.Bytes()); len(issues) > 0 {
			return nil, &Error{Issues: issues}
		}
		return nil, issueErr(IssueStructure, rt, "cannot decode %s: %v", rt, err)
	}
	r := &Resource{Type: rt, Raw: compact.Bytes(), Typed: typed}
	if len(head.ID) > 0 {
		_ = json.Unmarshal(head.ID, &r.ID) // a non-string id is reported by Validate
	}
	return r, nil
}

// DecodeAs is Decode plus a check that the resource has the expected type,
// for callers that must not, say, treat an Observation as a Patient (the
// library's UnmarshalPatient would accept it silently).
func DecodeAs(b []byte, resourceType string) (*Resource, error) {
	r, err := Decode(b)
	if err != nil {
		return nil, err
	}
	if r.Type != resourceType {
		return nil, issueErr(IssueInvalid, "resourceType", "expected resourceType %q, got %q", resourceType, r.Type)
	}
	return r, nil
}

// structuralIssues returns the error-severity structure/value issues of b.
func structuralIssues(b []byte) []Issue {
	var out []Issue
	for _, is := range validateBytes(b).Issue {
		if is.Severity == SeverityError || is.Severity == SeverityFatal {
			out = append(out, is)
		}
	}
	return out
}

// MarshalJSON emits the raw JSON (after any Update). It never re-encodes the
// typed struct, so nothing the library drops is lost and no required enum
// is invented.
func (r *Resource) MarshalJSON() ([]byte, error) {
	if r == nil || len(r.Raw) == 0 {
		return []byte("null"), nil
	}
	return r.Raw, nil
}

// UnmarshalJSON lets a Resource be a field of a larger JSON document.
func (r *Resource) UnmarshalJSON(b []byte) error {
	d, err := Decode(b)
	if err != nil {
		return err
	}
	*r = *d
	return nil
}

// NewResource builds a Resource from a golang-fhir-models value (or any
// value whose JSON is a FHIR resource). The JSON is normalised: keys with
// empty strings, empty objects or empty arrays are removed because FHIR
// forbids them (this drops the library's `occurrenceString:""` artefact).
// Required enums must be set by the caller: a zero enum is indistinguishable
// from the first code.
func NewResource(v any) (*Resource, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("fhir: encode resource: %w", err)
	}
	var m any
	if err := unmarshalNumber(b, &m); err != nil {
		return nil, fmt.Errorf("fhir: encode resource: %w", err)
	}
	m = pruneEmpty(m)
	b, err = json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("fhir: encode resource: %w", err)
	}
	return Decode(b)
}

// As returns the typed view of r as *T, or an error naming both types.
func As[T any](r *Resource) (*T, error) {
	if r == nil {
		return nil, errors.New("fhir: nil resource")
	}
	t, ok := r.Typed.(*T)
	if !ok {
		var want T
		return nil, fmt.Errorf("fhir: resource is a %s, not a %s", r.Type, reflect.TypeOf(want).Name())
	}
	return t, nil
}

// Update lets fn change the typed struct and merges only what fn changed into
// Raw: the typed encoding before and after fn are diffed, and changed
// elements are written over the raw JSON (objects recursively, arrays and
// primitives as a whole); elements fn removed are deleted together with their
// `_element` sibling. Everything else in Raw – contained resources, primitive
// extensions, unknown elements, elements the library would invent – is kept
// as it was. Key order of the result is alphabetical.
func (r *Resource) Update(fn func(typed any) error) error {
	if r == nil || r.Typed == nil {
		return errors.New("fhir: Update on an empty resource")
	}
	before, err := encodeGeneric(r.Typed)
	if err != nil {
		return err
	}
	if err := fn(r.Typed); err != nil {
		return err
	}
	after, err := encodeGeneric(r.Typed)
	if err != nil {
		return err
	}
	var raw map[string]any
	if err := unmarshalNumber(r.Raw, &raw); err != nil {
		return fmt.Errorf("fhir: raw resource: %w", err)
	}
	merge3(raw, before, after)
	b, err := json.Marshal(raw)
	if err != nil {
		return fmt.Errorf("fhir: encode merged resource: %w", err)
	}
	d, err := Decode(b)
	if err != nil {
		return err
	}
	*r = *d
	return nil
}

func encodeGeneric(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("fhir: encode typed resource: %w", err)
	}
	var m map[string]any
	if err := unmarshalNumber(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// merge3 applies the difference before→after onto raw.
func merge3(raw, before, after map[string]any) {
	for k, av := range after {
		bv, had := before[k]
		if had && reflect.DeepEqual(av, bv) {
			continue
		}
		if isEmptyJSON(av) {
			delete(raw, k)
			continue
		}
		am, aok := av.(map[string]any)
		bm, bok := bv.(map[string]any)
		rm, rok := raw[k].(map[string]any)
		if aok && bok && rok {
			merge3(rm, bm, am)
			continue
		}
		raw[k] = av
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			delete(raw, k)
			delete(raw, "_"+k)
		}
	}
}

func isEmptyJSON(v any) bool {
	switch t := v.(type) {
	case string:
		return t == ""
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	case nil:
		return true
	}
	return false
}

// pruneEmpty removes empty strings, objects and arrays recursively.
func pruneEmpty(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			e = pruneEmpty(e)
			if isEmptyJSON(e) {
				delete(t, k)
			} else {
				t[k] = e
			}
		}
		return t
	case []any:
		out := t[:0]
		for _, e := range t {
			e = pruneEmpty(e)
			if !isEmptyJSON(e) {
				out = append(out, e)
			}
		}
		return out
	}
	return v
}

func unmarshalNumber(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data after JSON value")
	}
	return nil
}

// Normalize returns b (BOM stripped) re-encoded with sorted keys and no
// insignificant whitespace, numbers kept verbatim. Two semantically equal
// FHIR documents normalise to the same bytes; tests and golden files use it.
func Normalize(b []byte) ([]byte, error) {
	var v any
	if err := unmarshalNumber(StripBOM(b), &v); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func jsonKindOfRaw(b json.RawMessage) string {
	var v any
	if err := unmarshalNumber(b, &v); err != nil {
		return "invalid JSON"
	}
	return jsonKind(v)
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
