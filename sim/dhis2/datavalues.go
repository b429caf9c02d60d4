package dhis2

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DataValue is one stored aggregate value (natural key: DataElement, Period,
// OrgUnit, CategoryOptionCombo, AttributeOptionCombo; all UIDs).
type DataValue struct {
	DataElement          string `json:"dataElement"`
	Period               string `json:"period"`
	OrgUnit              string `json:"orgUnit"`
	CategoryOptionCombo  string `json:"categoryOptionCombo"`
	AttributeOptionCombo string `json:"attributeOptionCombo"`
	Value                string `json:"value,omitempty"`
	StoredBy             string `json:"storedBy,omitempty"`
	Created              string `json:"created"`
	LastUpdated          string `json:"lastUpdated"`
	Comment              string `json:"comment,omitempty"`
	FollowUp             bool   `json:"followup"`
	Deleted              bool   `json:"deleted,omitempty"`
}

type dvKey struct{ de, pe, ou, coc, aoc string }

type storedValue struct {
	DataValue
	hasValue bool
	seq      int64
}

// DataValues returns the live (not soft-deleted) stored values in the order
// they were first created.
func (s *Server) DataValues() []DataValue {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sortedValues(false)
}

func (s *Server) sortedValues(includeDeleted bool) []DataValue {
	var sv []*storedValue
	for _, v := range s.values {
		if includeDeleted || !v.Deleted {
			sv = append(sv, v)
		}
	}
	sort.Slice(sv, func(i, j int) bool { return sv[i].seq < sv[j].seq })
	out := make([]DataValue, len(sv))
	for i, v := range sv {
		out[i] = v.DataValue
	}
	return out
}

// ---- import summary wire types ----

type importCount struct {
	Imported int `json:"imported"`
	Updated  int `json:"updated"`
	Ignored  int `json:"ignored"`
	Deleted  int `json:"deleted"`
}

// importOptions mirrors the keys of the docs' task summary sample
// (docs-datavalue-import-tasksummary.json), in the same order.
type importOptions struct {
	IDSchemes                   map[string]any `json:"idSchemes"`
	DryRun                      bool           `json:"dryRun"`
	Async                       bool           `json:"async"`
	ImportStrategy              string         `json:"importStrategy"`
	ReportMode                  string         `json:"reportMode"`
	SkipExistingCheck           bool           `json:"skipExistingCheck"`
	Sharing                     bool           `json:"sharing"`
	SkipNotifications           bool           `json:"skipNotifications"`
	DatasetAllowsPeriods        bool           `json:"datasetAllowsPeriods"`
	StrictPeriods               bool           `json:"strictPeriods"`
	StrictCategoryOptionCombos  bool           `json:"strictCategoryOptionCombos"`
	StrictAttributeOptionCombos bool           `json:"strictAttributeOptionCombos"`
	StrictOrganisationUnits     bool           `json:"strictOrganisationUnits"`
	RequireCategoryOptionCombo  bool           `json:"requireCategoryOptionCombo"`
	RequireAttributeOptionCombo bool           `json:"requireAttributeOptionCombo"`
	SkipPatternValidation       bool           `json:"skipPatternValidation"`
}

// conflict is an ImportConflict. 2.36 only has object and value; 2.37 added
// objects, errorCode, property and indexes.
type conflict struct {
	Object    string            `json:"object"`
	Objects   map[string]string `json:"objects,omitempty"`
	Value     string            `json:"value"`
	ErrorCode string            `json:"errorCode,omitempty"`
	Property  string            `json:"property,omitempty"`
	Indexes   []int             `json:"indexes,omitempty"`
}

type importSummary struct {
	ResponseType    string        `json:"responseType"`
	Status          string        `json:"status"`
	ImportOptions   importOptions `json:"importOptions"`
	Description     string        `json:"description"`
	ImportCount     importCount   `json:"importCount"`
	Conflicts       []conflict    `json:"conflicts,omitempty"`
	RejectedIndexes []int         `json:"rejectedIndexes,omitempty"`
	DataSetComplete string        `json:"dataSetComplete"`
}

// ---- import ----

type dvImport struct {
	opts      importOptions
	schemes   map[string]string // property → scheme (UID, CODE, NAME)
	user      string
	conflicts []conflict
	rejected  map[int]bool
	count     importCount
}

var importStrategies = map[string]bool{"CREATE_AND_UPDATE": true, "CREATE": true, "UPDATE": true, "DELETE": true, "NEW_AND_UPDATES": true, "NEW": true, "UPDATES": true, "DELETES": true}

// legacyStrategies are the old names DHIS2 still accepts.
var legacyStrategies = map[string]string{"NEW_AND_UPDATES": "CREATE_AND_UPDATE", "NEW": "CREATE", "UPDATES": "UPDATE", "DELETES": "DELETE"}

var idSchemeNames = map[string]bool{"UID": true, "ID": true, "CODE": true, "NAME": true}

func boolParam(v string) bool { return strings.EqualFold(v, "true") }

// parseImportParams reads the query; the payload's own idScheme attributes
// are applied later and win over the URL ("payload attributes override URL
// params; specific beats general").
func (s *Server) parseImportParams(rq *request) (*dvImport, error) {
	q := rq.q
	strategy := strings.ToUpper(q.Get("importStrategy"))
	if strategy == "" {
		strategy = "CREATE_AND_UPDATE"
	}
	if !importStrategies[strategy] {
		return nil, fmt.Errorf("Value '%s' is not valid for parameter importStrategy. Valid values are: [CREATE, UPDATE, CREATE_AND_UPDATE, DELETE]", q.Get("importStrategy"))
	}
	if l, ok := legacyStrategies[strategy]; ok {
		strategy = l
	}
	imp := &dvImport{
		schemes:  map[string]string{},
		rejected: map[int]bool{},
		user:     rq.user,
		opts: importOptions{
			IDSchemes:                   map[string]any{},
			DryRun:                      boolParam(q.Get("dryRun")),
			Async:                       boolParam(q.Get("async")),
			ImportStrategy:              strategy,
			ReportMode:                  "FULL",
			SkipExistingCheck:           boolParam(q.Get("skipExistingCheck")),
			StrictPeriods:               boolParam(q.Get("strictPeriods")),
			StrictCategoryOptionCombos:  boolParam(q.Get("strictCategoryOptionCombos")),
			StrictAttributeOptionCombos: boolParam(q.Get("strictAttributeOptionCombos")),
			StrictOrganisationUnits:     boolParam(q.Get("strictOrganisationUnits")),
			RequireCategoryOptionCombo:  boolParam(q.Get("requireCategoryOptionCombo")),
			RequireAttributeOptionCombo: boolParam(q.Get("requireAttributeOptionCombo")),
			SkipPatternValidation:       boolParam(q.Get("skipPatternValidation")),
		},
	}
	for _, p := range []string{"idScheme", "dataElementIdScheme", "orgUnitIdScheme", "categoryOptionComboIdScheme", "attributeOptionComboIdScheme", "dataSetIdScheme"} {
		if err := imp.setScheme(p, q.Get(p)); err != nil {
			return nil, err
		}
	}
	if v := q.Get("dryRun"); v != "" && v != "true" && v != "false" {
		return nil, fmt.Errorf("Value '%s' is not valid for parameter dryRun", v)
	}
	return imp, nil
}

func (imp *dvImport) setScheme(param, v string) error {
	if v == "" {
		return nil
	}
	u := strings.ToUpper(v)
	if strings.HasPrefix(u, "ATTRIBUTE:") {
		return fmt.Errorf("Value '%s' is not supported for parameter %s by the simulator (UID, CODE, NAME)", v, param)
	}
	if !idSchemeNames[u] {
		return fmt.Errorf("Value '%s' is not valid for parameter %s. Valid values are: [UID, CODE, NAME, ATTRIBUTE:<uid>]", v, param)
	}
	if u == "ID" {
		u = "UID"
	}
	imp.schemes[param] = u
	imp.opts.IDSchemes[param] = map[string]string{"type": u}
	return nil
}

func (imp *dvImport) scheme(specific string) string {
	if v := imp.schemes[specific]; v != "" {
		return v
	}
	if v := imp.schemes["idScheme"]; v != "" {
		return v
	}
	return "UID"
}

// addConflict records a conflict for value index i (−1 for set level). From
// 2.37 identical conflicts are merged and their indexes collected.
func (s *Server) addConflict(imp *dvImport, i int, code, prop, obj, msg string) {
	if i >= 0 {
		imp.rejected[i] = true
	}
	if !s.ver.atLeast(37, 0) {
		for _, c := range imp.conflicts {
			if c.Object == obj && c.Value == msg {
				return
			}
		}
		imp.conflicts = append(imp.conflicts, conflict{Object: obj, Value: msg})
		return
	}
	for k := range imp.conflicts {
		c := &imp.conflicts[k]
		if c.ErrorCode == code && c.Object == obj && c.Property == prop && c.Value == msg {
			if i >= 0 {
				c.Indexes = append(c.Indexes, i)
			}
			return
		}
	}
	c := conflict{Object: obj, Objects: map[string]string{prop: obj}, Value: msg, ErrorCode: code, Property: prop}
	if i >= 0 {
		c.Indexes = []int{i}
	}
	imp.conflicts = append(imp.conflicts, c)
}

// str reads a JSON scalar as a string; ok=false for null/absent.
func str(m map[string]any, k string) (string, bool) {
	switch v := m[k].(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	}
	return "", false
}

func strv(m map[string]any, k string) string { v, _ := str(m, k); return v }

func boolv(m map[string]any, k string) bool {
	switch v := m[k].(type) {
	case bool:
		return v
	case string:
		return strings.EqualFold(v, "true")
	}
	return false
}

func (s *Server) postDataValueSets(rq *request) {
	if !rq.has(AuthDataValueAdd) {
		s.forbidden(rq, "Access is denied")
		return
	}
	imp, err := s.parseImportParams(rq)
	if err != nil {
		s.conflict(rq, err.Error(), "")
		return
	}
	var payload map[string]any
	if !s.decodeJSON(rq, &payload) {
		return
	}
	if dv, ok := payload["dataValues"]; ok {
		if _, isList := dv.([]any); !isList && dv != nil {
			s.badRequest(rq, "JSON parse error: dataValues must be an array")
			return
		}
	}
	// Payload attributes override the URL.
	for _, p := range []string{"idScheme", "dataElementIdScheme", "orgUnitIdScheme", "categoryOptionComboIdScheme", "attributeOptionComboIdScheme", "dataSetIdScheme"} {
		if err := imp.setScheme(p, strv(payload, p)); err != nil {
			s.conflict(rq, err.Error(), "")
			return
		}
	}

	if imp.opts.Async {
		imp.opts.Async = true
		j := s.newJob("DATAVALUE_IMPORT", rq.user, func() any {
			sum := s.runDataValueImport(imp, payload)
			return sum
		})
		writeWebMessage(rq.w, http.StatusOK, "OK", "Initiated dataValueImport", map[string]any{
			"name":                     "dataValueImport",
			"id":                       j.id,
			"created":                  j.created.Format(dhisTime),
			"jobType":                  "DATAVALUE_IMPORT",
			"relativeNotifierEndpoint": "/api/system/tasks/DATAVALUE_IMPORT/" + j.id,
		})
		return
	}
	sum := s.runDataValueImport(imp, payload)
	s.writeImportSummary(rq, sum)
}

// writeImportSummary renders the summary in the envelope of the simulated
// version (§1.3.2): plain before 2.38 or on /api/37 and lower, WebMessage
// with 200/409 otherwise.
func (s *Server) writeImportSummary(rq *request, sum *importSummary) {
	plain := s.ver.minor < 38 || (rq.apiVer != 0 && rq.apiVer < 38)
	if plain {
		writeJSON(rq.w, http.StatusOK, sum)
		return
	}
	code, status, msg := http.StatusOK, "OK", "Import was successful."
	switch sum.Status {
	case "WARNING":
		code, status, msg = http.StatusConflict, "WARNING", "One more conflicts encountered, please check import summary."
	case "ERROR":
		code, status, msg = http.StatusConflict, "ERROR", "An error occurred, please check import summary."
	}
	writeWebMessage(rq.w, code, status, msg, sum)
}

func (s *Server) runDataValueImport(imp *dvImport, payload map[string]any) *importSummary {
	s.mu.Lock()
	defer s.mu.Unlock()
	md := s.md
	sum := &importSummary{ResponseType: "ImportSummary", DataSetComplete: "false"}

	// ---- set-level checks: any failure aborts the whole payload ----
	var ds *DataSet
	if key, ok := str(payload, "dataSet"); ok && key != "" {
		id := md.resolveID("dataSets", imp.scheme("dataSetIdScheme"), key)
		if id == "" {
			s.addConflict(imp, -1, "E7600", "dataSet", key, fmt.Sprintf("Data set not found or not accessible: `%s`", key))
		} else {
			ds = md.dss[id]
		}
	}
	hdrOU := ""
	if key, ok := str(payload, "orgUnit"); ok && key != "" && len(imp.conflicts) == 0 {
		hdrOU = md.resolveID("organisationUnits", imp.scheme("orgUnitIdScheme"), key)
		if hdrOU == "" {
			s.addConflict(imp, -1, "E7603", "orgUnit", key, fmt.Sprintf("Org unit not found or not accessible: `%s`", key))
		}
	}
	hdrAOC := ""
	if key, ok := str(payload, "attributeOptionCombo"); ok && key != "" && len(imp.conflicts) == 0 {
		hdrAOC = md.resolveID("categoryOptionCombos", imp.scheme("attributeOptionComboIdScheme"), key)
		if hdrAOC == "" {
			s.addConflict(imp, -1, "E7604", "attributeOptionCombo", key, fmt.Sprintf("Attribute option combo not found or not accessible: `%s`", key))
		}
	}
	if len(imp.conflicts) > 0 {
		sum.Status = "ERROR"
		sum.Description = "Import process was aborted"
		return s.finishSummary(imp, sum)
	}

	defaultCOC := md.defaultCOC()
	hdrPeriod := strv(payload, "period")
	list, _ := payload["dataValues"].([]any)
	now := s.opts.Now()
	for i, raw := range list {
		dv, ok := raw.(map[string]any)
		if !ok {
			s.addConflict(imp, i, "E7610", "dataElement", "", "Data element not found or not accessible: ``")
			imp.count.Ignored++
			continue
		}
		if !s.importOneValue(imp, i, dv, ds, hdrOU, hdrAOC, hdrPeriod, defaultCOC, now) {
			imp.count.Ignored++
		}
	}

	sum.Status = "SUCCESS"
	if len(imp.conflicts) > 0 {
		sum.Status = "WARNING"
	}
	sum.Description = "Import process completed successfully"
	if cd := strv(payload, "completeDate"); cd != "" && ds != nil {
		sum.DataSetComplete = cd
	}
	return s.finishSummary(imp, sum)
}

func (s *Server) finishSummary(imp *dvImport, sum *importSummary) *importSummary {
	sum.ImportOptions = imp.opts
	sum.ImportCount = imp.count
	sum.Conflicts = imp.conflicts
	if s.ver.hasRejectedIndexes() && len(imp.rejected) > 0 {
		for i := range imp.rejected {
			sum.RejectedIndexes = append(sum.RejectedIndexes, i)
		}
		sort.Ints(sum.RejectedIndexes)
	}
	return sum
}

// importOneValue validates and applies one value; false means it was
// rejected or ignored (the caller counts it).
func (s *Server) importOneValue(imp *dvImport, i int, dv map[string]any, ds *DataSet, hdrOU, hdrAOC, hdrPeriod, defaultCOC string, now time.Time) bool {
	md := s.md
	// E7610 data element
	deKey := strv(dv, "dataElement")
	deID := md.resolveID("dataElements", imp.scheme("dataElementIdScheme"), deKey)
	if deID == "" {
		s.addConflict(imp, i, "E7610", "dataElement", deKey, fmt.Sprintf("Data element not found or not accessible: `%s`", deKey))
		return false
	}
	de := md.des[deID]
	// E7611 period
	peID := strv(dv, "period")
	if peID == "" {
		peID = hdrPeriod
	}
	pe, err := parsePeriod(peID)
	if err != nil {
		s.addConflict(imp, i, "E7611", "period", peID, fmt.Sprintf("Period not valid: `%s`", peID))
		return false
	}
	// E7612 org unit
	ouID := hdrOU
	if key := strv(dv, "orgUnit"); key != "" {
		ouID = md.resolveID("organisationUnits", imp.scheme("orgUnitIdScheme"), key)
		if ouID == "" {
			s.addConflict(imp, i, "E7612", "orgUnit", key, fmt.Sprintf("Organisation unit not found or not accessible: `%s`", key))
			return false
		}
	}
	if ouID == "" {
		s.addConflict(imp, i, "E7612", "orgUnit", "", "Organisation unit not found or not accessible: ``")
		return false
	}
	// E7613 category option combo
	cocKey := strv(dv, "categoryOptionCombo")
	cocID := defaultCOC
	if cocKey != "" {
		cocID = md.resolveID("categoryOptionCombos", imp.scheme("categoryOptionComboIdScheme"), cocKey)
		if cocID == "" {
			s.addConflict(imp, i, "E7613", "categoryOptionCombo", cocKey, fmt.Sprintf("Category option combo not found or not accessible for writing data: `%s`", cocKey))
			return false
		}
	}
	// E7615 attribute option combo
	aocKey := strv(dv, "attributeOptionCombo")
	aocID := hdrAOC
	if aocID == "" {
		aocID = defaultCOC
	}
	if aocKey != "" {
		aocID = md.resolveID("categoryOptionCombos", imp.scheme("attributeOptionComboIdScheme"), aocKey)
		if aocID == "" {
			s.addConflict(imp, i, "E7615", "attributeOptionCombo", aocKey, fmt.Sprintf("Attribute option combo not found or not accessible for writing data: `%s`", aocKey))
			return false
		}
	}
	value, hasValue := str(dv, "value")
	if strings.TrimSpace(value) == "" {
		hasValue = false
	}
	comment, hasComment := str(dv, "comment")
	if strings.TrimSpace(comment) == "" {
		hasComment = false
	}
	deleted := boolv(dv, "deleted")
	deleting := imp.opts.ImportStrategy == "DELETE" || deleted
	// E7618 value or comment
	if !hasValue && !hasComment && !deleting {
		s.addConflict(imp, i, "E7618", "value", deID, fmt.Sprintf("Data value or comment not specified for data element: `%s`", deID))
		return false
	}
	if hasValue && !deleting {
		norm, problem := validateValue(de.ValueType, value)
		// E7619 value type
		if problem != "" {
			s.addConflict(imp, i, "E7619", "value", deID, fmt.Sprintf("Value must match data element's `%s` type constraints: %s", deID, problem))
			return false
		}
		value = norm
	}
	// E7620 comment
	if hasComment && len(comment) > 50000 {
		s.addConflict(imp, i, "E7620", "comment", deID, "Invalid comment: comment_length_greater_than_max_length")
		return false
	}
	// E7621 option set
	if hasValue && !deleting && de.OptionSet != nil {
		if os := md.opts[de.OptionSet.ID]; os != nil && !hasOption(os, value) {
			s.addConflict(imp, i, "E7621", "value", deID, fmt.Sprintf("Data value is not a valid option of the data element option set: `%s`", deID))
			return false
		}
	}
	// E7630/E7631 required combos (strict mode)
	if imp.opts.RequireCategoryOptionCombo && cocKey == "" {
		s.addConflict(imp, i, "E7630", "categoryOptionCombo", deID, "Category option combo is required but is not specified")
		return false
	}
	if imp.opts.RequireAttributeOptionCombo && aocKey == "" && hdrAOC == "" {
		s.addConflict(imp, i, "E7631", "attributeOptionCombo", deID, "Attribute option combo is required but is not specified")
		return false
	}
	deSets := md.dataSetsOf(deID)
	// E7632 period type (strictPeriods)
	if imp.opts.StrictPeriods {
		okType := false
		for _, d := range deSets {
			if d.PeriodType == pe.typ {
				okType = true
			}
		}
		if !okType {
			s.addConflict(imp, i, "E7632", "period", pe.id, fmt.Sprintf("Period type of period: `%s` not valid for data element: `%s`", pe.id, deID))
			return false
		}
	}
	// E7633 data element not in the payload's data set
	if ds != nil && !dataSetHas(ds, deID) {
		s.addConflict(imp, i, "E7633", "dataElement", deID, fmt.Sprintf("Data element: `%s` is not part of dataset: `%s`", deID, ds.ID))
		return false
	}
	// E7634 COC not in the data element's category combo
	if imp.opts.StrictCategoryOptionCombos {
		if !md.comboHas(md.elementCombo(deID, ds), cocID) {
			s.addConflict(imp, i, "E7634", "categoryOptionCombo", cocID, fmt.Sprintf("Category option combo: `%s` must be part of category combo of data element: `%s`", cocID, deID))
			return false
		}
	}
	// E7635 AOC not in the data sets' category combos
	if imp.opts.StrictAttributeOptionCombos {
		okAOC := false
		for _, d := range deSets {
			if d.CategoryCombo != nil && md.comboHas(d.CategoryCombo.ID, aocID) {
				okAOC = true
			}
		}
		if !okAOC {
			s.addConflict(imp, i, "E7635", "attributeOptionCombo", aocID, fmt.Sprintf("Attribute option combo: `%s` must be part of category combo of data sets of data element: `%s`", aocID, deID))
			return false
		}
	}
	// E7636 data element assigned to the org unit through a data set
	if imp.opts.StrictOrganisationUnits {
		assigned := false
		for _, d := range deSets {
			for _, o := range d.OrganisationUnits {
				if o.ID == ouID {
					assigned = true
				}
			}
		}
		if !assigned {
			s.addConflict(imp, i, "E7636", "orgUnit", ouID, fmt.Sprintf("Data element: `%s` must be assigned through data sets to organisation unit: `%s`", deID, ouID))
			return false
		}
	}
	// E7641 period after the latest open future period
	if len(deSets) > 0 {
		open := 0
		for _, d := range deSets {
			if d.OpenFuturePeriods > open {
				open = d.OpenFuturePeriods
			}
		}
		y, mo, d := periodLength(pe.typ)
		latest := now.AddDate(y*open, mo*open, d*open)
		if pe.start.After(latest) {
			s.addConflict(imp, i, "E7641", "period", pe.id, fmt.Sprintf("Period: `%s` is after latest open future period: `%s` for data element: `%s`", pe.id, latest.Format("2006-01-02"), deID))
			return false
		}
	}

	// ---- apply ----
	key := dvKey{deID, pe.id, ouID, cocID, aocID}
	existing := s.values[key]
	live := existing != nil && !existing.Deleted
	zeroInsig := hasValue && !de.ZeroIsSignificant && isNumericType(de.ValueType) && isZero(value)
	followUp := boolv(dv, "followup") || boolv(dv, "followUp")
	stamp := now.Format(dhisTime)
	write := !imp.opts.DryRun

	del := func() bool {
		if !live {
			return false
		}
		if write {
			existing.Deleted = true
			existing.LastUpdated = stamp
		}
		imp.count.Deleted++
		return true
	}
	create := func() bool {
		if zeroInsig {
			return false // never stored
		}
		if write {
			if existing == nil {
				s.valueSeq++
				existing = &storedValue{seq: s.valueSeq}
				existing.Created = stamp
				s.values[key] = existing
			}
			existing.DataValue = DataValue{DataElement: deID, Period: pe.id, OrgUnit: ouID, CategoryOptionCombo: cocID,
				AttributeOptionCombo: aocID, Value: value, StoredBy: imp.user, Created: existing.Created,
				LastUpdated: stamp, Comment: comment, FollowUp: followUp}
			existing.hasValue = hasValue
		}
		imp.count.Imported++
		return true
	}
	update := func() bool {
		if zeroInsig {
			return del()
		}
		if existing.Value == value && existing.Comment == comment && existing.FollowUp == followUp {
			// Unchanged re-post: no write either way; the count changed in
			// 2.39.5 / 2.40.3 / 2.41.0.
			if s.ver.unchangedIsIgnored() {
				return false
			}
			imp.count.Updated++
			return true
		}
		if write {
			existing.Value, existing.Comment, existing.FollowUp = value, comment, followUp
			existing.LastUpdated, existing.StoredBy, existing.hasValue = stamp, imp.user, hasValue
		}
		imp.count.Updated++
		return true
	}

	switch {
	case deleting:
		return del()
	case imp.opts.ImportStrategy == "CREATE":
		if live {
			return false
		}
		return create()
	case imp.opts.ImportStrategy == "UPDATE":
		if !live {
			return false
		}
		return update()
	default: // CREATE_AND_UPDATE
		if live {
			return update()
		}
		return create()
	}
}

func hasOption(os *OptionSet, v string) bool {
	for _, o := range os.Options {
		if o.Code == v {
			return true
		}
	}
	return false
}

func dataSetHas(ds *DataSet, de string) bool {
	for _, e := range ds.DataSetElements {
		if e.DataElement.ID == de {
			return true
		}
	}
	return false
}

func (ms *metaStore) dataSetsOf(de string) []*DataSet {
	var out []*DataSet
	for _, id := range ms.order["dataSets"] {
		if dataSetHas(ms.dss[id], de) {
			out = append(out, ms.dss[id])
		}
	}
	return out
}

// elementCombo is the data element's category combo, or the data set
// element's override for ds.
func (ms *metaStore) elementCombo(de string, ds *DataSet) string {
	if ds != nil {
		for _, e := range ds.DataSetElements {
			if e.DataElement.ID == de && e.CategoryCombo != nil {
				return e.CategoryCombo.ID
			}
		}
	}
	if d := ms.des[de]; d != nil && d.CategoryCombo != nil {
		return d.CategoryCombo.ID
	}
	return ""
}

func (ms *metaStore) comboHas(cc, coc string) bool {
	if c := ms.ccs[cc]; c != nil {
		for _, r := range c.CategoryOptionCombos {
			if r.ID == coc {
				return true
			}
		}
	}
	if c := ms.cocs[coc]; c != nil && c.CategoryCombo.ID == cc {
		return true
	}
	return false
}

// ---- value types ----

var numericTypes = map[string]bool{"NUMBER": true, "INTEGER": true, "INTEGER_POSITIVE": true, "INTEGER_NEGATIVE": true,
	"INTEGER_ZERO_OR_POSITIVE": true, "PERCENTAGE": true, "UNIT_INTERVAL": true}

func isNumericType(t string) bool { return numericTypes[t] }

func isZero(v string) bool {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	return err == nil && f == 0
}

// validateValue checks a value against a value type and returns the stored
// form, or the DHIS2 problem key (ValidationUtils.dataValueIsValid).
func validateValue(valueType, v string) (string, string) {
	v = strings.TrimSpace(v)
	isInt := func() (int64, bool) {
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	}
	switch valueType {
	case "NUMBER":
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || strings.ContainsAny(v, "xXpP_") {
			return "", "value_not_numeric"
		}
	case "UNIT_INTERVAL":
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1 {
			return "", "value_not_unit_interval"
		}
	case "PERCENTAGE":
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 100 {
			return "", "value_not_percentage"
		}
	case "INTEGER":
		if _, ok := isInt(); !ok {
			return "", "value_not_integer"
		}
	case "INTEGER_POSITIVE":
		if n, ok := isInt(); !ok || n <= 0 {
			return "", "value_not_positive_integer"
		}
	case "INTEGER_NEGATIVE":
		if n, ok := isInt(); !ok || n >= 0 {
			return "", "value_not_negative_integer"
		}
	case "INTEGER_ZERO_OR_POSITIVE":
		if n, ok := isInt(); !ok || n < 0 {
			return "", "value_not_zero_or_positive_integer"
		}
	case "BOOLEAN":
		switch strings.ToLower(v) {
		case "true", "1", "t":
			return "true", ""
		case "false", "0", "f":
			return "false", ""
		}
		return "", "value_not_bool"
	case "TRUE_ONLY":
		switch strings.ToLower(v) {
		case "true", "1", "t":
			return "true", ""
		}
		return "", "value_not_true_only"
	case "DATE":
		if _, err := time.Parse("2006-01-02", v); err != nil {
			return "", "value_not_valid_date"
		}
	case "DATETIME":
		ok := false
		for _, l := range []string{"2006-01-02T15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02T15:04:05.999999999Z0700"} {
			if _, err := time.Parse(l, v); err == nil {
				ok = true
				break
			}
		}
		if !ok {
			return "", "value_not_valid_datetime"
		}
	case "TEXT":
		if len([]rune(v)) > 50000 {
			return "", "value_length_greater_than_max_length"
		}
	case "COORDINATE":
		var xy []float64
		if err := json.Unmarshal([]byte(v), &xy); err != nil || len(xy) != 2 {
			return "", "value_not_coordinate"
		}
	case "EMAIL":
		if !strings.Contains(v, "@") {
			return "", "value_not_valid_email"
		}
	}
	return v, ""
}

// ---- export ----

func (s *Server) getDataValueSets(rq *request) {
	q := rq.q
	dsKeys := splitMulti(q["dataSet"])
	peKeys := splitMulti(q["period"])
	ouKeys := splitMulti(q["orgUnit"])
	deKeys := splitMulti(q["dataElement"])
	start, end := q.Get("startDate"), q.Get("endDate")
	switch {
	case len(dsKeys) == 0 && len(deKeys) == 0 && q.Get("dataElementGroup") == "":
		s.conflict(rq, "At least one data element, data set or data element group must be specified", "E2001")
		return
	case len(peKeys) == 0 && (start == "" || end == "") && q.Get("lastUpdated") == "" && q.Get("lastUpdatedDuration") == "":
		s.conflict(rq, "At least one period, start/end dates, last updated or last updated duration must be specified", "E2002")
		return
	case len(peKeys) > 0 && (start != "" || end != ""):
		s.conflict(rq, "Both periods and start/end date cannot be specified", "E2003")
		return
	case len(ouKeys) == 0 && q.Get("orgUnitGroup") == "":
		s.conflict(rq, "At least one organisation unit or organisation unit group must be specified", "E2006")
		return
	}
	var startT, endT time.Time
	if start != "" {
		var err1, err2 error
		startT, err1 = time.Parse("2006-01-02", start)
		endT, err2 = time.Parse("2006-01-02", end)
		if err1 != nil || err2 != nil {
			s.conflict(rq, "Start date and end date must be valid dates (yyyy-MM-dd)", "E2004")
			return
		}
		if startT.After(endT) {
			s.conflict(rq, "Start date must be before end date", "E2004")
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	md := s.md
	des := map[string]bool{}
	for _, k := range dsKeys {
		ds := md.dss[md.resolveID("dataSets", q.Get("dataSetIdScheme"), k)]
		if ds == nil {
			s.conflict(rq, fmt.Sprintf("Data set not found or not accessible: `%s`", k), "E1105")
			return
		}
		for _, e := range ds.DataSetElements {
			des[e.DataElement.ID] = true
		}
	}
	for _, k := range deKeys {
		id := md.resolveID("dataElements", "UID", k)
		if id == "" {
			s.conflict(rq, fmt.Sprintf("Data element not found or not accessible: `%s`", k), "E1100")
			return
		}
		des[id] = true
	}
	pes := map[string]bool{}
	for _, k := range peKeys {
		if _, err := parsePeriod(k); err != nil {
			s.conflict(rq, fmt.Sprintf("Period is invalid: `%s`", k), "E1101")
			return
		}
		pes[k] = true
	}
	var ous []*OrgUnit
	for _, k := range ouKeys {
		ou := md.ous[md.resolveID("organisationUnits", q.Get("orgUnitIdScheme"), k)]
		if ou == nil {
			s.conflict(rq, fmt.Sprintf("Organisation unit not found or not accessible: `%s`", k), "E1102")
			return
		}
		ous = append(ous, ou)
	}
	children := boolParam(q.Get("children"))
	includeDeleted := boolParam(q.Get("includeDeleted"))
	var out []map[string]any
	for _, v := range s.sortedValues(includeDeleted) {
		if !des[v.DataElement] {
			continue
		}
		if len(pes) > 0 && !pes[v.Period] {
			continue
		}
		if !startT.IsZero() {
			p, _ := parsePeriod(v.Period)
			if p.start.Before(startT) || p.end.After(endT) {
				continue
			}
		}
		inOU := false
		for _, ou := range ous {
			if v.OrgUnit == ou.ID {
				inOU = true
			} else if children {
				if vo := md.ous[v.OrgUnit]; vo != nil && strings.Contains(vo.Path, "/"+ou.ID+"/") {
					inOU = true
				}
			}
		}
		if !inOU {
			continue
		}
		m := toMap(v)
		if !includeDeleted {
			delete(m, "deleted")
		}
		out = append(out, m)
	}
	resp := map[string]any{}
	if len(dsKeys) == 1 {
		resp["dataSet"] = dsKeys[0]
	}
	if len(peKeys) == 1 {
		resp["period"] = peKeys[0]
	}
	if len(ouKeys) == 1 && !children {
		resp["orgUnit"] = ouKeys[0]
	}
	if out == nil {
		out = []map[string]any{}
	}
	resp["dataValues"] = out
	writeJSON(rq.w, http.StatusOK, resp)
}

// splitMulti accepts repeated params and comma/semicolon lists.
func splitMulti(vs []string) []string {
	var out []string
	for _, v := range vs {
		for _, p := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' }) {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
