package fhir

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	models "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// Issue severities and the R4 IssueType codes this package emits.
const (
	SeverityFatal       = "fatal"
	SeverityError       = "error"
	SeverityWarning     = "warning"
	SeverityInformation = "information"

	IssueStructure     = "structure"
	IssueRequired      = "required"
	IssueValue         = "value"
	IssueInvalid       = "invalid"
	IssueInvariant     = "invariant"
	IssueInformational = "informational"
)

// Issue is one R4 OperationOutcome.issue.
type Issue struct {
	Severity    string                  `json:"severity"`
	Code        string                  `json:"code"`
	Details     *models.CodeableConcept `json:"details,omitempty"`
	Diagnostics string                  `json:"diagnostics,omitempty"`
	Expression  []string                `json:"expression,omitempty"`
}

func newIssue(severity, code, expr, diag string) Issue {
	is := Issue{Severity: severity, Code: code, Diagnostics: diag}
	if expr != "" {
		is.Expression = []string{expr}
	}
	return is
}

func (i Issue) String() string {
	if len(i.Expression) > 0 {
		return i.Expression[0] + ": " + i.Diagnostics
	}
	return i.Diagnostics
}

// OperationOutcome is an R4 OperationOutcome; it always encodes with
// "resourceType":"OperationOutcome" and at least one issue (R4 requires
// 1..*: an outcome without problems carries one informational issue).
type OperationOutcome struct {
	ID    string
	Issue []Issue
}

type ooWire struct {
	ResourceType string  `json:"resourceType"`
	ID           string  `json:"id,omitempty"`
	Issue        []Issue `json:"issue"`
}

// MarshalJSON encodes per R4.
func (o *OperationOutcome) MarshalJSON() ([]byte, error) {
	issues := o.Issue
	if len(issues) == 0 {
		issues = []Issue{newIssue(SeverityInformation, IssueInformational, "", "no issues detected")}
	}
	return json.Marshal(ooWire{ResourceType: "OperationOutcome", ID: o.ID, Issue: issues})
}

// UnmarshalJSON decodes an R4 OperationOutcome and rejects other resources.
func (o *OperationOutcome) UnmarshalJSON(b []byte) error {
	var w ooWire
	if err := json.Unmarshal(StripBOM(b), &w); err != nil {
		return fmt.Errorf("fhir: OperationOutcome: %w", err)
	}
	if w.ResourceType != "OperationOutcome" {
		return fmt.Errorf("fhir: expected resourceType \"OperationOutcome\", got %q", w.ResourceType)
	}
	o.ID, o.Issue = w.ID, w.Issue
	return nil
}

// HasErrors reports whether any issue is an error or fatal.
func (o *OperationOutcome) HasErrors() bool {
	for _, i := range o.Issue {
		if i.Severity == SeverityError || i.Severity == SeverityFatal {
			return true
		}
	}
	return false
}

// Err returns nil when there are no errors, else an *Error with the error
// and fatal issues.
func (o *OperationOutcome) Err() error {
	var errs []Issue
	for _, i := range o.Issue {
		if i.Severity == SeverityError || i.Severity == SeverityFatal {
			errs = append(errs, i)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &Error{Issues: errs}
}

// Validate checks raw bytes and returns an OperationOutcome with every issue
// found (no early exit). See (*Resource).Validate for the rules.
func Validate(b []byte) *OperationOutcome { return validateBytes(StripBOM(b)) }

// Validate runs the minimal R4 validation on the resource's raw JSON:
//   - JSON syntax; resourceType present and an R4 type (also for contained
//     and Bundle entry resources);
//   - every element known to the R4 definition of its type (unknown elements
//     are errors: strict servers reject them, lenient ones drop them), with
//     the JSON kind the definition requires (array vs object, string, number,
//     boolean), no null, "", [] or {};
//   - required codes belong to their value set; decimals are JSON numbers
//     with at most 18 significant digits (the XML Schema minimum FHIR relies
//     on, beyond which servers and DHIS2 lose precision); integers fit int32;
//     date, dateTime and instant elements match R4's formats and exist on the
//     calendar;
//   - required (1..1) elements present, including required choices, and at
//     most one member of a choice[x];
//   - extra rules for the types we convert: MeasureReport.period.start/end,
//     Bundle transaction/batch entries need request.method/url, response
//     bundles need entry.response, Bundle.entry.fullUrl unique.
func (r *Resource) Validate() []Issue { return validateBytes(r.Raw).Issue }

func validateBytes(b []byte) *OperationOutcome {
	var v any
	if err := unmarshalNumber(b, &v); err != nil {
		return &OperationOutcome{Issue: []Issue{newIssue(SeverityFatal, IssueStructure, "", "invalid JSON: "+err.Error())}}
	}
	w := &walker{}
	obj, ok := v.(map[string]any)
	if !ok {
		w.add(SeverityFatal, IssueStructure, "", "expected a JSON object (a FHIR resource), got a JSON %s", jsonKind(v))
	} else {
		w.resource(obj, "")
	}
	return &OperationOutcome{Issue: w.issues}
}

type walker struct{ issues []Issue }

func (w *walker) add(sev, code, expr, format string, args ...any) {
	w.issues = append(w.issues, newIssue(sev, code, expr, fmt.Sprintf(format, args...)))
}

// resource validates a resource object; prefix is the path of the element
// holding it ("" at the root, where the path starts with the type name).
func (w *walker) resource(obj map[string]any, prefix string) {
	rtv, present := obj["resourceType"]
	rtPath := join(prefix, "resourceType")
	if !present {
		w.add(SeverityError, IssueRequired, rtPath, "missing resourceType: a FHIR resource must name its type")
		return
	}
	rt, ok := rtv.(string)
	if ok && rt == "" {
		w.add(SeverityError, IssueRequired, rtPath, "missing resourceType (empty string): a FHIR resource must name its type")
		return
	}
	if !ok {
		w.add(SeverityError, IssueStructure, rtPath, "resourceType must be a string, got %s", jsonKind(rtv))
		return
	}
	newT, ok := resourceTypes[rt]
	if !ok {
		w.add(SeverityError, IssueInvalid, rtPath, "unknown resourceType %q: not an R4 resource type", rt)
		return
	}
	path := prefix
	if path == "" {
		path = rt
	}
	t := reflect.TypeOf(newT()).Elem()
	w.object(obj, t, path, true)
	switch rt {
	case "Bundle":
		w.bundleRules(obj, path)
	case "MeasureReport":
		w.measureReportRules(obj, path)
	}
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

type fieldInfo struct {
	name     string
	typ      reflect.Type
	required bool
	choice   string // base name when the element is a member of a choice[x]
}

type typeInfo struct {
	fields  map[string]*fieldInfo
	ordered []*fieldInfo
	// choices maps a choice base to its members and whether one is required.
	choices map[string]*choiceInfo
}

type choiceInfo struct {
	members  []string
	required bool
}

var typeCache sync.Map // reflect.Type -> *typeInfo

// choiceSuffixes are the R4 data type names that form choice[x] element
// names, longest first so "DateTime" wins over "Time".
var choiceSuffixes = func() []string {
	s := strings.Fields(`Base64Binary CodeableConcept ContactDetail ContactPoint Contributor DataRequirement
		DateTime Expression HumanName ParameterDefinition RelatedArtifact SampledData TriggerDefinition
		UsageContext UnsignedInt PositiveInt Annotation Attachment Canonical Identifier Markdown Quantity
		Reference Signature Duration Distance Address Boolean Decimal Instant Integer Dosage Coding Period
		String Timing Money Range Ratio Count Date Time Code Meta Uuid Age Oid Uri Url Id`)
	sort.SliceStable(s, func(i, j int) bool { return len(s[i]) > len(s[j]) })
	return s
}()

func choiceBase(name string) string {
	for _, suf := range choiceSuffixes {
		if len(name) > len(suf) && strings.HasSuffix(name, suf) {
			return name[:len(name)-len(suf)]
		}
	}
	return ""
}

func infoOf(t reflect.Type) *typeInfo {
	if v, ok := typeCache.Load(t); ok {
		return v.(*typeInfo)
	}
	ti := &typeInfo{fields: map[string]*fieldInfo{}, choices: map[string]*choiceInfo{}}
	bases := map[string][]*fieldInfo{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "" || tag == "-" {
			continue
		}
		parts := strings.Split(tag, ",")
		fi := &fieldInfo{name: parts[0], typ: f.Type, required: true}
		for _, p := range parts[1:] {
			if p == "omitempty" {
				fi.required = false
			}
		}
		ti.fields[fi.name] = fi
		ti.ordered = append(ti.ordered, fi)
		if b := choiceBase(fi.name); b != "" {
			bases[b] = append(bases[b], fi)
		}
	}
	for b, fs := range bases {
		if len(fs) < 2 {
			continue
		}
		ci := &choiceInfo{}
		for _, f := range fs {
			f.choice = b
			ci.members = append(ci.members, f.name)
			if f.required {
				ci.required = true
			}
		}
		sort.Strings(ci.members)
		ti.choices[b] = ci
	}
	typeCache.Store(t, ti)
	return ti
}

var (
	rawMessageType = reflect.TypeOf(json.RawMessage(nil))
	numberType     = reflect.TypeOf(json.Number(""))
	coderType      = reflect.TypeOf((*interface{ Code() string })(nil)).Elem()
	periodType     = reflect.TypeOf(models.Period{})
	extensionType  = reflect.TypeOf(models.Extension{})
)

// isDomainResource: every DomainResource has `text`; Bundle, Binary and
// Parameters (plain Resources) do not, and cannot have `contained`.
func isDomainResource(ti *typeInfo) bool { _, ok := ti.fields["text"]; return ok }

func (w *walker) object(obj map[string]any, t reflect.Type, path string, isResource bool) {
	ti := infoOf(t)
	for _, k := range sortedKeys(obj) {
		val := obj[k]
		p := join(path, k)
		if isResource && k == "resourceType" {
			continue
		}
		if isResource && k == "contained" && isDomainResource(ti) {
			arr, ok := val.([]any)
			if !ok {
				w.add(SeverityError, IssueStructure, p, "expected array, got %s", jsonKind(val))
				continue
			}
			for i, e := range arr {
				ep := fmt.Sprintf("%s[%d]", p, i)
				if m, ok := e.(map[string]any); ok {
					w.resource(m, ep)
				} else {
					w.add(SeverityError, IssueStructure, ep, "expected a resource object, got %s", jsonKind(e))
				}
			}
			continue
		}
		if strings.HasPrefix(k, "_") && len(k) > 1 {
			w.primitiveExtension(obj, k, ti, path)
			continue
		}
		fi, ok := ti.fields[k]
		if !ok {
			w.add(SeverityError, IssueStructure, p, "unknown element %q for %s", k, fhirTypeName(t))
			continue
		}
		w.value(val, fi.typ, p, k, t)
	}
	for _, fi := range ti.ordered {
		if fi.required && fi.choice == "" {
			if _, ok := obj[fi.name]; !ok {
				w.add(SeverityError, IssueRequired, join(path, fi.name), "missing required element %q", fi.name)
			}
		}
	}
	for base, ci := range ti.choices {
		var present []string
		for _, m := range ci.members {
			if _, ok := obj[m]; ok {
				present = append(present, m)
			}
		}
		if len(present) > 1 {
			w.add(SeverityError, IssueStructure, join(path, present[1]), "only one of %s[x] may be present, found %s", base, strings.Join(present, ", "))
		}
		if ci.required && len(present) == 0 {
			w.add(SeverityError, IssueRequired, join(path, base+"[x]"), "missing required element %s[x] (one of %s)", base, strings.Join(ci.members, ", "))
		}
	}
}

func fhirTypeName(t reflect.Type) string { return t.Name() }

// primitiveExtension checks `_name`: name must be a primitive element; the
// value is an Element (id, extension) or, for repeating primitives, an
// array of Element-or-null parallel to the values.
func (w *walker) primitiveExtension(obj map[string]any, k string, ti *typeInfo, path string) {
	p := join(path, k)
	base := k[1:]
	fi, ok := ti.fields[base]
	if !ok || !isPrimitive(fi.typ) {
		w.add(SeverityError, IssueStructure, p, "unknown element %q: %q is not a primitive element", k, base)
		return
	}
	check := func(e any, ep string) {
		m, ok := e.(map[string]any)
		if !ok {
			w.add(SeverityError, IssueStructure, ep, "expected object (id, extension), got %s", jsonKind(e))
			return
		}
		for _, key := range sortedKeys(m) {
			switch key {
			case "id":
				w.value(m[key], reflect.TypeOf(""), join(ep, key), key, nil)
			case "extension":
				w.value(m[key], reflect.SliceOf(extensionType), join(ep, key), key, nil)
			default:
				w.add(SeverityError, IssueStructure, join(ep, key), "unknown element %q in primitive extension", key)
			}
		}
	}
	if fi.typ.Kind() == reflect.Slice {
		arr, ok := obj[k].([]any)
		if !ok {
			w.add(SeverityError, IssueStructure, p, "expected array, got %s", jsonKind(obj[k]))
			return
		}
		if vals, ok := obj[base].([]any); ok && len(vals) != len(arr) {
			// R4 wants parallel arrays padded with null; common examples
			// omit the padding and servers accept them.
			w.add(SeverityWarning, IssueStructure, p, "array length %d differs from %s length %d", len(arr), base, len(vals))
		}
		for i, e := range arr {
			if e != nil {
				check(e, fmt.Sprintf("%s[%d]", p, i))
			}
		}
		return
	}
	check(obj[k], p)
}

func isPrimitive(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer || (t.Kind() == reflect.Slice && t != rawMessageType) {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int64, reflect.Int32:
		return true
	}
	return t == numberType
}

func (w *walker) value(val any, t reflect.Type, path, name string, parent reflect.Type) {
	if val == nil {
		w.add(SeverityError, IssueStructure, path, "null is not allowed in FHIR JSON; omit the element")
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessageType {
		m, ok := val.(map[string]any)
		if !ok {
			w.add(SeverityError, IssueStructure, path, "expected a resource object, got %s", jsonKind(val))
			return
		}
		w.resource(m, path)
		return
	}
	if t.Kind() == reflect.Slice {
		arr, ok := val.([]any)
		if !ok {
			w.add(SeverityError, IssueStructure, path, "expected array, got %s (element repeats in R4)", jsonKind(val))
			return
		}
		if len(arr) == 0 {
			w.add(SeverityError, IssueStructure, path, "empty array is not allowed; omit the element")
			return
		}
		for i, e := range arr {
			w.value(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), name, parent)
		}
		return
	}
	if _, isArr := val.([]any); isArr {
		w.add(SeverityError, IssueStructure, path, "expected %s, got array (element does not repeat in R4)", expectedKind(t))
		return
	}
	switch {
	case t == numberType:
		w.decimal(val, path)
	case t.Implements(coderType) && t.Kind() != reflect.Struct:
		s, ok := val.(string)
		if !ok {
			w.add(SeverityError, IssueStructure, path, "expected code string, got %s", jsonKind(val))
			return
		}
		q, _ := json.Marshal(s)
		if err := json.Unmarshal(q, reflect.New(t).Interface()); err != nil {
			w.add(SeverityError, IssueValue, path, "%v", err)
		}
	case t.Kind() == reflect.String:
		s, ok := val.(string)
		if !ok {
			w.add(SeverityError, IssueStructure, path, "expected string, got %s", jsonKind(val))
			return
		}
		if strings.TrimSpace(s) == "" {
			w.add(SeverityError, IssueValue, path, "empty or blank string is not allowed; omit the element")
			return
		}
		w.temporal(s, path, name, parent)
	case t.Kind() == reflect.Bool:
		if _, ok := val.(bool); !ok {
			w.add(SeverityError, IssueStructure, path, "expected boolean, got %s", jsonKind(val))
		}
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int64 || t.Kind() == reflect.Int32:
		n, ok := val.(json.Number)
		if !ok {
			w.add(SeverityError, IssueStructure, path, "expected integer number, got %s", jsonKind(val))
			return
		}
		if _, err := strconv.ParseInt(string(n), 10, 32); err != nil {
			w.add(SeverityError, IssueValue, path, "invalid integer %s: must be a whole number within 32 bits", n)
		}
	case t.Kind() == reflect.Struct:
		m, ok := val.(map[string]any)
		if !ok {
			w.add(SeverityError, IssueStructure, path, "expected object, got %s", jsonKind(val))
			return
		}
		if len(m) == 0 {
			w.add(SeverityError, IssueStructure, path, "empty object is not allowed; omit the element")
			return
		}
		w.object(m, t, path, false)
	}
}

func expectedKind(t reflect.Type) string {
	switch {
	case t == numberType:
		return "number"
	case t.Kind() == reflect.Struct:
		return "object"
	case t.Kind() == reflect.Bool:
		return "boolean"
	case t.Kind() == reflect.Int:
		return "integer"
	}
	return "string"
}

var decimalRe = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// MaxDecimalDigits is the most significant digits a decimal may carry.
const MaxDecimalDigits = 18

func (w *walker) decimal(val any, path string) {
	n, ok := val.(json.Number)
	if !ok {
		w.add(SeverityError, IssueStructure, path, "expected decimal number, got %s (decimals must not be quoted)", jsonKind(val))
		return
	}
	if err := checkDecimal(string(n)); err != nil {
		w.add(SeverityError, IssueValue, path, "%v", err)
	}
}

// checkDecimal enforces the R4 decimal lexical form and MaxDecimalDigits.
func checkDecimal(s string) error {
	if !decimalRe.MatchString(s) {
		return fmt.Errorf("invalid decimal %q", s)
	}
	mant := s
	if i := strings.IndexAny(mant, "eE"); i >= 0 {
		mant = mant[:i]
	}
	digits := strings.TrimLeft(strings.NewReplacer("-", "", ".", "").Replace(mant), "0")
	if len(digits) > MaxDecimalDigits {
		return fmt.Errorf("decimal %s has %d significant digits, more than the %d that can be stored without loss", s, len(digits), MaxDecimalDigits)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("decimal %s is out of range", s)
	}
	_ = f
	return nil
}

var (
	dateRe     = regexp.MustCompile(`^([0-9]{4})(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?)?$`)
	dateTimeRe = regexp.MustCompile(`^([0-9]{4})(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?$`)
	instantRe  = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00))$`)
)

// temporalKind says whether an element holds a date, dateTime or instant.
// golang-fhir-models types them all as string, so the element name decides
// (R4 names choice members by type; the rest are the common names below).
func temporalKind(name string, parent reflect.Type) string {
	switch {
	case name == "birthDate" || (strings.HasSuffix(name, "Date") && name != "Date"):
		return "date"
	case strings.HasSuffix(name, "Instant"), name == "issued", name == "lastUpdated", name == "timestamp":
		return "instant"
	case strings.HasSuffix(name, "DateTime"), name == "date", name == "authored", name == "recorded":
		return "dateTime"
	case parent == periodType && (name == "start" || name == "end"):
		return "dateTime"
	}
	return ""
}

func (w *walker) temporal(s, path, name string, parent reflect.Type) {
	kind := temporalKind(name, parent)
	if kind == "" {
		return
	}
	if err := checkTemporal(kind, s); err != nil {
		w.add(SeverityError, IssueValue, path, "%v", err)
	}
}

func checkTemporal(kind, s string) error {
	var re *regexp.Regexp
	switch kind {
	case "date":
		re = dateRe
	case "dateTime":
		re = dateTimeRe
	case "instant":
		re = instantRe
	}
	if !re.MatchString(s) {
		hint := ""
		if kind != "date" && strings.Contains(s, "T") {
			hint = " (a time needs seconds and a time zone)"
		}
		return fmt.Errorf("invalid %s %q%s", kind, s, hint)
	}
	// The regexps accept 2023-02-30; the calendar must too.
	if len(s) >= 10 {
		if _, err := time.Parse("2006-01-02", s[:10]); err != nil {
			return fmt.Errorf("invalid %s %q: no such calendar day", kind, s)
		}
	}
	return nil
}

// bundleRules: Bundle.type-specific entry requirements and fullUrl uniqueness.
func (w *walker) bundleRules(obj map[string]any, path string) {
	typ, _ := obj["type"].(string)
	entries, _ := obj["entry"].([]any)
	seen := map[string]int{}
	for i, e := range entries {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		ep := fmt.Sprintf("%s.entry[%d]", path, i)
		switch typ {
		case "transaction", "batch":
			if _, ok := m["request"]; !ok {
				w.add(SeverityError, IssueRequired, ep+".request", "a %s entry needs request (method and url)", typ)
			}
		case "transaction-response", "batch-response":
			if _, ok := m["response"]; !ok {
				w.add(SeverityError, IssueRequired, ep+".response", "a %s entry needs response", typ)
			}
		}
		if fu, ok := m["fullUrl"].(string); ok && fu != "" {
			if j, dup := seen[fu]; dup {
				// A transaction may touch a resource once (servers answer
				// 400); elsewhere R4 bdl-7 is commonly tolerated.
				sev := SeverityWarning
				if typ == "transaction" {
					sev = SeverityError
				}
				w.add(sev, IssueInvalid, ep+".fullUrl", "fullUrl %q duplicates entry[%d]", fu, j)
			} else {
				seen[fu] = i
			}
		}
	}
}

// measureReportRules: a DHIS2 period needs both bounds, in order.
func (w *walker) measureReportRules(obj map[string]any, path string) {
	per, ok := obj["period"].(map[string]any)
	if !ok {
		return // missing or mistyped period is already reported
	}
	start, sok := per["start"].(string)
	end, eok := per["end"].(string)
	if _, present := per["start"]; !present {
		w.add(SeverityError, IssueRequired, path+".period.start", "MeasureReport.period needs a start")
	}
	if _, present := per["end"]; !present {
		w.add(SeverityError, IssueRequired, path+".period.end", "MeasureReport.period needs an end")
	}
	if sok && eok && checkTemporal("dateTime", start) == nil && checkTemporal("dateTime", end) == nil {
		sd, err1 := fhirDate(start, false)
		ed, err2 := fhirDate(end, true)
		if err1 == nil && err2 == nil && ed.Before(sd) {
			w.add(SeverityError, IssueInvariant, path+".period", "period.end %s is before period.start %s", end, start)
		}
	}
}
