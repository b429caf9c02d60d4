package fhir

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	models "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// Problem is a per-item conversion problem: the item is skipped (or, for
// warnings, converted with a fallback) and the rest of the batch goes on.
type Problem struct {
	Severity string `json:"severity"` // "error" (item skipped) or "warning"
	Code     string `json:"code"`     // R4 IssueType: required, not-found, value, invalid, code-invalid
	Path     string `json:"path"`     // FHIRPath of the source element, or DHIS2 JSON path
	Message  string `json:"message"`
}

// Problem codes beyond the validation ones.
const (
	IssueNotFound    = "not-found"
	IssueCodeInvalid = "code-invalid"
)

func (p Problem) Error() string { return p.Path + ": " + p.Message }

// Issue converts the problem to an OperationOutcome issue.
func (p Problem) Issue() Issue { return newIssue(p.Severity, p.Code, p.Path, p.Message) }

// ProblemsOutcome turns conversion problems into an OperationOutcome.
func ProblemsOutcome(ps []Problem) *OperationOutcome {
	oo := &OperationOutcome{}
	for _, p := range ps {
		oo.Issue = append(oo.Issue, p.Issue())
	}
	return oo
}

func problem(code, path, format string, args ...any) Problem {
	return Problem{Severity: SeverityError, Code: code, Path: path, Message: fmt.Sprintf(format, args...)}
}

// MeasureReportMapping is the configuration of MeasureReportToDataValueSet.
//
// Code keys are "system|code" or a bare "code" (matches any system; a
// coding without system is looked up by its code, a concept with only text
// by its text).
type MeasureReportMapping struct {
	// DataSet is the DHIS2 data set uid (or code with dataSetIdScheme=code).
	DataSet string `json:"dataSet"`
	// PeriodType is the data set's periodType (Monthly, Quarterly, ...); the
	// report period must be exactly one period of it.
	PeriodType string `json:"periodType"`
	// DataElements maps a group to a data element: by group.code coding key,
	// or by "<measure>#<group.id>" for measures whose groups have no code.
	DataElements map[string]string `json:"dataElements"`
	// Population selects the population whose count is the value (key as
	// above, e.g. "numerator"). Empty: measureScore.value, else the only
	// population.
	Population string `json:"population,omitempty"`
	// OrgUnits maps the reporting unit (MeasureReport.subject, else reporter)
	// to an org unit: by "system|value" of its identifier (Reference.identifier
	// or the identifier of a contained resource) or by literal reference
	// ("Location/123").
	OrgUnits map[string]string `json:"orgUnits"`
	// CategoryOptionCombos maps a stratum to a COC. The key lists the stratum
	// dimensions as "dimension=value" pairs sorted by dimension and joined by
	// ";": a single-dimension stratum is "<stratifier code>=<value code>", an
	// mADX multi-dimension one "<component code>=<value code>;...".
	CategoryOptionCombos map[string]string `json:"categoryOptionCombos,omitempty"`
	// TotalCategoryOptionCombo is the COC of group totals; empty omits it
	// (DHIS2 then uses the default combo).
	TotalCategoryOptionCombo string `json:"totalCategoryOptionCombo,omitempty"`
	// AttributeOptionCombo for the whole set; empty means the default.
	AttributeOptionCombo string `json:"attributeOptionCombo,omitempty"`
}

// MeasureReportToDataValueSet converts a summary (or individual) MeasureReport
// into one DHIS2 dataValueSet:
//   - period from MeasureReport.period (exactly one period of PeriodType);
//   - orgUnit from subject (else reporter) via OrgUnits;
//   - one dataValue per group: the group total with TotalCategoryOptionCombo
//     when the group has no strata, else one per stratum with its COC (a
//     total and its disaggregates are never both sent, so DHIS2 does not
//     double count);
//   - value: the selected population count or measureScore.value;
//   - completeDate = date when status is complete.
//
// Report-level problems (wrong resource type, period, org unit) yield a set
// without values; item problems (unknown code, missing COC, bad value) skip
// only that item.
func MeasureReportToDataValueSet(mr *Resource, m MeasureReportMapping) (DataValueSet, []Problem) {
	dvs := DataValueSet{DataSet: m.DataSet, AttributeOptionCombo: m.AttributeOptionCombo, DataValues: []DataValue{}}
	if mr == nil || mr.Type != "MeasureReport" {
		got := "nothing"
		if mr != nil {
			got = mr.Type
		}
		return dvs, []Problem{problem(IssueInvalid, "resourceType", "expected a MeasureReport, got %s", got)}
	}
	rep, err := As[models.MeasureReport](mr)
	if err != nil {
		return dvs, []Problem{problem(IssueInvalid, "MeasureReport", "%v", err)}
	}
	var probs []Problem
	period, err := PeriodFromFHIR(m.PeriodType, rep.Period)
	if err != nil {
		probs = append(probs, problem(IssueValue, "MeasureReport.period", "%v", err))
	}
	ou, oprob := reportOrgUnit(mr, rep, m.OrgUnits)
	if oprob != nil {
		probs = append(probs, *oprob)
	}
	if len(probs) > 0 {
		return dvs, probs
	}
	dvs.Period, dvs.OrgUnit = period, ou
	if rep.Status == models.MeasureReportStatusComplete && rep.Date != nil && len(*rep.Date) >= 10 {
		dvs.CompleteDate = (*rep.Date)[:10]
	}
	for gi, g := range rep.Group {
		gp := fmt.Sprintf("MeasureReport.group[%d]", gi)
		de, ok := groupDataElement(rep.Measure, g, m.DataElements)
		if !ok {
			probs = append(probs, problem(IssueNotFound, gp+".code", "no data element mapped for group %s", describeGroup(rep.Measure, g)))
			continue
		}
		var strata int
		for si, s := range g.Stratifier {
			for ti, st := range s.Stratum {
				strata++
				sp := fmt.Sprintf("%s.stratifier[%d].stratum[%d]", gp, si, ti)
				key, err := stratumKey(s, st)
				if err != nil {
					probs = append(probs, problem(IssueRequired, sp, "%v", err))
					continue
				}
				coc, ok := m.CategoryOptionCombos[key]
				if !ok {
					probs = append(probs, problem(IssueNotFound, sp+".value", "no category option combo mapped for stratum %q", key))
					continue
				}
				v, perr := selectValue(st.Population, st.MeasureScore, m.Population, sp)
				if perr != nil {
					probs = append(probs, *perr)
					continue
				}
				dvs.DataValues = append(dvs.DataValues, DataValue{DataElement: de, CategoryOptionCombo: coc, Value: v})
			}
		}
		if strata > 0 {
			continue
		}
		pops := make([]models.MeasureReportGroupStratifierStratumPopulation, len(g.Population))
		for i, p := range g.Population {
			pops[i] = models.MeasureReportGroupStratifierStratumPopulation{Code: p.Code, Count: p.Count}
		}
		v, perr := selectValue(pops, g.MeasureScore, m.Population, gp)
		if perr != nil {
			probs = append(probs, *perr)
			continue
		}
		dvs.DataValues = append(dvs.DataValues, DataValue{DataElement: de, CategoryOptionCombo: m.TotalCategoryOptionCombo, Value: v})
	}
	return dvs, probs
}

// conceptKeys lists lookup keys of a CodeableConcept, most specific first.
func conceptKeys(cc *models.CodeableConcept) []string {
	if cc == nil {
		return nil
	}
	var ks []string
	for _, c := range cc.Coding {
		if c.Code == nil {
			continue
		}
		if c.System != nil {
			ks = append(ks, *c.System+"|"+*c.Code)
		}
		ks = append(ks, *c.Code)
	}
	if cc.Text != nil {
		ks = append(ks, *cc.Text)
	}
	return ks
}

// conceptCode is the short form of a concept used in stratum keys.
func conceptCode(cc *models.CodeableConcept) string {
	if cc == nil {
		return ""
	}
	for _, c := range cc.Coding {
		if c.Code != nil {
			return *c.Code
		}
	}
	if cc.Text != nil {
		return *cc.Text
	}
	return ""
}

func groupDataElement(measure string, g models.MeasureReportGroup, des map[string]string) (string, bool) {
	for _, k := range conceptKeys(g.Code) {
		if de, ok := des[k]; ok {
			return de, true
		}
	}
	if g.Id != nil {
		if de, ok := des[measure+"#"+*g.Id]; ok {
			return de, true
		}
	}
	return "", false
}

func describeGroup(measure string, g models.MeasureReportGroup) string {
	if ks := conceptKeys(g.Code); len(ks) > 0 {
		return fmt.Sprintf("code %q", ks[0])
	}
	if g.Id != nil {
		return fmt.Sprintf("%q (no code)", measure+"#"+*g.Id)
	}
	return "without code or id"
}

func stratumKey(s models.MeasureReportGroupStratifier, st models.MeasureReportGroupStratifierStratum) (string, error) {
	var pairs []string
	if len(st.Component) > 0 {
		for i, c := range st.Component {
			dim, val := conceptCode(&c.Code), conceptCode(&c.Value)
			if dim == "" || val == "" {
				return "", fmt.Errorf("component[%d] needs a code and a value", i)
			}
			pairs = append(pairs, dim+"="+val)
		}
	} else {
		if st.Value == nil {
			return "", fmt.Errorf("stratum has neither value nor component")
		}
		dim := ""
		if len(s.Code) > 0 {
			dim = conceptCode(&s.Code[0])
		}
		val := conceptCode(st.Value)
		if dim == "" || val == "" {
			return "", fmt.Errorf("stratum needs a stratifier code and a value code or text")
		}
		pairs = append(pairs, dim+"="+val)
	}
	sort.Strings(pairs)
	return strings.Join(pairs, ";"), nil
}

// selectValue picks the value of a group or stratum as a DHIS2 value string.
func selectValue(pops []models.MeasureReportGroupStratifierStratumPopulation, score *models.Quantity, want, path string) (string, *Problem) {
	count := func(i int) (string, *Problem) {
		p := pops[i]
		if p.Count == nil {
			pr := problem(IssueRequired, fmt.Sprintf("%s.population[%d].count", path, i), "population has no count")
			return "", &pr
		}
		return strconv.Itoa(*p.Count), nil
	}
	if want != "" {
		for i, p := range pops {
			for _, k := range conceptKeys(p.Code) {
				if k == want {
					return count(i)
				}
			}
		}
		pr := problem(IssueRequired, path+".population", "no population with code %q", want)
		return "", &pr
	}
	if score != nil && score.Value != nil {
		v, err := dhis2Number(*score.Value)
		if err != nil {
			pr := problem(IssueValue, path+".measureScore.value", "%v", err)
			return "", &pr
		}
		return v, nil
	}
	if len(pops) == 1 {
		return count(0)
	}
	pr := problem(IssueRequired, path, "no measureScore and %d populations: set the mapping's population", len(pops))
	return "", &pr
}

// dhis2Number renders a FHIR decimal as DHIS2 expects: plain notation, no
// exponent, the source digits kept when already plain.
func dhis2Number(n json.Number) (string, error) {
	s := string(n)
	if err := checkDecimal(s); err != nil {
		return "", err
	}
	if !strings.ContainsAny(s, "eE") {
		return s, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return "", fmt.Errorf("decimal %s is out of range", s)
	}
	return strconv.FormatFloat(f, 'f', -1, 64), nil
}

// reportOrgUnit resolves subject (else reporter) to an org unit.
func reportOrgUnit(mr *Resource, rep *models.MeasureReport, ous map[string]string) (string, *Problem) {
	ref, path := rep.Subject, "MeasureReport.subject"
	if ref == nil {
		ref, path = rep.Reporter, "MeasureReport.reporter"
	}
	if ref == nil {
		p := problem(IssueRequired, "MeasureReport.subject", "no subject or reporter to derive the org unit from")
		return "", &p
	}
	keys := referenceKeys(mr.Raw, ref)
	for _, k := range keys {
		if ou, ok := ous[k]; ok {
			return ou, nil
		}
	}
	p := problem(IssueNotFound, path, "no org unit mapped for %s", strings.Join(quoteAll(keys), " or "))
	if len(keys) == 0 {
		p = problem(IssueRequired, path, "reference has neither reference nor identifier")
	}
	return "", &p
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

// referenceKeys lists lookup keys for a Reference: its identifier
// "system|value", the identifiers of the contained resource it points to
// (#id, read from the raw JSON because the library drops contained), and
// the literal reference.
func referenceKeys(raw json.RawMessage, ref *models.Reference) []string {
	var ks []string
	if ref.Identifier != nil && ref.Identifier.Value != nil {
		ks = append(ks, identifierKey(ref.Identifier.System, *ref.Identifier.Value))
	}
	if ref.Reference != nil {
		r := *ref.Reference
		if strings.HasPrefix(r, "#") {
			ks = append(ks, containedIdentifiers(raw, r[1:])...)
		}
		ks = append(ks, r)
	}
	return ks
}

func identifierKey(system *string, value string) string {
	if system == nil {
		return "|" + value
	}
	return *system + "|" + value
}

func containedIdentifiers(raw json.RawMessage, id string) []string {
	var doc struct {
		Contained []struct {
			ID         string              `json:"id"`
			Identifier []models.Identifier `json:"identifier"`
		} `json:"contained"`
	}
	if json.Unmarshal(raw, &doc) != nil {
		return nil
	}
	var ks []string
	for _, c := range doc.Contained {
		if c.ID != id {
			continue
		}
		for _, i := range c.Identifier {
			if i.Value != nil {
				ks = append(ks, identifierKey(i.System, *i.Value))
			}
		}
	}
	return ks
}
