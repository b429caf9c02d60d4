package dhis2

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Ref is a DHIS2 object reference {"id": "..."}.
type Ref struct {
	ID string `json:"id"`
}

// DataElement is an aggregate or tracker data element.
type DataElement struct {
	ID                string `json:"id"`
	Code              string `json:"code,omitempty"`
	Name              string `json:"name"`
	ShortName         string `json:"shortName,omitempty"`
	ValueType         string `json:"valueType"`
	DomainType        string `json:"domainType,omitempty"`
	AggregationType   string `json:"aggregationType,omitempty"`
	ZeroIsSignificant bool   `json:"zeroIsSignificant"`
	CategoryCombo     *Ref   `json:"categoryCombo,omitempty"`
	OptionSet         *Ref   `json:"optionSet,omitempty"`
}

// DataSet is an aggregate data set.
type DataSet struct {
	ID                string           `json:"id"`
	Code              string           `json:"code,omitempty"`
	Name              string           `json:"name"`
	ShortName         string           `json:"shortName,omitempty"`
	PeriodType        string           `json:"periodType"`
	CategoryCombo     *Ref             `json:"categoryCombo,omitempty"`
	OpenFuturePeriods int              `json:"openFuturePeriods"`
	ExpiryDays        int              `json:"expiryDays"`
	DataSetElements   []DataSetElement `json:"dataSetElements"`
	OrganisationUnits []Ref            `json:"organisationUnits"`
}

// DataSetElement links a data element to a data set, optionally overriding
// its category combo.
type DataSetElement struct {
	DataElement   Ref  `json:"dataElement"`
	CategoryCombo *Ref `json:"categoryCombo,omitempty"`
}

// OrgUnit is an organisation unit. Path and Level are derived from Parent
// when left empty.
type OrgUnit struct {
	ID          string `json:"id"`
	Code        string `json:"code,omitempty"`
	Name        string `json:"name"`
	ShortName   string `json:"shortName,omitempty"`
	Level       int    `json:"level"`
	Path        string `json:"path"`
	Parent      *Ref   `json:"parent,omitempty"`
	OpeningDate string `json:"openingDate,omitempty"`
	ClosedDate  string `json:"closedDate,omitempty"`
}

// CategoryCombo groups the category option combos a value may use.
type CategoryCombo struct {
	ID                   string `json:"id"`
	Code                 string `json:"code,omitempty"`
	Name                 string `json:"name"`
	DataDimensionType    string `json:"dataDimensionType,omitempty"`
	CategoryOptionCombos []Ref  `json:"categoryOptionCombos"`
}

// CategoryOptionCombo is a COC (or AOC).
type CategoryOptionCombo struct {
	ID              string `json:"id"`
	Code            string `json:"code,omitempty"`
	Name            string `json:"name"`
	CategoryCombo   Ref    `json:"categoryCombo"`
	CategoryOptions []Ref  `json:"categoryOptions"`
}

// Program is a tracker (WITH_REGISTRATION) or event (WITHOUT_REGISTRATION)
// program. Empty OrganisationUnits means "assigned everywhere".
type Program struct {
	ID                             string       `json:"id"`
	Code                           string       `json:"code,omitempty"`
	Name                           string       `json:"name"`
	ProgramType                    string       `json:"programType"`
	TrackedEntityType              *Ref         `json:"trackedEntityType,omitempty"`
	OnlyEnrollOnce                 bool         `json:"onlyEnrollOnce"`
	OrganisationUnits              []Ref        `json:"organisationUnits,omitempty"`
	ProgramStages                  []Stage      `json:"programStages"`
	ProgramTrackedEntityAttributes []ProgramTEA `json:"programTrackedEntityAttributes"`
}

// Stage is a program stage.
type Stage struct {
	ID                       string `json:"id"`
	Name                     string `json:"name"`
	Repeatable               bool   `json:"repeatable"`
	ProgramStageDataElements []PSDE `json:"programStageDataElements"`
}

// PSDE is a program stage data element.
type PSDE struct {
	DataElement Ref  `json:"dataElement"`
	Compulsory  bool `json:"compulsory"`
}

// ProgramTEA is a program tracked entity attribute.
type ProgramTEA struct {
	TrackedEntityAttribute Ref  `json:"trackedEntityAttribute"`
	Mandatory              bool `json:"mandatory"`
}

// TrackedEntityType is a TE type with its attributes.
type TrackedEntityType struct {
	ID                          string `json:"id"`
	Name                        string `json:"name"`
	TrackedEntityTypeAttributes []TETA `json:"trackedEntityTypeAttributes"`
}

// TETA is a tracked entity type attribute.
type TETA struct {
	TrackedEntityAttribute Ref  `json:"trackedEntityAttribute"`
	Mandatory              bool `json:"mandatory"`
}

// TrackedEntityAttribute is a TEA; Unique drives E1064.
type TrackedEntityAttribute struct {
	ID        string `json:"id"`
	Code      string `json:"code,omitempty"`
	Name      string `json:"name"`
	ValueType string `json:"valueType"`
	Unique    bool   `json:"unique"`
	OptionSet *Ref   `json:"optionSet,omitempty"`
}

// OptionSet restricts values to option codes.
type OptionSet struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	ValueType string   `json:"valueType,omitempty"`
	Options   []Option `json:"options"`
}

// Option is one option of an option set.
type Option struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// RelationshipType is a tracker relationship type.
type RelationshipType struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Metadata is what SeedMetadata loads. Objects with an existing id replace
// the stored one.
type Metadata struct {
	DataElements            []DataElement            `json:"dataElements,omitempty"`
	DataSets                []DataSet                `json:"dataSets,omitempty"`
	OrganisationUnits       []OrgUnit                `json:"organisationUnits,omitempty"`
	CategoryCombos          []CategoryCombo          `json:"categoryCombos,omitempty"`
	CategoryOptionCombos    []CategoryOptionCombo    `json:"categoryOptionCombos,omitempty"`
	Programs                []Program                `json:"programs,omitempty"`
	TrackedEntityTypes      []TrackedEntityType      `json:"trackedEntityTypes,omitempty"`
	TrackedEntityAttributes []TrackedEntityAttribute `json:"trackedEntityAttributes,omitempty"`
	OptionSets              []OptionSet              `json:"optionSets,omitempty"`
	RelationshipTypes       []RelationshipType       `json:"relationshipTypes,omitempty"`
}

//go:embed testdata/default-metadata.json
var defaultMetadataJSON []byte

// DefaultCOC is the UID of the "default" category option combo in the
// default metadata (the Sierra Leone demo's).
const DefaultCOC = "HllvX50cXC0"

// DefaultMetadata returns the embedded fixture: the category model and the
// two data sets of dhis2-core's e2e aggregate metadata (COCs, combos, data
// sets copied from /work/shared/testdata), a Mortality < 5 data set for the
// docs payloads, and synthesised data elements, org units (Sierra Leone → Bo
// → Badjia → Ngelehun CHC, …) and tracker metadata that the shared tracker
// payloads reference.
func DefaultMetadata() Metadata {
	var m Metadata
	if err := json.Unmarshal(defaultMetadataJSON, &m); err != nil {
		panic("dhis2 sim: embedded metadata: " + err.Error())
	}
	return m
}

// LoadDefaultMetadata seeds DefaultMetadata.
func (s *Server) LoadDefaultMetadata() { s.SeedMetadata(DefaultMetadata()) }

// SeedMetadata adds (or replaces by id) metadata objects.
func (s *Server) SeedMetadata(m Metadata) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.md.add(m)
}

// metadataCollections maps endpoint → DHIS2 class name (for 404 messages).
var metadataCollections = map[string]string{
	"dataElements":            "DataElement",
	"dataSets":                "DataSet",
	"organisationUnits":       "OrganisationUnit",
	"categoryCombos":          "CategoryCombo",
	"categoryOptionCombos":    "CategoryOptionCombo",
	"programs":                "Program",
	"trackedEntityTypes":      "TrackedEntityType",
	"trackedEntityAttributes": "TrackedEntityAttribute",
	"optionSets":              "OptionSet",
	"relationshipTypes":       "RelationshipType",
}

type metaStore struct {
	des    map[string]*DataElement
	dss    map[string]*DataSet
	ous    map[string]*OrgUnit
	ccs    map[string]*CategoryCombo
	cocs   map[string]*CategoryOptionCombo
	progs  map[string]*Program
	tets   map[string]*TrackedEntityType
	teas   map[string]*TrackedEntityAttribute
	opts   map[string]*OptionSet
	rts    map[string]*RelationshipType
	stages map[string]*Stage
	// stageProgram maps a stage to its program.
	stageProgram map[string]string
	order        map[string][]string
}

func newMetaStore() *metaStore {
	return &metaStore{
		des: map[string]*DataElement{}, dss: map[string]*DataSet{}, ous: map[string]*OrgUnit{},
		ccs: map[string]*CategoryCombo{}, cocs: map[string]*CategoryOptionCombo{},
		progs: map[string]*Program{}, tets: map[string]*TrackedEntityType{},
		teas: map[string]*TrackedEntityAttribute{}, opts: map[string]*OptionSet{},
		rts: map[string]*RelationshipType{}, stages: map[string]*Stage{},
		stageProgram: map[string]string{}, order: map[string][]string{},
	}
}

func put[T any](ms *metaStore, coll string, m map[string]*T, id string, v T) {
	if _, ok := m[id]; !ok {
		ms.order[coll] = append(ms.order[coll], id)
	}
	m[id] = &v
}

func (ms *metaStore) add(m Metadata) {
	for _, x := range m.DataElements {
		put(ms, "dataElements", ms.des, x.ID, x)
	}
	for _, x := range m.DataSets {
		put(ms, "dataSets", ms.dss, x.ID, x)
	}
	for _, x := range m.OrganisationUnits {
		put(ms, "organisationUnits", ms.ous, x.ID, x)
	}
	for _, x := range m.CategoryCombos {
		put(ms, "categoryCombos", ms.ccs, x.ID, x)
	}
	for _, x := range m.CategoryOptionCombos {
		put(ms, "categoryOptionCombos", ms.cocs, x.ID, x)
	}
	for _, x := range m.Programs {
		put(ms, "programs", ms.progs, x.ID, x)
		p := ms.progs[x.ID]
		for i := range p.ProgramStages {
			ms.stages[p.ProgramStages[i].ID] = &p.ProgramStages[i]
			ms.stageProgram[p.ProgramStages[i].ID] = p.ID
		}
	}
	for _, x := range m.TrackedEntityTypes {
		put(ms, "trackedEntityTypes", ms.tets, x.ID, x)
	}
	for _, x := range m.TrackedEntityAttributes {
		put(ms, "trackedEntityAttributes", ms.teas, x.ID, x)
	}
	for _, x := range m.OptionSets {
		put(ms, "optionSets", ms.opts, x.ID, x)
	}
	for _, x := range m.RelationshipTypes {
		put(ms, "relationshipTypes", ms.rts, x.ID, x)
	}
	// Derive paths and levels from the parent chain (a few passes cover any
	// seeding order).
	for _, ou := range ms.ous {
		path, level := ms.ouPath(ou.ID, 0)
		if ou.Path == "" {
			ou.Path = path
		}
		if ou.Level == 0 {
			ou.Level = level
		}
	}
}

func (ms *metaStore) ouPath(id string, depth int) (string, int) {
	ou, ok := ms.ous[id]
	if !ok || depth > 50 {
		return "/" + id, 1
	}
	if ou.Parent == nil || ou.Parent.ID == "" {
		return "/" + id, 1
	}
	p, l := ms.ouPath(ou.Parent.ID, depth+1)
	return p + "/" + id, l + 1
}

// objects returns the collection as generic maps, in seeding order, with
// displayName filled in as DHIS2 does.
func (ms *metaStore) objects(coll string) []map[string]any {
	var out []map[string]any
	for _, id := range ms.order[coll] {
		var v any
		switch coll {
		case "dataElements":
			v = ms.des[id]
		case "dataSets":
			v = ms.dss[id]
		case "organisationUnits":
			v = ms.ous[id]
		case "categoryCombos":
			v = ms.ccs[id]
		case "categoryOptionCombos":
			v = ms.cocs[id]
		case "programs":
			v = ms.progs[id]
		case "trackedEntityTypes":
			v = ms.tets[id]
		case "trackedEntityAttributes":
			v = ms.teas[id]
		case "optionSets":
			v = ms.opts[id]
		case "relationshipTypes":
			v = ms.rts[id]
		}
		m := toMap(v)
		if n, ok := m["name"].(string); ok {
			m["displayName"] = n
		}
		if n, ok := m["shortName"].(string); ok {
			m["displayShortName"] = n
		}
		out = append(out, m)
	}
	return out
}

func toMap(v any) map[string]any {
	b, _ := json.Marshal(v)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// resolveID finds an object of a collection by UID, CODE or NAME, the
// idSchemes DHIS2 supports for imports.
func (ms *metaStore) resolveID(coll, scheme, key string) string {
	if key == "" {
		return ""
	}
	scheme = strings.ToUpper(scheme)
	if scheme == "" || scheme == "UID" || scheme == "ID" {
		if ms.exists(coll, key) {
			return key
		}
		return ""
	}
	for _, o := range ms.objects(coll) {
		switch scheme {
		case "CODE":
			if o["code"] == key {
				return o["id"].(string)
			}
		case "NAME":
			if o["name"] == key {
				return o["id"].(string)
			}
		}
	}
	return ""
}

func (ms *metaStore) exists(coll, id string) bool {
	switch coll {
	case "dataElements":
		return ms.des[id] != nil
	case "dataSets":
		return ms.dss[id] != nil
	case "organisationUnits":
		return ms.ous[id] != nil
	case "categoryOptionCombos":
		return ms.cocs[id] != nil
	case "programs":
		return ms.progs[id] != nil
	case "programStages":
		return ms.stages[id] != nil
	case "trackedEntityTypes":
		return ms.tets[id] != nil
	case "trackedEntityAttributes":
		return ms.teas[id] != nil
	}
	return false
}

// defaultCOC is the COC of the category combo named "default".
func (ms *metaStore) defaultCOC() string {
	for _, id := range ms.order["categoryCombos"] {
		cc := ms.ccs[id]
		if cc.Name == "default" && len(cc.CategoryOptionCombos) > 0 {
			return cc.CategoryOptionCombos[0].ID
		}
	}
	for _, id := range ms.order["categoryOptionCombos"] {
		if ms.cocs[id].Name == "default" {
			return id
		}
	}
	return ""
}

// ---- metadata API ----

func (s *Server) metadataGet(rq *request, seg []string) {
	if !rq.has(AuthMetadataRead) {
		s.forbidden(rq, "You don't have the proper permissions to read objects of this type.")
		return
	}
	coll := seg[0]
	s.mu.Lock()
	objs := s.md.objects(coll)
	s.mu.Unlock()

	if len(seg) >= 2 {
		for _, o := range objs {
			if o["id"] == seg[1] {
				if len(seg) > 2 {
					s.notFound(rq)
					return
				}
				fields := rq.q.Get("fields")
				if fields == "" {
					fields = "*"
				}
				fs, err := parseFields(fields)
				if err != nil {
					s.conflict(rq, err.Error(), "E7651")
					return
				}
				writeJSON(rq.w, 200, s.expand(fs, o))
				return
			}
		}
		writeJSON(rq.w, http.StatusNotFound, webMessage{
			HTTPStatus: "Not Found", HTTPStatusCode: 404, Status: "ERROR",
			Message: fmt.Sprintf("%s with id %s could not be found.", metadataCollections[coll], seg[1]),
		})
		return
	}

	filters, err := parseFilters(rq.q["filter"])
	if err != nil {
		s.badRequest(rq, err.Error())
		return
	}
	or := strings.EqualFold(rq.q.Get("rootJunction"), "OR")
	var hits []map[string]any
	for _, o := range objs {
		if matchFilters(o, filters, or) {
			hits = append(hits, o)
		}
	}
	if order := rq.q.Get("order"); order != "" {
		prop, dir, _ := strings.Cut(order, ":")
		sort.SliceStable(hits, func(i, j int) bool {
			a, b := fmt.Sprint(hits[i][prop]), fmt.Sprint(hits[j][prop])
			if strings.HasPrefix(strings.ToLower(dir), "desc") {
				return a > b
			}
			return a < b
		})
	}
	fields := rq.q.Get("fields")
	if fields == "" {
		fields = "id,displayName"
	}
	fs, err := parseFields(fields)
	if err != nil {
		s.conflict(rq, err.Error(), "E7651")
		return
	}

	total := len(hits)
	resp := map[string]any{}
	if rq.q.Get("paging") != "false" {
		page, pageSize, perr := pageParams(rq.q, 50)
		if perr != nil {
			s.conflict(rq, perr.Error(), "")
			return
		}
		pageCount := (total + pageSize - 1) / pageSize
		pager := map[string]any{"page": page, "pageCount": pageCount, "total": total, "pageSize": pageSize}
		if page < pageCount {
			pager["nextPage"] = s.pageURL(rq, page+1)
		}
		if page > 1 {
			pager["prevPage"] = s.pageURL(rq, page-1)
		}
		resp["pager"] = pager
		from := (page - 1) * pageSize
		if from > total {
			from = total
		}
		to := from + pageSize
		if to > total {
			to = total
		}
		hits = hits[from:to]
	}
	list := make([]any, 0, len(hits))
	for _, o := range hits {
		list = append(list, s.expand(fs, o))
	}
	resp[coll] = list
	writeJSON(rq.w, 200, resp)
}

func (s *Server) pageURL(rq *request, page int) string {
	q := url.Values{}
	for k, v := range rq.q {
		q[k] = v
	}
	q.Set("page", strconv.Itoa(page))
	return s.URL() + rq.r.URL.Path + "?" + q.Encode()
}

func pageParams(q url.Values, defSize int) (int, int, error) {
	page, pageSize := 1, defSize
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, 0, fmt.Errorf("Invalid page: %s", v)
		}
		page = n
	}
	if v := q.Get("pageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, 0, fmt.Errorf("Invalid pageSize: %s", v)
		}
		pageSize = n
	}
	return page, pageSize, nil
}

// ---- fields ----

// field is one node of a DHIS2 field filter: name, optional children.
type field struct {
	name     string
	exclude  bool
	children []field
}

func parseFields(s string) ([]field, error) {
	fs, rest, err := parseFieldList(s, 0)
	if err != nil {
		return nil, err
	}
	if rest != len(s) {
		return nil, fmt.Errorf("Illegal fields expression. Expected `,`, `[` or `]` at position %d but found `%c`", rest, s[rest])
	}
	return fs, nil
}

func parseFieldList(s string, i int) ([]field, int, error) {
	var out []field
	for i < len(s) {
		start := i
		for i < len(s) && s[i] != ',' && s[i] != '[' && s[i] != ']' && s[i] != '(' {
			i++
		}
		f := field{name: strings.TrimSpace(s[start:i])}
		if strings.HasPrefix(f.name, "!") {
			f.exclude, f.name = true, f.name[1:]
		}
		if i < len(s) && (s[i] == '[' || s[i] == '(') {
			close := byte(']')
			if s[i] == '(' {
				close = ')'
			}
			kids, j, err := parseFieldList(s, i+1)
			if err != nil {
				return nil, 0, err
			}
			if j >= len(s) || s[j] != close {
				return nil, 0, fmt.Errorf("Illegal fields expression. Expected `%c` at position %d", close, j)
			}
			f.children = kids
			i = j + 1
		}
		if f.name != "" {
			out = append(out, f)
		}
		if i < len(s) && s[i] == ',' {
			i++
			continue
		}
		break
	}
	return out, i, nil
}

// expand applies a field filter to an object; references ({"id":…}) are
// resolved against the metadata store when children are asked for.
func (s *Server) expand(fs []field, o map[string]any) map[string]any {
	out := map[string]any{}
	all := false
	for _, f := range fs {
		if !f.exclude && (f.name == "*" || f.name == ":all" || f.name == ":owner") {
			all = true
		}
	}
	if all {
		for k, v := range o {
			out[k] = v
		}
	}
	for _, f := range fs {
		switch {
		case f.exclude:
			delete(out, f.name)
		case f.name == ":identifiable" || f.name == ":nameable":
			for _, k := range []string{"id", "code", "name", "displayName", "shortName", "displayShortName", "created", "lastUpdated"} {
				if v, ok := o[k]; ok {
					out[k] = v
				}
			}
		case strings.HasPrefix(f.name, ":") || f.name == "*":
		default:
			v, ok := o[f.name]
			if !ok {
				continue
			}
			if len(f.children) > 0 {
				v = s.expandValue(f.name, f.children, v)
			}
			out[f.name] = v
		}
	}
	return out
}

func (s *Server) expandValue(prop string, kids []field, v any) any {
	switch t := v.(type) {
	case []any:
		res := make([]any, 0, len(t))
		for _, e := range t {
			res = append(res, s.expandValue(prop, kids, e))
		}
		return res
	case map[string]any:
		full := t
		if id, ok := t["id"].(string); ok && len(t) == 1 {
			if o := s.lookupRef(prop, id); o != nil {
				full = o
			}
		}
		return s.expand(kids, full)
	}
	return v
}

// refCollections maps a reference property to the collection it points at.
var refCollections = map[string]string{
	"dataElement": "dataElements", "dataElements": "dataElements",
	"dataSet": "dataSets", "dataSets": "dataSets",
	"organisationUnits": "organisationUnits", "parent": "organisationUnits", "children": "organisationUnits",
	"categoryCombo": "categoryCombos", "categoryOptionCombos": "categoryOptionCombos",
	"programs": "programs", "program": "programs", "trackedEntityType": "trackedEntityTypes",
	"trackedEntityAttribute": "trackedEntityAttributes", "optionSet": "optionSets",
}

func (s *Server) lookupRef(prop, id string) map[string]any {
	coll := refCollections[prop]
	if coll == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.md.objects(coll) {
		if o["id"] == id {
			return o
		}
	}
	return nil
}

// ---- filters ----

type filter struct {
	path []string
	op   string
	val  string
}

var filterOps = map[string]bool{
	"eq": true, "!eq": true, "ne": true, "like": true, "!like": true, "ilike": true, "!ilike": true,
	"$like": true, "$ilike": true, "like$": true, "ilike$": true, "in": true, "!in": true,
	"null": true, "!null": true, "empty": true, "token": true, "gt": true, "ge": true, "lt": true, "le": true,
}

func parseFilters(raw []string) ([]filter, error) {
	var out []filter
	for _, r := range raw {
		parts := strings.SplitN(r, ":", 3)
		if len(parts) < 2 {
			return nil, fmt.Errorf("Invalid filter: %s", r)
		}
		op := parts[1]
		if !filterOps[op] {
			return nil, fmt.Errorf("Operator not supported: `%s`", op)
		}
		f := filter{path: strings.Split(parts[0], "."), op: op}
		if len(parts) == 3 {
			f.val = parts[2]
		} else if op != "null" && op != "!null" && op != "empty" {
			return nil, fmt.Errorf("Invalid filter: %s", r)
		}
		out = append(out, f)
	}
	return out, nil
}

func matchFilters(o map[string]any, fs []filter, or bool) bool {
	if len(fs) == 0 {
		return true
	}
	for _, f := range fs {
		ok := matchFilter(o, f)
		if or && ok {
			return true
		}
		if !or && !ok {
			return false
		}
	}
	return !or
}

// values collects the scalar values at a property path (arrays fan out).
func values(v any, path []string) []string {
	if len(path) == 0 {
		switch t := v.(type) {
		case nil:
			return nil
		case []any:
			var out []string
			for _, e := range t {
				out = append(out, values(e, nil)...)
			}
			return out
		case map[string]any:
			// A reference compares by its id ("parent:eq:UID").
			if id, ok := t["id"]; ok {
				return []string{fmt.Sprint(id)}
			}
			return []string{"{}"}
		default:
			return []string{fmt.Sprint(t)}
		}
	}
	switch t := v.(type) {
	case map[string]any:
		return values(t[path[0]], path[1:])
	case []any:
		var out []string
		for _, e := range t {
			out = append(out, values(e, path)...)
		}
		return out
	}
	return nil
}

func matchFilter(o map[string]any, f filter) bool {
	if len(f.path) == 1 && f.path[0] == "identifiable" && f.op == "token" {
		hay := strings.ToLower(fmt.Sprint(o["id"], " ", o["code"], " ", o["name"]))
		for _, tok := range strings.Fields(strings.ToLower(f.val)) {
			if !strings.Contains(hay, tok) {
				return false
			}
		}
		return true
	}
	vals := values(o, f.path)
	neg := strings.HasPrefix(f.op, "!")
	op := strings.TrimPrefix(f.op, "!")
	any := false
	switch op {
	case "null":
		any = len(vals) == 0
	case "empty":
		any = len(vals) == 0
	default:
		for _, v := range vals {
			if matchOp(op, v, f.val) {
				any = true
				break
			}
		}
	}
	if neg {
		return !any
	}
	return any
}

func matchOp(op, v, want string) bool {
	lv, lw := strings.ToLower(v), strings.ToLower(want)
	switch op {
	case "eq":
		return v == want
	case "ne":
		return v != want
	case "like":
		return strings.Contains(v, want)
	case "ilike", "token":
		return strings.Contains(lv, lw)
	case "$like":
		return strings.HasPrefix(v, want)
	case "$ilike":
		return strings.HasPrefix(lv, lw)
	case "like$":
		return strings.HasSuffix(v, want)
	case "ilike$":
		return strings.HasSuffix(lv, lw)
	case "in":
		for _, x := range strings.Split(strings.Trim(want, "[]"), ",") {
			if strings.TrimSpace(x) == v {
				return true
			}
		}
		return false
	case "gt", "ge", "lt", "le":
		a, errA := strconv.ParseFloat(v, 64)
		b, errB := strconv.ParseFloat(want, 64)
		if errA != nil || errB != nil {
			c := strings.Compare(v, want)
			return (op == "gt" && c > 0) || (op == "ge" && c >= 0) || (op == "lt" && c < 0) || (op == "le" && c <= 0)
		}
		return (op == "gt" && a > b) || (op == "ge" && a >= b) || (op == "lt" && a < b) || (op == "le" && a <= b)
	}
	return false
}
