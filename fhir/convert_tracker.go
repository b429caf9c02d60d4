package fhir

import (
	"crypto/sha1" //nolint:gosec // G505: name-based UUIDs (RFC 4122 version 5) are defined on SHA-1; no security depends on them
	"crypto/sha256"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Default identifier systems for DHIS2 UIDs carried into FHIR.
const (
	DefaultTrackedEntitySystem = "https://dhis2.org/trackedentity"
	DefaultEnrollmentSystem    = "https://dhis2.org/enrollment"
	DefaultEventSystem         = "https://dhis2.org/event"
	DefaultDataValueSystem     = "https://dhis2.org/event-datavalue"
	DefaultOrgUnitSystem       = "https://dhis2.org/orgunit"
)

// Coding is a code with its system (and optional display).
type Coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

func (c Coding) fhir() map[string]any {
	m := map[string]any{"code": c.Code}
	if c.System != "" {
		m["system"] = c.System
	}
	if c.Display != "" {
		m["display"] = c.Display
	}
	return m
}

// AttributeTarget says where a tracked entity attribute goes on a Patient.
// Element is one of: identifier (System required), name.family,
// name.given, gender, birthDate, telecom.phone, telecom.email,
// address.line, address.city, address.district, address.state,
// address.postalCode, address.country.
type AttributeTarget struct {
	Element string `json:"element"`
	System  string `json:"system,omitempty"`
}

// DataElementTarget is the Observation a tracker data element becomes.
// ValueType is the DHIS2 valueType (NUMBER, INTEGER, INTEGER_POSITIVE,
// INTEGER_ZERO_OR_POSITIVE, INTEGER_NEGATIVE, PERCENTAGE, TEXT, LONG_TEXT,
// BOOLEAN, TRUE_ONLY, DATE, DATETIME); OptionSystem, when set, makes the
// value a valueCodeableConcept with that system. Unit (UCUM) applies to
// NUMBER/PERCENTAGE quantities.
type DataElementTarget struct {
	Coding
	ValueType    string `json:"valueType"`
	Unit         string `json:"unit,omitempty"`
	OptionSystem string `json:"optionSystem,omitempty"`
}

// TrackerMapping configures TrackedEntityToBundle.
type TrackerMapping struct {
	// Identifier systems of DHIS2 UIDs; defaults are the Default*System consts.
	TrackedEntitySystem string `json:"trackedEntitySystem,omitempty"`
	EnrollmentSystem    string `json:"enrollmentSystem,omitempty"`
	EventSystem         string `json:"eventSystem,omitempty"`
	DataValueSystem     string `json:"dataValueSystem,omitempty"`
	// OrgUnitSystem is the Organization identifier system holding org unit
	// uids (managingOrganization/serviceProvider are identifier references).
	OrgUnitSystem string                       `json:"orgUnitSystem,omitempty"`
	Attributes    map[string]AttributeTarget   `json:"attributes"`   // attribute uid → Patient element
	DataElements  map[string]DataElementTarget `json:"dataElements"` // data element uid → Observation
	// GenderCodes maps the sex attribute's option codes to FHIR gender
	// (male|female|other|unknown); unmapped codes become "unknown" with a
	// warning (never fail a patient on a code list gap).
	GenderCodes   map[string]string `json:"genderCodes,omitempty"`
	Programs      map[string]Coding `json:"programs,omitempty"`      // program uid → EpisodeOfCare.type
	ProgramStages map[string]Coding `json:"programStages,omitempty"` // stage uid → Encounter.type
	// EncounterClass defaults to v3-ActCode AMB.
	EncounterClass *Coding `json:"encounterClass,omitempty"`
	// TimeZone of DHIS2 timestamps without an offset (DHIS2 writes server
	// local time); default UTC.
	TimeZone *time.Location `json:"-"`
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// TrackedEntityToBundle converts a DHIS2 tracked entity (with nested
// enrollments and events) into a FHIR transaction Bundle: Patient, one
// EpisodeOfCare per enrollment, one Encounter per event and one Observation
// per mapped data value. Every entry is a conditional PUT by its DHIS2
// identifier (PUT Patient?identifier=sys|uid) and has a fullUrl urn:uuid
// derived from the UID, so re-sending the same tracked entity updates
// instead of duplicating, and the bundle bytes are deterministic.
// Unmapped attributes/data elements and bad values are Problems; the item
// is skipped and the rest converted. A tracked entity without a UID cannot
// be made idempotent and yields no bundle.
func TrackedEntityToBundle(te TrackedEntity, m TrackerMapping) (*Resource, []Problem) {
	var probs []Problem
	if te.TrackedEntity == "" {
		return nil, []Problem{problem(IssueRequired, "trackedEntity.trackedEntity", "tracked entity has no UID; it is needed for idempotent conditional updates")}
	}
	if !IsUID(te.TrackedEntity) {
		return nil, []Problem{problem(IssueValue, "trackedEntity.trackedEntity", "%q is not a DHIS2 UID", te.TrackedEntity)}
	}
	loc := m.TimeZone
	if loc == nil {
		loc = time.UTC
	}
	teSys := orDefault(m.TrackedEntitySystem, DefaultTrackedEntitySystem)
	enSys := orDefault(m.EnrollmentSystem, DefaultEnrollmentSystem)
	evSys := orDefault(m.EventSystem, DefaultEventSystem)
	dvSys := orDefault(m.DataValueSystem, DefaultDataValueSystem)
	ouSys := orDefault(m.OrgUnitSystem, DefaultOrgUnitSystem)
	orgRef := func(ou string) map[string]any {
		return map[string]any{"identifier": map[string]any{"system": ouSys, "value": ou}}
	}

	var entries []BundleEntry
	add := func(typ, system, uid string, res map[string]any, path string) string {
		full := "urn:uuid:" + nameUUID(typ+"/"+system+"|"+uid)
		r, err := NewResource(res)
		if err != nil {
			probs = append(probs, problem(IssueInvalid, path, "cannot build %s: %v", typ, err))
			return ""
		}
		entries = append(entries, BundleEntry{FullURL: full, Resource: r, Request: Request{
			Method: "PUT", URL: typ + "?identifier=" + url.QueryEscape(system+"|"+uid),
		}})
		return full
	}

	// Patient
	pat := map[string]any{
		"resourceType": "Patient",
		"identifier":   []any{map[string]any{"system": teSys, "value": te.TrackedEntity}},
	}
	if te.OrgUnit != "" {
		pat["managingOrganization"] = orgRef(te.OrgUnit)
	}
	if te.Inactive != nil {
		pat["active"] = !*te.Inactive
	}
	probs = append(probs, applyAttributes(pat, te.Attributes, "trackedEntity.attributes", m)...)
	patURL := add("Patient", teSys, te.TrackedEntity, pat, "trackedEntity")
	if patURL == "" {
		return nil, probs
	}
	subject := map[string]any{"reference": patURL}

	for ei, en := range te.Enrollments {
		ep := fmt.Sprintf("trackedEntity.enrollments[%d]", ei)
		if !IsUID(en.Enrollment) {
			probs = append(probs, problem(IssueRequired, ep+".enrollment", "enrollment needs a DHIS2 UID, got %q", en.Enrollment))
			continue
		}
		eoc := map[string]any{
			"resourceType": "EpisodeOfCare",
			"identifier":   []any{map[string]any{"system": enSys, "value": en.Enrollment}},
			"status":       enrollmentStatus(en.Status),
			"patient":      subject,
		}
		if c, ok := m.Programs[en.Program]; ok {
			eoc["type"] = []any{map[string]any{"coding": []any{c.fhir()}}}
		}
		if ou := orDefault(en.OrgUnit, te.OrgUnit); ou != "" {
			eoc["managingOrganization"] = orgRef(ou)
		}
		if en.EnrolledAt != "" {
			s, err := dhis2DateTime(en.EnrolledAt, loc)
			if err != nil {
				probs = append(probs, problem(IssueValue, ep+".enrolledAt", "%v", err))
			} else {
				per := map[string]any{"start": s}
				if en.CompletedAt != "" && en.Status == "COMPLETED" {
					if e, err := dhis2DateTime(en.CompletedAt, loc); err == nil {
						per["end"] = e
					}
				}
				eoc["period"] = per
			}
		}
		// DHIS2 attributes nested in an enrollment are program attributes
		// of the same tracked entity (docs-tracker-nested-payload.json).
		probs = append(probs, applyAttributes(pat, en.Attributes, ep+".attributes", m)...)
		eocURL := add("EpisodeOfCare", enSys, en.Enrollment, eoc, ep)

		for vi, ev := range en.Events {
			vp := fmt.Sprintf("%s.events[%d]", ep, vi)
			if !IsUID(ev.Event) {
				probs = append(probs, problem(IssueRequired, vp+".event", "event needs a DHIS2 UID, got %q", ev.Event))
				continue
			}
			class := Coding{System: "http://terminology.hl7.org/CodeSystem/v3-ActCode", Code: "AMB", Display: "ambulatory"}
			if m.EncounterClass != nil {
				class = *m.EncounterClass
			}
			enc := map[string]any{
				"resourceType": "Encounter",
				"identifier":   []any{map[string]any{"system": evSys, "value": ev.Event}},
				"status":       eventStatus(ev.Status),
				"class":        class.fhir(),
				"subject":      subject,
			}
			if eocURL != "" {
				enc["episodeOfCare"] = []any{map[string]any{"reference": eocURL}}
			}
			if c, ok := m.ProgramStages[ev.ProgramStage]; ok {
				enc["type"] = []any{map[string]any{"coding": []any{c.fhir()}}}
			}
			if ou := orDefault(ev.OrgUnit, en.OrgUnit); ou != "" {
				enc["serviceProvider"] = orgRef(ou)
			}
			var effective string
			if ev.OccurredAt != "" {
				s, err := dhis2DateTime(ev.OccurredAt, loc)
				if err != nil {
					probs = append(probs, problem(IssueValue, vp+".occurredAt", "%v", err))
				} else {
					effective = s
					enc["period"] = map[string]any{"start": s}
				}
			}
			encURL := add("Encounter", evSys, ev.Event, enc, vp)

			for di, dv := range ev.DataValues {
				dp := fmt.Sprintf("%s.dataValues[%d]", vp, di)
				t, ok := m.DataElements[dv.DataElement]
				if !ok {
					probs = append(probs, problem(IssueNotFound, dp+".dataElement", "no Observation code mapped for data element %q", dv.DataElement))
					continue
				}
				if dv.Value == nil {
					continue // a null value clears DHIS2 data; nothing to send
				}
				key, val, err := observationValue(t, *dv.Value, loc)
				if err != nil {
					probs = append(probs, problem(IssueValue, dp+".value", "data element %q: %v", dv.DataElement, err))
					continue
				}
				status := "final"
				if ev.UpdatedAt != "" && ev.CreatedAt != "" && ev.UpdatedAt > ev.CreatedAt {
					status = "amended"
				}
				obsID := ev.Event + "-" + dv.DataElement
				obs := map[string]any{
					"resourceType": "Observation",
					"identifier":   []any{map[string]any{"system": dvSys, "value": obsID}},
					"status":       status,
					"code":         map[string]any{"coding": []any{t.Coding.fhir()}},
					"subject":      subject,
					key:            val,
				}
				if encURL != "" {
					obs["encounter"] = map[string]any{"reference": encURL}
				}
				if effective != "" {
					obs["effectiveDateTime"] = effective
				}
				add("Observation", dvSys, obsID, obs, dp)
			}
		}
	}
	b, err := NewTransaction(entries)
	if err != nil {
		return nil, append(probs, problem(IssueInvalid, "trackedEntity", "cannot build bundle: %v", err))
	}
	return b, probs
}

// applyAttributes writes mapped attribute values onto the Patient map.
func applyAttributes(pat map[string]any, attrs []Attribute, path string, m TrackerMapping) []Problem {
	var probs []Problem
	name := func() map[string]any {
		ns, _ := pat["name"].([]any)
		if len(ns) == 0 {
			n := map[string]any{"use": "official"}
			pat["name"] = []any{n}
			return n
		}
		return ns[0].(map[string]any)
	}
	address := func() map[string]any {
		as, _ := pat["address"].([]any)
		if len(as) == 0 {
			a := map[string]any{}
			pat["address"] = []any{a}
			return a
		}
		return as[0].(map[string]any)
	}
	appendTo := func(obj map[string]any, key string, v any) {
		arr, _ := obj[key].([]any)
		obj[key] = append(arr, v)
	}
	for i, a := range attrs {
		ap := fmt.Sprintf("%s[%d]", path, i)
		t, ok := m.Attributes[a.Attribute]
		if !ok {
			probs = append(probs, problem(IssueNotFound, ap+".attribute", "no Patient element mapped for attribute %q", a.Attribute))
			continue
		}
		if a.Value == nil || strings.TrimSpace(*a.Value) == "" {
			continue
		}
		v := strings.TrimSpace(*a.Value)
		switch t.Element {
		case "identifier":
			if t.System == "" {
				probs = append(probs, problem(IssueInvalid, ap, "mapping for attribute %q: identifier needs a system", a.Attribute))
				continue
			}
			appendTo(pat, "identifier", map[string]any{"system": t.System, "value": v})
		case "name.family":
			name()["family"] = v
		case "name.given":
			appendTo(name(), "given", v)
		case "gender":
			g, ok := m.GenderCodes[v]
			if !ok {
				switch strings.ToLower(v) {
				case "male", "female", "other", "unknown":
					g, ok = strings.ToLower(v), true
				}
			}
			if !ok {
				g = "unknown"
				probs = append(probs, Problem{Severity: SeverityWarning, Code: IssueCodeInvalid, Path: ap + ".value",
					Message: fmt.Sprintf("sex option code %q has no FHIR gender mapping; sent as \"unknown\"", v)})
			}
			pat["gender"] = g
		case "birthDate":
			if len(v) >= 10 && checkTemporal("date", v[:10]) == nil {
				pat["birthDate"] = v[:10]
			} else {
				probs = append(probs, problem(IssueValue, ap+".value", "birth date %q is not a date (YYYY-MM-DD)", v))
			}
		case "telecom.phone", "telecom.email":
			appendTo(pat, "telecom", map[string]any{"system": strings.TrimPrefix(t.Element, "telecom."), "value": v})
		case "address.line":
			appendTo(address(), "line", v)
		case "address.city", "address.district", "address.state", "address.postalCode", "address.country":
			address()[strings.TrimPrefix(t.Element, "address.")] = v
		default:
			probs = append(probs, problem(IssueInvalid, ap, "mapping for attribute %q: unsupported Patient element %q", a.Attribute, t.Element))
		}
	}
	return probs
}

func enrollmentStatus(s string) string {
	switch s {
	case "COMPLETED":
		return "finished"
	case "CANCELLED":
		return "cancelled"
	}
	return "active"
}

func eventStatus(s string) string {
	switch s {
	case "COMPLETED":
		return "finished"
	case "SCHEDULE", "OVERDUE":
		return "planned"
	case "SKIPPED":
		return "cancelled"
	case "VISITED":
		return "arrived"
	}
	return "in-progress"
}

// observationValue renders a DHIS2 data value as an Observation value[x].
func observationValue(t DataElementTarget, v string, loc *time.Location) (string, any, error) {
	if t.OptionSystem != "" {
		return "valueCodeableConcept", map[string]any{"coding": []any{map[string]any{"system": t.OptionSystem, "code": v}}}, nil
	}
	switch t.ValueType {
	case "INTEGER", "INTEGER_POSITIVE", "INTEGER_ZERO_OR_POSITIVE", "INTEGER_NEGATIVE":
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return "", nil, fmt.Errorf("%q is not an integer", v)
		}
		return "valueInteger", n, nil
	case "NUMBER", "PERCENTAGE", "UNIT_INTERVAL":
		if err := checkDecimal(v); err != nil {
			return "", nil, err
		}
		q := map[string]any{"value": jsonNumber(v)}
		if t.Unit != "" {
			q["unit"], q["system"], q["code"] = t.Unit, "http://unitsofmeasure.org", t.Unit
		}
		return "valueQuantity", q, nil
	case "BOOLEAN", "TRUE_ONLY":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return "", nil, fmt.Errorf("%q is not a boolean", v)
		}
		return "valueBoolean", b, nil
	case "DATE", "DATETIME", "AGE":
		s, err := dhis2DateTime(v, loc)
		if err != nil {
			return "", nil, err
		}
		return "valueDateTime", s, nil
	case "TEXT", "LONG_TEXT", "LETTER", "PHONE_NUMBER", "EMAIL", "", "USERNAME", "URL":
		return "valueString", v, nil
	}
	return "", nil, fmt.Errorf("unsupported DHIS2 valueType %q", t.ValueType)
}

var dhis2TimeLayouts = []string{
	"2006-01-02T15:04:05.000Z0700", "2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05.999999999Z07:00", "2006-01-02T15:04:05Z07:00",
}
var dhis2LocalLayouts = []string{"2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"}

// dhis2DateTime converts a DHIS2 timestamp to a FHIR dateTime. DHIS2
// writes local times without offset (2019-08-01T00:00:00.000); FHIR needs an
// offset once a time is present, so loc supplies it. A midnight without
// offset is a date in practice and is emitted as one.
func dhis2DateTime(s string, loc *time.Location) (string, error) {
	for _, l := range dhis2TimeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.Format(time.RFC3339), nil
		}
	}
	for _, l := range dhis2LocalLayouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0 {
				return t.Format(dateLayout), nil
			}
			return t.Format(time.RFC3339), nil
		}
	}
	return "", fmt.Errorf("%q is not a DHIS2 date or timestamp", s)
}

// nameUUID returns a deterministic RFC 4122 version 5 style UUID for name.
func nameUUID(name string) string {
	h := sha1.Sum([]byte("jobmediator:" + name)) //nolint:gosec // G401: a version-5 UUID, not a security hash
	h[6] = (h[6] & 0x0f) | 0x50
	h[8] = (h[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

const (
	uidLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	uidAlnum   = uidLetters + "0123456789"
	uidLen     = 11
)

// DeriveUID derives a DHIS2 UID (a letter then 10 letters/digits) from a
// seed such as "system|value", so the same source record always maps to the
// same tracked entity and imports can use CREATE_AND_UPDATE idempotently.
func DeriveUID(seed string) string {
	h := sha256.Sum256([]byte(seed))
	b := make([]byte, uidLen)
	b[0] = uidLetters[int(h[0])%len(uidLetters)]
	for i := 1; i < uidLen; i++ {
		b[i] = uidAlnum[int(h[i])%len(uidAlnum)]
	}
	return string(b)
}

// IsUID reports whether s has the DHIS2 UID shape ^[A-Za-z][A-Za-z0-9]{10}$.
func IsUID(s string) bool {
	if len(s) != uidLen || !strings.ContainsRune(uidLetters, rune(s[0])) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !strings.ContainsRune(uidAlnum, rune(s[i])) {
			return false
		}
	}
	return true
}
