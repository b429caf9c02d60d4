package fhir

import (
	"encoding/json"
	"sort"
	"strings"

	models "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

func jsonNumber(s string) json.Number { return json.Number(s) }

// PatientMapping configures PatientToTrackedEntity.
type PatientMapping struct {
	TrackedEntityType string `json:"trackedEntityType"`
	// IdentifierSystem is the Patient.identifier system whose value is the
	// matching key (e.g. national id). The tracked entity UID is derived from
	// "system|value", so re-sending the same patient updates the same TE.
	IdentifierSystem string `json:"identifierSystem"`
	// OrgUnits maps managingOrganization ("system|value" of its identifier or
	// the literal reference) to an org unit; OrgUnit is the fallback.
	OrgUnits map[string]string `json:"orgUnits,omitempty"`
	OrgUnit  string            `json:"orgUnit,omitempty"`
	// Attributes maps a Patient element to an attribute uid. Elements:
	// "identifier|<system>", name.family, name.given (given names joined by
	// spaces), gender, birthDate, telecom.phone, telecom.email, address.line,
	// address.city, address.district, address.state, address.postalCode,
	// address.country.
	Attributes map[string]string `json:"attributes"`
	// GenderCodes maps FHIR gender to the sex option set's codes; unmapped
	// genders are sent as the FHIR code.
	GenderCodes map[string]string `json:"genderCodes,omitempty"`
}

// PatientToTrackedEntity converts a FHIR Patient into a DHIS2 tracked entity
// for POST /api/tracker (importStrategy=CREATE_AND_UPDATE). A patient
// without the matching identifier is rejected (an unmatchable tracked entity
// would be duplicated on every run); missing optional elements are simply
// not sent (never as empty strings).
func PatientToTrackedEntity(p *Resource, m PatientMapping) (TrackedEntity, []Problem) {
	te := TrackedEntity{TrackedEntityType: m.TrackedEntityType}
	if p == nil || p.Type != "Patient" {
		got := "nothing"
		if p != nil {
			got = p.Type
		}
		return te, []Problem{problem(IssueInvalid, "resourceType", "expected a Patient, got %s", got)}
	}
	pat, err := As[models.Patient](p)
	if err != nil {
		return te, []Problem{problem(IssueInvalid, "Patient", "%v", err)}
	}
	var probs []Problem
	if m.TrackedEntityType == "" {
		probs = append(probs, problem(IssueRequired, "mapping.trackedEntityType", "mapping has no trackedEntityType"))
	}
	key := ""
	for _, id := range pat.Identifier {
		if id.System != nil && *id.System == m.IdentifierSystem && id.Value != nil && *id.Value != "" {
			key = *id.Value
			break
		}
	}
	if key == "" {
		probs = append(probs, problem(IssueRequired, "Patient.identifier", "no identifier with system %q: the patient cannot be matched to a tracked entity", m.IdentifierSystem))
	} else {
		te.TrackedEntity = DeriveUID(m.IdentifierSystem + "|" + key)
	}

	te.OrgUnit = m.OrgUnit
	if pat.ManagingOrganization != nil {
		found := false
		for _, k := range referenceKeys(p.Raw, pat.ManagingOrganization) {
			if ou, ok := m.OrgUnits[k]; ok {
				te.OrgUnit, found = ou, true
				break
			}
		}
		if !found && te.OrgUnit == "" {
			probs = append(probs, problem(IssueNotFound, "Patient.managingOrganization", "no org unit mapped for %s and no default org unit", strings.Join(quoteAll(referenceKeys(p.Raw, pat.ManagingOrganization)), " or ")))
		}
	} else if te.OrgUnit == "" {
		probs = append(probs, problem(IssueRequired, "Patient.managingOrganization", "no managingOrganization and no default org unit"))
	}

	values := patientValues(pat, m)
	elems := make([]string, 0, len(m.Attributes))
	for e := range m.Attributes {
		elems = append(elems, e)
	}
	sort.Strings(elems)
	for _, e := range elems {
		if !isSupportedPatientElement(e) {
			probs = append(probs, problem(IssueInvalid, "mapping.attributes", "unsupported Patient element %q", e))
			continue
		}
		if v, ok := values[e]; ok {
			val := v
			te.Attributes = append(te.Attributes, Attribute{Attribute: m.Attributes[e], Value: &val})
		}
	}
	// With error problems the TE is still returned for diagnostics; callers
	// must not import it (HasError).
	return te, probs
}

// HasError reports whether any problem is an error (not a warning).
func HasError(ps []Problem) bool {
	for _, p := range ps {
		if p.Severity == SeverityError {
			return true
		}
	}
	return false
}

func isSupportedPatientElement(e string) bool {
	if strings.HasPrefix(e, "identifier|") {
		return len(e) > len("identifier|")
	}
	switch e {
	case "name.family", "name.given", "gender", "birthDate", "telecom.phone", "telecom.email",
		"address.line", "address.city", "address.district", "address.state", "address.postalCode", "address.country":
		return true
	}
	return false
}

// patientValues extracts the mappable element values of a Patient: the
// official (else first) name and address, the first telecom per system.
func patientValues(p *models.Patient, m PatientMapping) map[string]string {
	v := map[string]string{}
	for _, id := range p.Identifier {
		if id.System != nil && id.Value != nil {
			k := "identifier|" + *id.System
			if _, ok := v[k]; !ok {
				v[k] = *id.Value
			}
		}
	}
	if len(p.Name) > 0 {
		n := p.Name[0]
		for _, c := range p.Name {
			if c.Use != nil && *c.Use == models.NameUseOfficial {
				n = c
				break
			}
		}
		if n.Family != nil {
			v["name.family"] = *n.Family
		}
		v["name.given"] = strings.Join(n.Given, " ")
	}
	if p.Gender != nil {
		g := p.Gender.Code()
		if c, ok := m.GenderCodes[g]; ok {
			g = c
		}
		v["gender"] = g
	}
	if p.BirthDate != nil && len(*p.BirthDate) >= 4 {
		v["birthDate"] = *p.BirthDate // R4 date; DHIS2 DATE takes the same form
	}
	for _, t := range p.Telecom {
		if t.System == nil || t.Value == nil {
			continue
		}
		k := "telecom." + t.System.Code()
		if _, ok := v[k]; !ok {
			v[k] = *t.Value
		}
	}
	if len(p.Address) > 0 {
		a := p.Address[0]
		v["address.line"] = strings.Join(a.Line, ", ")
		for k, s := range map[string]*string{"city": a.City, "district": a.District, "state": a.State, "postalCode": a.PostalCode, "country": a.Country} {
			if s != nil {
				v["address."+k] = *s
			}
		}
	}
	for k, s := range v {
		if strings.TrimSpace(s) == "" {
			delete(v, k)
		}
	}
	return v
}
