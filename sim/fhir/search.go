package fhir

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jobmediator/jobmediator/fhir"
)

type paramKind int

const (
	kID paramKind = iota
	kToken
	kString
	kDate
	kReference
	kURI
)

func (k paramKind) String() string {
	return [...]string{"token", "token", "string", "date", "reference", "uri"}[k]
}

// paramDef is one search parameter of one resource type: what it matches
// and the element paths it looks at.
type paramDef struct {
	name   string
	kind   paramKind
	paths  []string
	target string // for references: the only type the reference may name
}

// humanTypes have HumanName names, gender and birthDate.
var humanTypes = map[string]bool{"Patient": true, "Practitioner": true, "RelatedPerson": true, "Person": true}

// searchParamNames is the order the CapabilityStatement lists them in.
var searchParamNames = []string{
	"_id", "_lastUpdated", "_tag", "_profile", "identifier", "active", "status", "url",
	"name", "family", "given", "birthdate", "gender", "address", "address-city", "address-country",
	"subject", "patient", "encounter", "organization", "performer",
	"code", "vaccine-code", "category", "date", "authored", "period", "questionnaire", "measure",
}

// lookupParam returns the definition of name for typ, if the simulator
// supports it there (the elements it reads must exist on the type).
func lookupParam(typ, name string) (paramDef, bool) {
	d := paramDef{name: name}
	switch name {
	case "_id":
		d.kind = kID
		return d, true
	case "_lastUpdated":
		d.kind, d.paths = kDate, []string{"meta.lastUpdated"}
		return d, true
	case "_tag":
		d.kind, d.paths = kToken, []string{"meta.tag"}
		return d, true
	case "_profile":
		d.kind, d.paths = kURI, []string{"meta.profile"}
		return d, true
	case "identifier", "active", "status", "category":
		d.kind, d.paths = kToken, []string{name}
	case "code":
		d.kind, d.paths = kToken, []string{"code"}
	case "vaccine-code":
		d.kind, d.paths = kToken, []string{"vaccineCode"}
	case "url", "questionnaire", "measure":
		d.kind, d.paths = kURI, []string{name}
	case "name":
		d.kind = kString
		if humanTypes[typ] {
			d.paths = []string{"name.family", "name.given", "name.text", "name.prefix", "name.suffix"}
		} else {
			d.paths = []string{"name", "alias"}
		}
	case "family", "given":
		if !humanTypes[typ] {
			return d, false
		}
		d.kind, d.paths = kString, []string{"name." + name}
	case "birthdate", "gender":
		if !humanTypes[typ] {
			return d, false
		}
		d.kind, d.paths = kDate, []string{"birthDate"}
		if name == "gender" {
			d.kind, d.paths = kToken, []string{"gender"}
		}
	case "address":
		d.kind = kString
		d.paths = []string{"address.line", "address.city", "address.district", "address.state", "address.postalCode", "address.country", "address.text"}
	case "address-city", "address-country":
		d.kind, d.paths = kString, []string{"address." + strings.TrimPrefix(name, "address-")}
	case "subject":
		d.kind, d.paths = kReference, []string{"subject"}
	case "patient":
		if typ == "Patient" {
			return d, false
		}
		d.kind, d.paths, d.target = kReference, []string{"patient", "subject"}, "Patient"
	case "encounter":
		d.kind, d.paths, d.target = kReference, []string{"encounter", "context"}, "Encounter"
	case "organization":
		d.kind, d.paths, d.target = kReference, []string{"managingOrganization", "organization"}, "Organization"
	case "performer":
		d.kind, d.paths = kReference, []string{"performer"}
	case "date":
		d.kind = kDate
		switch typ {
		case "Observation":
			d.paths = []string{"effectiveDateTime", "effectivePeriod", "effectiveInstant"}
		case "Encounter", "EpisodeOfCare":
			d.paths = []string{"period"}
		case "Immunization":
			d.paths = []string{"occurrenceDateTime"}
		case "Procedure":
			d.paths = []string{"performedDateTime", "performedPeriod"}
		default:
			d.paths = []string{"date"}
		}
	case "authored":
		d.kind, d.paths = kDate, []string{"authored"}
	case "period":
		d.kind, d.paths = kDate, []string{"period"}
	default:
		return d, false
	}
	for _, p := range d.paths {
		if hasElement(typ, strings.Split(p, ".")[0]) {
			return d, true
		}
	}
	return d, false
}

var elementCache sync.Map // type name -> map[string]bool

// hasElement reports whether R4 typ has a top-level element name (read from
// the golang-fhir-models struct the fhir package decodes into).
func hasElement(typ, name string) bool {
	v, ok := elementCache.Load(typ)
	if !ok {
		set := map[string]bool{}
		if r, err := fhir.Decode([]byte(`{"resourceType":"` + typ + `"}`)); err == nil {
			t := reflect.TypeOf(r.Typed).Elem()
			for i := 0; i < t.NumField(); i++ {
				tag, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
				if tag != "" && tag != "-" {
					set[tag] = true
				}
			}
		}
		v, _ = elementCache.LoadOrStore(typ, set)
	}
	return v.(map[string]bool)[name]
}

// resultParams control the result, not the match.
var resultParams = map[string]bool{
	"_count": true, "_sort": true, "_summary": true, "_total": true, "_format": true, "_pretty": true,
	"_elements": true, "_include": true, "_revinclude": true, "_offset": true, "_contained": true,
	"_containedType": true,
}

type matcher func(e *entity) bool

// find returns the live resources of typ matching q, sorted per _sort, and
// warnings for ignored parameters. conditional (If-None-Exist, conditional
// update/delete) and strict (Prefer: handling=strict) searches reject
// unknown parameters instead: ignoring one there would widen the match.
func (s *Server) find(st *store, typ string, q url.Values, strict bool) ([]*entity, []fhir.Issue, *result) {
	var ms []matcher
	var warns []fhir.Issue
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, full := range names {
		base, mod, _ := strings.Cut(full, ":")
		if resultParams[base] {
			continue
		}
		def, ok := lookupParam(typ, base)
		if !ok {
			if strict {
				return nil, nil, failure(http.StatusBadRequest, codeNotSupported, "",
					"unknown search parameter %q for resource type %q", base, typ)
			}
			warns = append(warns, issue(fhir.SeverityWarning, codeNotSupported, "",
				fmt.Sprintf("unknown search parameter %q for resource type %q: ignored", base, typ)))
			continue
		}
		for _, val := range q[full] {
			m, err := s.compile(def, mod, val)
			if err != nil {
				return nil, nil, failure(http.StatusBadRequest, codeProcessing, "", "invalid search parameter %s=%s: %v", full, val, err)
			}
			ms = append(ms, m)
		}
	}
	var out []*entity
	for _, e := range st.live(typ) {
		ok := true
		for _, m := range ms {
			if !m(e) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, e)
		}
	}
	if srt := q.Get("_sort"); srt != "" {
		less, err := sortBy(srt)
		if err != nil {
			return nil, nil, failure(http.StatusBadRequest, codeProcessing, "", "%v", err)
		}
		sort.SliceStable(out, func(i, j int) bool { return less(out[i], out[j]) })
	}
	return out, warns, nil
}

func sortBy(spec string) (func(a, b *entity) bool, error) {
	var keys []func(a, b *entity) int
	for _, k := range strings.Split(spec, ",") {
		desc := strings.HasPrefix(k, "-")
		k = strings.TrimPrefix(k, "-")
		var cmp func(a, b *entity) int
		switch k {
		case "_lastUpdated":
			cmp = func(a, b *entity) int { return a.current().updated.Compare(b.current().updated) }
		case "_id":
			cmp = func(a, b *entity) int { return compareIDs(a.id, b.id) }
		default:
			return nil, fmt.Errorf("unsupported _sort parameter %q (supported: _lastUpdated, _id)", k)
		}
		if desc {
			asc := cmp
			cmp = func(a, b *entity) int { return -asc(a, b) }
		}
		keys = append(keys, cmp)
	}
	return func(a, b *entity) bool {
		for _, c := range keys {
			if r := c(a, b); r != 0 {
				return r < 0
			}
		}
		return false
	}, nil
}

// compareIDs orders numeric ids numerically, others as strings.
func compareIDs(a, b string) int {
	x, e1 := strconv.ParseInt(a, 10, 64)
	y, e2 := strconv.ParseInt(b, 10, 64)
	if e1 == nil && e2 == nil {
		return cmpInt(x, y)
	}
	return strings.Compare(a, b)
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// splitOr splits a parameter value on commas not escaped with a backslash.
func splitOr(v string) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(v); i++ {
		switch {
		case v[i] == '\\' && i+1 < len(v):
			i++
			cur.WriteByte(v[i])
		case v[i] == ',':
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(v[i])
		}
	}
	return append(out, cur.String())
}

// compile turns one parameter occurrence (values OR-ed) into a matcher.
func (s *Server) compile(def paramDef, mod, val string) (matcher, error) {
	if mod == "missing" {
		want := val == "true"
		if val != "true" && val != "false" {
			return nil, fmt.Errorf(":missing takes true or false")
		}
		return func(e *entity) bool { return (len(values(e, def.paths)) == 0) == want }, nil
	}
	var ors []func(e *entity) bool
	for _, v := range splitOr(val) {
		if v == "" {
			return nil, fmt.Errorf("empty value")
		}
		var f func(e *entity) bool
		var err error
		switch def.kind {
		case kID:
			if mod != "" {
				return nil, fmt.Errorf("modifier :%s is not supported on _id", mod)
			}
			id := v
			f = func(e *entity) bool { return e.id == id }
		case kToken:
			f, err = tokenMatcher(def, mod, v)
		case kString:
			f, err = stringMatcher(def, mod, v)
		case kURI:
			if mod != "" && mod != "below" {
				return nil, fmt.Errorf("modifier :%s is not supported on a uri parameter", mod)
			}
			below := mod == "below"
			f = func(e *entity) bool {
				for _, x := range values(e, def.paths) {
					if u, ok := x.(string); ok && (u == v || (below && strings.HasPrefix(u, v))) {
						return true
					}
				}
				return false
			}
		case kDate:
			if mod != "" {
				return nil, fmt.Errorf("modifier :%s is not supported on a date parameter", mod)
			}
			f, err = dateMatcher(def, v)
		case kReference:
			f, err = s.referenceMatcher(def, mod, v)
		}
		if err != nil {
			return nil, err
		}
		ors = append(ors, f)
	}
	m := func(e *entity) bool {
		for _, f := range ors {
			if f(e) {
				return true
			}
		}
		return false
	}
	if def.kind == kToken && mod == "not" {
		return func(e *entity) bool { return !m(e) }, nil
	}
	return m, nil
}

// values collects the values at the dotted paths, flattening arrays.
func values(e *entity, paths []string) []any {
	var out []any
	for _, p := range paths {
		collect(e.current().doc, strings.Split(p, "."), &out)
	}
	return out
}

func collect(v any, path []string, out *[]any) {
	switch t := v.(type) {
	case []any:
		for _, x := range t {
			collect(x, path, out)
		}
	case map[string]any:
		if len(path) == 0 {
			*out = append(*out, t)
			return
		}
		if x, ok := t[path[0]]; ok {
			collect(x, path[1:], out)
		}
	default:
		if len(path) == 0 && v != nil {
			*out = append(*out, v)
		}
	}
}

type code struct{ system, code string }

// tokens returns the (system, code) pairs an element holds: Identifier,
// CodeableConcept, Coding, code, boolean.
func tokens(v any) []code {
	switch t := v.(type) {
	case string:
		return []code{{"", t}}
	case bool:
		return []code{{"", strconv.FormatBool(t)}}
	case map[string]any:
		str := func(k string) string { s, _ := t[k].(string); return s }
		if cs, ok := t["coding"].([]any); ok {
			var out []code
			for _, c := range cs {
				out = append(out, tokens(c)...)
			}
			return out
		}
		if _, ok := t["value"]; ok {
			return []code{{str("system"), str("value")}}
		}
		if _, ok := t["code"]; ok {
			return []code{{str("system"), str("code")}}
		}
	}
	return nil
}

func tokenMatcher(def paramDef, mod, v string) (func(e *entity) bool, error) {
	switch mod {
	case "", "not":
	case "text":
		want := strings.ToLower(v)
		return func(e *entity) bool {
			for _, x := range values(e, def.paths) {
				m, _ := x.(map[string]any)
				texts := []any{m["text"]}
				if cs, ok := m["coding"].([]any); ok {
					for _, c := range cs {
						if cm, ok := c.(map[string]any); ok {
							texts = append(texts, cm["display"])
						}
					}
				}
				for _, t := range texts {
					if s, ok := t.(string); ok && strings.HasPrefix(strings.ToLower(s), want) {
						return true
					}
				}
			}
			return false
		}, nil
	default:
		return nil, fmt.Errorf("modifier :%s is not supported on a token parameter", mod)
	}
	sys, val, hasSys := strings.Cut(v, "|")
	if !hasSys {
		val, sys = sys, ""
	}
	return func(e *entity) bool {
		for _, x := range values(e, def.paths) {
			for _, c := range tokens(x) {
				if val != "" && c.code != val {
					continue
				}
				if !hasSys {
					return true
				}
				if sys == "" && c.system == "" {
					return true
				}
				if sys != "" && c.system == sys {
					return true
				}
				// Plain code elements (gender, status) carry no system: their
				// value set is implied, so a system in the query cannot
				// contradict them.
				if _, plain := x.(string); plain && val != "" {
					return true
				}
			}
		}
		return false
	}, nil
}

func stringMatcher(def paramDef, mod, v string) (func(e *entity) bool, error) {
	var match func(s string) bool
	switch mod {
	case "":
		want := strings.ToLower(v)
		match = func(s string) bool { return strings.HasPrefix(strings.ToLower(s), want) }
	case "exact":
		match = func(s string) bool { return s == v }
	case "contains":
		want := strings.ToLower(v)
		match = func(s string) bool { return strings.Contains(strings.ToLower(s), want) }
	default:
		return nil, fmt.Errorf("modifier :%s is not supported on a string parameter", mod)
	}
	return func(e *entity) bool {
		for _, x := range values(e, def.paths) {
			if s, ok := x.(string); ok && match(s) {
				return true
			}
		}
		return false
	}, nil
}

// normRef reduces a reference to "Type/id" (dropping a base URL and a
// version), or "" with ok=false when it is not a literal resource reference.
func (s *Server) normRef(r string) (typ, id string, ok bool) {
	r = strings.TrimPrefix(r, s.URL()+"/")
	if i := strings.Index(r, "/_history/"); i >= 0 {
		r = r[:i]
	}
	parts := strings.Split(r, "/")
	if len(parts) < 2 {
		return "", r, r != ""
	}
	typ, id = parts[len(parts)-2], parts[len(parts)-1]
	return typ, id, isResourceType(typ)
}

func (s *Server) referenceMatcher(def paramDef, mod, v string) (func(e *entity) bool, error) {
	wantType := def.target
	if mod != "" {
		if !isResourceType(mod) {
			return nil, fmt.Errorf("modifier :%s is not supported on a reference parameter", mod)
		}
		if wantType != "" && wantType != mod {
			return nil, fmt.Errorf("parameter %s only references %s", def.name, wantType)
		}
		wantType = mod
	}
	ptyp, pid, _ := s.normRef(v)
	if ptyp != "" {
		if wantType != "" && ptyp != wantType {
			return nil, fmt.Errorf("parameter %s only references %s", def.name, wantType)
		}
		wantType = ptyp
	}
	return func(e *entity) bool {
		for _, x := range values(e, def.paths) {
			m, _ := x.(map[string]any)
			r, _ := m["reference"].(string)
			t, id, ok := s.normRef(r)
			if !ok || t == "" || id != pid {
				continue
			}
			if wantType == "" || t == wantType {
				return true
			}
		}
		return false
	}, nil
}

// ---- dates ----

var (
	minTime = time.Unix(-1<<40, 0).UTC()
	maxTime = time.Unix(1<<40, 0).UTC()
)

// dateRange is the half-open interval [lo, hi) a FHIR date, dateTime or
// instant stands for at its precision ("2024" is all of 2024).
func dateRange(s string) (lo, hi time.Time, err error) {
	layouts := []struct {
		layout string
		step   func(time.Time) time.Time
	}{
		{"2006", func(t time.Time) time.Time { return t.AddDate(1, 0, 0) }},
		{"2006-01", func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }},
		{"2006-01-02", func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }},
		{"2006-01-02T15:04Z07:00", func(t time.Time) time.Time { return t.Add(time.Minute) }},
		{"2006-01-02T15:04:05Z07:00", func(t time.Time) time.Time { return t.Add(time.Second) }},
		{"2006-01-02T15:04:05.999999999Z07:00", func(t time.Time) time.Time { return t.Add(time.Millisecond) }},
		{"2006-01-02T15:04:05", func(t time.Time) time.Time { return t.Add(time.Second) }},
	}
	for _, l := range layouts {
		if strings.Contains(l.layout, ".") != strings.Contains(s, ".") {
			continue
		}
		if t, e := time.Parse(l.layout, s); e == nil {
			return t.UTC(), l.step(t).UTC(), nil
		}
	}
	return lo, hi, fmt.Errorf("invalid date %q", s)
}

// targetRange is the range of a date element or a Period.
func targetRange(v any) (lo, hi time.Time, ok bool) {
	switch t := v.(type) {
	case string:
		lo, hi, err := dateRange(t)
		return lo, hi, err == nil
	case map[string]any:
		s, hasS := t["start"].(string)
		e, hasE := t["end"].(string)
		if !hasS && !hasE {
			return lo, hi, false
		}
		lo, hi = minTime, maxTime
		if hasS {
			l, _, err := dateRange(s)
			if err != nil {
				return lo, hi, false
			}
			lo = l
		}
		if hasE {
			_, h, err := dateRange(e)
			if err != nil {
				return lo, hi, false
			}
			hi = h
		}
		return lo, hi, true
	}
	return lo, hi, false
}

func dateMatcher(def paramDef, v string) (func(e *entity) bool, error) {
	prefix := "eq"
	if len(v) >= 2 && v[0] >= 'a' && v[0] <= 'z' {
		prefix, v = v[:2], v[2:]
	}
	plo, phi, err := dateRange(v)
	if err != nil {
		return nil, err
	}
	var cmp func(lo, hi time.Time) bool
	eq := func(lo, hi time.Time) bool { return !lo.Before(plo) && !hi.After(phi) }
	gt := func(lo, hi time.Time) bool { return hi.After(phi) }
	lt := func(lo, hi time.Time) bool { return lo.Before(plo) }
	switch prefix {
	case "eq":
		cmp = eq
	case "ne":
		cmp = func(lo, hi time.Time) bool { return !eq(lo, hi) }
	case "gt":
		cmp = gt
	case "lt":
		cmp = lt
	case "ge":
		cmp = func(lo, hi time.Time) bool { return gt(lo, hi) || eq(lo, hi) }
	case "le":
		cmp = func(lo, hi time.Time) bool { return lt(lo, hi) || eq(lo, hi) }
	case "sa":
		cmp = func(lo, hi time.Time) bool { return !lo.Before(phi) }
	case "eb":
		cmp = func(lo, hi time.Time) bool { return !hi.After(plo) }
	case "ap":
		cmp = func(lo, hi time.Time) bool { return lo.Before(phi) && hi.After(plo) }
	default:
		return nil, fmt.Errorf("unknown date prefix %q", prefix)
	}
	return func(e *entity) bool {
		for _, x := range values(e, def.paths) {
			if lo, hi, ok := targetRange(x); ok && cmp(lo, hi) {
				return true
			}
		}
		return false
	}, nil
}

// ---- search results and paging ----

type hit struct {
	fullURL string
	raw     []byte
}

// savedSearch is a search result kept for paging, as HAPI caches it: later
// pages show the resources as they were when the search ran.
type savedSearch struct {
	id       string
	typ      string
	hits     []hit
	includes []string
	total    bool
	created  time.Time
}

const maxSavedSearches = 200

func (s *Server) search(st *store, typ string, q url.Values, strict bool) *result {
	matches, warns, fail := s.find(st, typ, q, strict)
	if fail != nil {
		return fail
	}
	count := s.opts.PageSize
	if c := q.Get("_count"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 0 {
			return failure(http.StatusBadRequest, codeProcessing, "", "invalid _count %q: must be a non-negative integer", c)
		}
		count = min(n, MaxPageSize)
	}
	offset := 0
	if o := q.Get("_offset"); o != "" {
		n, err := strconv.Atoi(o)
		if err != nil || n < 0 {
			return failure(http.StatusBadRequest, codeProcessing, "", "invalid _offset %q: must be a non-negative integer", o)
		}
		offset = n
	}
	total := q.Get("_total") != "none"
	// Self link: the parameters the server understood, as HAPI echoes them.
	self := url.Values{}
	for k, vs := range q {
		base, _, _ := strings.Cut(k, ":")
		if _, ok := lookupParam(typ, base); ok || resultParams[base] {
			self[k] = vs
		}
	}
	selfURL := s.URL() + "/" + typ
	if len(self) > 0 {
		selfURL += "?" + self.Encode()
	}
	if q.Get("_summary") == "count" || count == 0 {
		b := s.bundleHead(selfURL)
		b["total"] = len(matches)
		return &result{status: http.StatusOK, body: encodeResource(b)}
	}
	ss := &savedSearch{id: s.newUUID(), typ: typ, total: total, includes: q["_include"], created: s.opts.Now()}
	for _, e := range matches {
		ss.hits = append(ss.hits, hit{fullURL: s.URL() + "/" + e.ref(), raw: e.current().raw})
	}
	if offset+count < len(ss.hits) {
		s.saveSearch(ss)
	}
	b := s.page(st, ss, offset, count, selfURL)
	if len(warns) > 0 {
		oo := &fhir.OperationOutcome{Issue: warns}
		entries, _ := b["entry"].([]any)
		b["entry"] = append(entries, map[string]any{
			"resource": oo,
			"search":   map[string]any{"mode": "outcome"},
		})
	}
	return &result{status: http.StatusOK, body: encodeResource(b)}
}

func (s *Server) saveSearch(ss *savedSearch) {
	s.searches[ss.id] = ss
	s.saved = append(s.saved, ss.id)
	if len(s.saved) > maxSavedSearches {
		delete(s.searches, s.saved[0])
		s.saved = s.saved[1:]
	}
}

func (s *Server) bundleHead(self string) map[string]any {
	return map[string]any{
		"resourceType": "Bundle",
		"id":           s.newUUID(),
		"meta":         map[string]any{"lastUpdated": instant(s.opts.Now())},
		"type":         "searchset",
		"link":         []any{map[string]any{"relation": "self", "url": self}},
	}
}

func (s *Server) pageURL(id string, offset, count int) string {
	return fmt.Sprintf("%s?_getpages=%s&_getpagesoffset=%d&_count=%d&_bundletype=searchset", s.URL(), id, offset, count)
}

// page builds one searchset page of ss.
func (s *Server) page(st *store, ss *savedSearch, offset, count int, self string) map[string]any {
	b := s.bundleHead(self)
	if ss.total {
		b["total"] = len(ss.hits)
	}
	links := b["link"].([]any)
	if offset+count < len(ss.hits) {
		links = append(links, map[string]any{"relation": "next", "url": s.pageURL(ss.id, offset+count, count)})
	}
	if offset > 0 {
		links = append(links, map[string]any{"relation": "previous", "url": s.pageURL(ss.id, max(0, offset-count), count)})
	}
	b["link"] = links
	var entries []any
	end := min(offset+count, len(ss.hits))
	var page []hit
	if offset < end {
		page = ss.hits[offset:end]
	}
	for _, h := range page {
		entries = append(entries, map[string]any{
			"fullUrl":  h.fullURL,
			"resource": rawJSON(h.raw),
			"search":   map[string]any{"mode": "match"},
		})
	}
	for _, h := range s.includes(st, ss, page) {
		entries = append(entries, map[string]any{
			"fullUrl":  h.fullURL,
			"resource": rawJSON(h.raw),
			"search":   map[string]any{"mode": "include"},
		})
	}
	if len(entries) > 0 {
		b["entry"] = entries
	}
	return b
}

// includes resolves _include=Type:param for the resources of one page.
func (s *Server) includes(st *store, ss *savedSearch, page []hit) []hit {
	var out []hit
	seen := map[string]bool{}
	for _, h := range page {
		seen[h.fullURL] = true
	}
	for _, inc := range ss.includes {
		parts := strings.Split(inc, ":")
		if len(parts) < 2 || parts[0] != ss.typ {
			continue
		}
		def, ok := lookupParam(ss.typ, parts[1])
		if !ok || def.kind != kReference {
			continue
		}
		for _, h := range page {
			doc, err := parseJSON(h.raw)
			if err != nil {
				continue
			}
			var refs []any
			for _, p := range def.paths {
				collect(doc, strings.Split(p, "."), &refs)
			}
			for _, r := range refs {
				m, _ := r.(map[string]any)
				ref, _ := m["reference"].(string)
				t, id, ok := s.normRef(ref)
				if !ok || (len(parts) == 3 && parts[2] != t) {
					continue
				}
				e := st.get(t, id)
				full := s.URL() + "/" + t + "/" + id
				if e.live() && !seen[full] {
					seen[full] = true
					out = append(out, hit{fullURL: full, raw: e.current().raw})
				}
			}
		}
	}
	return out
}

// getPages answers a followed next/previous link.
func (s *Server) getPages(st *store, q url.Values) *result {
	id := q.Get("_getpages")
	ss := s.searches[id]
	if ss == nil {
		return failure(http.StatusGone, codeNotFound, "", "search id %q does not exist and may have expired", id)
	}
	offset, err1 := strconv.Atoi(q.Get("_getpagesoffset"))
	count, err2 := strconv.Atoi(q.Get("_count"))
	if err1 != nil || err2 != nil || offset < 0 || count <= 0 {
		return failure(http.StatusBadRequest, codeProcessing, "", "invalid paging parameters _getpagesoffset=%q _count=%q",
			q.Get("_getpagesoffset"), q.Get("_count"))
	}
	count = min(count, MaxPageSize)
	b := s.page(st, ss, offset, count, s.pageURL(id, offset, count))
	return &result{status: http.StatusOK, body: encodeResource(b)}
}
