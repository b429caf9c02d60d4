package dhis2

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Tracker object types as they appear in reports.
const (
	typeTE  = "TRACKED_ENTITY"
	typeEN  = "ENROLLMENT"
	typeEV  = "EVENT"
	typeREL = "RELATIONSHIP"
)

var trackerTypes = []string{typeTE, typeEN, typeEV, typeREL}

type trackerStats struct {
	Created int `json:"created"`
	Updated int `json:"updated"`
	Deleted int `json:"deleted"`
	Ignored int `json:"ignored"`
	Total   int `json:"total"`
}

func (st *trackerStats) add(o trackerStats) {
	st.Created += o.Created
	st.Updated += o.Updated
	st.Deleted += o.Deleted
	st.Ignored += o.Ignored
	st.Total += o.Total
}

type errorReport struct {
	Message     string `json:"message"`
	ErrorCode   string `json:"errorCode"`
	TrackerType string `json:"trackerType"`
	UID         string `json:"uid"`
}

type objectReport struct {
	TrackerType  string        `json:"trackerType"`
	UID          string        `json:"uid"`
	ErrorReports []errorReport `json:"errorReports"`
}

type typeReport struct {
	TrackerType   string         `json:"trackerType"`
	Stats         trackerStats   `json:"stats"`
	ObjectReports []objectReport `json:"objectReports"`
}

type validationReport struct {
	ErrorReports   []errorReport `json:"errorReports"`
	WarningReports []errorReport `json:"warningReports"`
}

type bundleReport struct {
	TypeReportMap map[string]*typeReport `json:"typeReportMap"`
}

// importReport is the tracker ImportReport (tracker.md "Import Summary
// Structure"; docs-tracker-import-report.json).
type importReport struct {
	Status           string           `json:"status"`
	ValidationReport validationReport `json:"validationReport"`
	Stats            trackerStats     `json:"stats"`
	BundleReport     *bundleReport    `json:"bundleReport,omitempty"`
	TimingsStats     map[string]any   `json:"timingsStats,omitempty"`
	Message          string           `json:"message,omitempty"`
}

// forMode trims a report to what reportMode asks for: ERRORS drops
// warnings and timings, WARNINGS drops timings, FULL keeps everything.
func (r *importReport) forMode(mode string) *importReport {
	c := *r
	switch strings.ToUpper(mode) {
	case "FULL":
	case "WARNINGS":
		c.TimingsStats = nil
	default:
		c.TimingsStats = nil
		c.ValidationReport.WarningReports = []errorReport{}
	}
	return &c
}

type trackerParams struct {
	async      bool
	validate   bool // importMode=VALIDATE
	strategy   string
	atomicAll  bool
	failFast   bool
	skipValid  bool
	reportMode string
	schemes    map[string]string
}

func enumParam(q map[string][]string, name, def string, allowed ...string) (string, error) {
	v := ""
	if vs := q[name]; len(vs) > 0 {
		v = strings.ToUpper(vs[0])
	}
	if v == "" {
		return def, nil
	}
	for _, a := range allowed {
		if v == a {
			return v, nil
		}
	}
	return "", fmt.Errorf("Value '%s' is not valid for parameter %s. Valid values are: %v", q[name][0], name, allowed)
}

func (s *Server) trackerParams(rq *request) (*trackerParams, error) {
	q := rq.q
	p := &trackerParams{async: true, schemes: map[string]string{}}
	// async defaults to true (2.36–2.41: only async=false selects the sync
	// handler).
	if v := q.Get("async"); v != "" {
		if v != "true" && v != "false" {
			return nil, fmt.Errorf("Value '%s' is not valid for parameter async", v)
		}
		p.async = v == "true"
	}
	mode, err := enumParam(q, "importMode", "COMMIT", "COMMIT", "VALIDATE")
	if err != nil {
		return nil, err
	}
	p.validate = mode == "VALIDATE"
	if p.strategy, err = enumParam(q, "importStrategy", "CREATE_AND_UPDATE", "CREATE", "UPDATE", "CREATE_AND_UPDATE", "DELETE"); err != nil {
		return nil, err
	}
	atomic, err := enumParam(q, "atomicMode", "ALL", "ALL", "OBJECT")
	if err != nil {
		return nil, err
	}
	p.atomicAll = atomic == "ALL"
	vm, err := enumParam(q, "validationMode", "FULL", "FULL", "FAIL_FAST", "SKIP")
	if err != nil {
		return nil, err
	}
	p.failFast, p.skipValid = vm == "FAIL_FAST", vm == "SKIP"
	if p.reportMode, err = enumParam(q, "reportMode", "ERRORS", "ERRORS", "WARNINGS", "FULL"); err != nil {
		return nil, err
	}
	for _, k := range []string{"idScheme", "orgUnitIdScheme", "programIdScheme", "dataElementIdScheme"} {
		v := strings.ToUpper(q.Get(k))
		if v == "" {
			continue
		}
		if !idSchemeNames[v] {
			return nil, fmt.Errorf("Value '%s' is not valid for parameter %s. Valid values are: [UID, CODE, NAME, ATTRIBUTE]", q.Get(k), k)
		}
		p.schemes[k] = v
	}
	return p, nil
}

func (p *trackerParams) scheme(k string) string {
	if v := p.schemes[k]; v != "" {
		return v
	}
	if v := p.schemes["idScheme"]; v != "" {
		return v
	}
	return "UID"
}

// bundle is a flattened tracker payload.
type bundle struct {
	tes, ens, evs, rels []map[string]any
}

func listOf(m map[string]any, k string) []map[string]any {
	raw, _ := m[k].([]any)
	var out []map[string]any
	for _, r := range raw {
		if o, ok := r.(map[string]any); ok {
			out = append(out, o)
		}
	}
	return out
}

// flatten turns a nested payload into flat lists, minting UIDs for nested
// objects that have none and linking children to their parents (tracker.md:
// "the server flattens").
func flatten(payload map[string]any) (*bundle, error) {
	b := &bundle{}
	for _, k := range []string{"trackedEntities", "enrollments", "events", "relationships"} {
		if v, ok := payload[k]; ok && v != nil {
			if _, isList := v.([]any); !isList {
				return nil, fmt.Errorf("JSON parse error: %s must be an array", k)
			}
		}
	}
	addEvent := func(ev map[string]any) { b.evs = append(b.evs, ev) }
	addEnrollment := func(en map[string]any) {
		if strv(en, "enrollment") == "" {
			en["enrollment"] = newUID()
		}
		for _, ev := range listOf(en, "events") {
			ev["enrollment"] = en["enrollment"]
			if strv(ev, "program") == "" && strv(en, "program") != "" {
				ev["program"] = en["program"]
			}
			addEvent(ev)
		}
		delete(en, "events")
		b.ens = append(b.ens, en)
	}
	for _, te := range listOf(payload, "trackedEntities") {
		if strv(te, "trackedEntity") == "" {
			te["trackedEntity"] = newUID()
		}
		for _, en := range listOf(te, "enrollments") {
			en["trackedEntity"] = te["trackedEntity"]
			addEnrollment(en)
		}
		b.rels = append(b.rels, listOf(te, "relationships")...)
		delete(te, "enrollments")
		delete(te, "relationships")
		b.tes = append(b.tes, te)
	}
	for _, en := range listOf(payload, "enrollments") {
		addEnrollment(en)
	}
	for _, ev := range listOf(payload, "events") {
		addEvent(ev)
	}
	b.rels = append(b.rels, listOf(payload, "relationships")...)
	for _, ev := range b.evs {
		if strv(ev, "event") == "" {
			ev["event"] = newUID()
		}
	}
	for _, r := range b.rels {
		if strv(r, "relationship") == "" {
			r["relationship"] = newUID()
		}
	}
	return b, nil
}

// timestamp layouts the importer accepts.
var timeLayouts = []string{
	"2006-01-02T15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05Z07:00", "2006-01-02T15:04", "2006-01-02",
}

func parseInstant(v string) (time.Time, bool) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// checkDates rejects unparsable timestamps the way Jackson does: 400 for the
// whole request.
func checkDates(b *bundle) error {
	check := func(o map[string]any, keys ...string) error {
		for _, k := range keys {
			if v, ok := str(o, k); ok && v != "" {
				if _, ok := parseInstant(v); !ok {
					return fmt.Errorf("JSON parse error: Cannot deserialize value of type `java.time.Instant` from String \"%s\"", v)
				}
			}
		}
		return nil
	}
	for _, o := range b.ens {
		if err := check(o, "enrolledAt", "occurredAt", "completedAt"); err != nil {
			return err
		}
	}
	for _, o := range b.evs {
		if err := check(o, "occurredAt", "scheduledAt", "completedAt"); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) postTracker(rq *request) {
	if !rq.has(AuthTrackerImport) && !rq.has(AuthTrackedEntityAdd) {
		s.forbidden(rq, "Access is denied")
		return
	}
	p, err := s.trackerParams(rq)
	if err != nil {
		s.badRequest(rq, err.Error())
		return
	}
	var payload map[string]any
	if !s.decodeJSON(rq, &payload) {
		return
	}
	b, err := flatten(payload)
	if err != nil {
		s.badRequest(rq, err.Error())
		return
	}
	if err := checkDates(b); err != nil {
		s.badRequest(rq, err.Error())
		return
	}
	user := rq.user
	if p.async {
		j := s.newJob("TRACKER_IMPORT_JOB", user, func() any { return s.runTrackerImport(p, b, user) })
		writeWebMessage(rq.w, http.StatusOK, "OK", "Tracker job added", map[string]any{
			"id":       j.id,
			"location": s.URL() + "/api/tracker/jobs/" + j.id,
		})
		return
	}
	rep := s.runTrackerImport(p, b, user).forMode(p.reportMode)
	code := http.StatusOK
	if rep.Status == "ERROR" {
		code = http.StatusConflict
	}
	writeJSON(rq.w, code, rep)
}

func (s *Server) trackerJob(rq *request, id string, report bool) {
	if rq.r.Method != http.MethodGet {
		s.methodNotAllowed(rq)
		return
	}
	if !report {
		j, ok := s.poll(id, "TRACKER_IMPORT_JOB")
		if !ok {
			writeJSON(rq.w, http.StatusOK, []any{})
			return
		}
		writeJSON(rq.w, http.StatusOK, s.notifications(j, "TRACKER_IMPORT_JOB"))
		return
	}
	s.mu.Lock()
	j := s.jobs[id]
	var rep *importReport
	if j != nil && j.done && !j.evicted {
		rep, _ = j.result.(*importReport)
	}
	s.mu.Unlock()
	if rep == nil {
		writeWebMessage(rq.w, http.StatusNotFound, "ERROR", fmt.Sprintf("TrackerImportReport with id %s could not be found.", id), nil)
		return
	}
	mode := rq.q.Get("reportMode")
	if mode == "" {
		mode = "ERRORS"
	}
	writeJSON(rq.w, http.StatusOK, rep.forMode(mode))
}

// ---- validation ----

type tval struct {
	s      *Server
	p      *trackerParams
	b      *bundle
	errs   []errorReport
	warns  []errorReport
	bad    map[string]bool // "TYPE/uid" of invalid objects
	exists map[string]bool // "TYPE/uid" already stored (and not deleted)
	now    time.Time
	// payload indexes
	teIn, enIn, evIn map[string]map[string]any
}

func (v *tval) fail(typ, uid, code, format string, args ...any) {
	v.errs = append(v.errs, errorReport{Message: fmt.Sprintf(format, args...), ErrorCode: code, TrackerType: typ, UID: uid})
	v.bad[typ+"/"+uid] = true
}

func (v *tval) invalid(typ, uid string) bool { return v.bad[typ+"/"+uid] }

// checkStrategy applies importStrategy to one object; false means it failed.
func (v *tval) checkStrategy(typ, uid string, exists bool, createCode, createMsg, updateCode, updateMsg string) bool {
	switch v.p.strategy {
	case "CREATE":
		if exists {
			v.fail(typ, uid, createCode, createMsg, uid)
			return false
		}
	case "UPDATE", "DELETE":
		if !exists {
			v.fail(typ, uid, updateCode, updateMsg, uid)
			return false
		}
	}
	return true
}

func (v *tval) uidOK(typ, uid string) bool {
	if !validUID(uid) {
		v.fail(typ, uid, "E1048", "Object: `%s`, uid: `%s`, has an invalid uid format.", uid, uid)
		return false
	}
	return true
}

func (s *Server) runTrackerImport(p *trackerParams, b *bundle, user string) *importReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := time.Now()
	v := &tval{s: s, p: p, b: b, bad: map[string]bool{}, exists: map[string]bool{}, now: s.opts.Now(),
		teIn: map[string]map[string]any{}, enIn: map[string]map[string]any{}, evIn: map[string]map[string]any{}}
	for _, o := range b.tes {
		v.teIn[strv(o, "trackedEntity")] = o
	}
	for _, o := range b.ens {
		v.enIn[strv(o, "enrollment")] = o
	}
	for _, o := range b.evs {
		v.evIn[strv(o, "event")] = o
	}
	if !p.skipValid {
		for _, o := range b.tes {
			v.validateTE(o)
			if p.failFast && len(v.errs) > 0 {
				break
			}
		}
		for _, o := range b.ens {
			if p.failFast && len(v.errs) > 0 {
				break
			}
			v.validateEnrollment(o)
		}
		for _, o := range b.evs {
			if p.failFast && len(v.errs) > 0 {
				break
			}
			v.validateEvent(o)
		}
		for _, o := range b.rels {
			if p.failFast && len(v.errs) > 0 {
				break
			}
			v.validateRelationship(o)
		}
	} else {
		for _, o := range b.tes {
			uid := strv(o, "trackedEntity")
			v.exists[typeTE+"/"+uid] = s.tes[uid] != nil
		}
		for _, o := range b.ens {
			uid := strv(o, "enrollment")
			v.exists[typeEN+"/"+uid] = s.enrs[uid] != nil
		}
		for _, o := range b.evs {
			uid := strv(o, "event")
			v.exists[typeEV+"/"+uid] = s.events[uid] != nil
		}
		for _, o := range b.rels {
			uid := strv(o, "relationship")
			v.exists[typeREL+"/"+uid] = s.rels[uid] != nil
		}
	}
	total := len(b.tes) + len(b.ens) + len(b.evs) + len(b.rels)
	rep := &importReport{
		ValidationReport: validationReport{ErrorReports: v.errs, WarningReports: v.warns},
	}
	if rep.ValidationReport.ErrorReports == nil {
		rep.ValidationReport.ErrorReports = []errorReport{}
	}
	if rep.ValidationReport.WarningReports == nil {
		rep.ValidationReport.WarningReports = []errorReport{}
	}
	status := "OK"
	if len(v.warns) > 0 {
		status = "WARNING"
	}
	if len(v.errs) > 0 {
		status = "ERROR"
	}
	rep.Status = status
	invalid := len(v.bad)
	timings := func() map[string]any {
		return map[string]any{"timers": map[string]any{"validation": fmt.Sprintf("%.5f sec.", time.Since(start).Seconds()),
			"commit": "0.00000 sec.", "totalImport": fmt.Sprintf("%.5f sec.", time.Since(start).Seconds())}}
	}
	if p.validate || (p.atomicAll && len(v.errs) > 0) {
		// Nothing is committed: everything that failed is ignored (ALL mode
		// ignores the whole bundle).
		ignored := invalid
		if !p.validate {
			ignored = total
		}
		rep.Stats = trackerStats{Ignored: ignored, Total: ignored}
		rep.TimingsStats = timings()
		return rep
	}
	br := &bundleReport{TypeReportMap: map[string]*typeReport{}}
	for _, t := range trackerTypes {
		br.TypeReportMap[t] = &typeReport{TrackerType: t, ObjectReports: []objectReport{}}
	}
	commit := func(typ, uid string, apply func() string) {
		tr := br.TypeReportMap[typ]
		tr.Stats.Total++
		if v.invalid(typ, uid) {
			tr.Stats.Ignored++
			return
		}
		switch apply() {
		case "created":
			tr.Stats.Created++
		case "updated":
			tr.Stats.Updated++
		case "deleted":
			tr.Stats.Deleted++
		}
		tr.ObjectReports = append(tr.ObjectReports, objectReport{TrackerType: typ, UID: uid, ErrorReports: []errorReport{}})
	}
	stamp := v.now.Format(dhisTime)
	// Deletion runs children first (events → enrollments → TEs), creation
	// parents first.
	if p.strategy == "DELETE" {
		for _, o := range b.rels {
			uid := strv(o, "relationship")
			commit(typeREL, uid, func() string { delete(s.rels, uid); return "deleted" })
		}
		for _, o := range b.evs {
			uid := strv(o, "event")
			commit(typeEV, uid, func() string { s.deleteEvent(uid); return "deleted" })
		}
		for _, o := range b.ens {
			uid := strv(o, "enrollment")
			commit(typeEN, uid, func() string { s.deleteEnrollment(uid); return "deleted" })
		}
		for _, o := range b.tes {
			uid := strv(o, "trackedEntity")
			commit(typeTE, uid, func() string { s.deleteTE(uid); return "deleted" })
		}
	} else {
		for _, o := range b.tes {
			uid := strv(o, "trackedEntity")
			commit(typeTE, uid, func() string { return s.saveTE(o, stamp) })
		}
		for _, o := range b.ens {
			uid := strv(o, "enrollment")
			commit(typeEN, uid, func() string { return s.saveEnrollment(o, stamp) })
		}
		for _, o := range b.evs {
			uid := strv(o, "event")
			commit(typeEV, uid, func() string { return s.saveEvent(o, stamp) })
		}
		for _, o := range b.rels {
			uid := strv(o, "relationship")
			commit(typeREL, uid, func() string { return s.saveRelationship(o, stamp) })
		}
	}
	for _, t := range trackerTypes {
		rep.Stats.add(br.TypeReportMap[t].Stats)
	}
	rep.BundleReport = br
	rep.TimingsStats = timings()
	return rep
}

func (v *tval) programFor(key string) *Program {
	md := v.s.md
	return md.progs[md.resolveID("programs", v.p.scheme("programIdScheme"), key)]
}

func (v *tval) orgUnit(key string) string {
	return v.s.md.resolveID("organisationUnits", v.p.scheme("orgUnitIdScheme"), key)
}

func (v *tval) validateTE(o map[string]any) {
	s, md := v.s, v.s.md
	uid := strv(o, "trackedEntity")
	if !v.uidOK(typeTE, uid) {
		return
	}
	stored := s.tes[uid]
	v.exists[typeTE+"/"+uid] = stored != nil
	if !v.checkStrategy(typeTE, uid, stored != nil, "E1002", "TrackedEntity: `%s`, already exists.", "E1063", "TrackedEntity: `%s`, does not exist.") {
		return
	}
	if v.p.strategy == "DELETE" {
		return
	}
	tetKey := strv(o, "trackedEntityType")
	if tetKey == "" {
		v.fail(typeTE, uid, "E1121", "Missing required trackedEntity property: `%s`.", "trackedEntityType")
		return
	}
	tet := md.tets[tetKey]
	if tet == nil {
		v.fail(typeTE, uid, "E1005", "Could not find TrackedEntityType: `%s`.", tetKey)
		return
	}
	ouKey := strv(o, "orgUnit")
	if ouKey == "" {
		v.fail(typeTE, uid, "E1121", "Missing required trackedEntity property: `%s`.", "orgUnit")
		return
	}
	ou := v.orgUnit(ouKey)
	if ou == "" {
		v.fail(typeTE, uid, "E1049", "Could not find OrganisationUnit: `%s` linked to TrackedEntity.", ouKey)
		return
	}
	o["orgUnit"] = ou
	if !v.validateAttributes(typeTE, uid, o) {
		return
	}
	// Mandatory TE type attributes (E1090), counting stored values on update.
	have := map[string]bool{}
	for _, a := range attrList(stored) {
		have[strv(a, "attribute")] = true
	}
	for _, a := range listOf(o, "attributes") {
		if _, ok := str(a, "value"); ok {
			have[strv(a, "attribute")] = true
		} else {
			delete(have, strv(a, "attribute"))
		}
	}
	for _, ta := range tet.TrackedEntityTypeAttributes {
		if ta.Mandatory && !have[ta.TrackedEntityAttribute.ID] {
			v.fail(typeTE, uid, "E1090", "Attribute: `%s` is mandatory in TrackedEntityType `%s` but not found in TrackedEntity `%s`.", ta.TrackedEntityAttribute.ID, tet.ID, uid)
			return
		}
	}
}

func attrList(stored map[string]any) []map[string]any {
	if stored == nil {
		return nil
	}
	return listOf(stored, "attributes")
}

// validateAttributes checks attribute values of a TE or an enrollment:
// existence (E1006), value type (E1007), option set (E1125), uniqueness
// (E1064).
func (v *tval) validateAttributes(typ, uid string, o map[string]any) bool {
	md := v.s.md
	teUID := uid
	if typ == typeEN {
		teUID = strv(o, "trackedEntity")
	}
	for _, a := range listOf(o, "attributes") {
		aid := strv(a, "attribute")
		if aid == "" {
			v.fail(typ, uid, "E1075", "Attribute: `%s` UID is missing.", "null")
			return false
		}
		tea := md.teas[aid]
		if tea == nil {
			v.fail(typ, uid, "E1006", "Attribute: `%s` does not exist.", aid)
			return false
		}
		val, ok := str(a, "value")
		if !ok || val == "" {
			continue // null deletes the value
		}
		norm, problem := validateValue(tea.ValueType, val)
		if problem != "" {
			v.fail(typ, uid, "E1007", "Error validating attribute value type: `%s`; Error: `%s`.", aid, problem)
			return false
		}
		a["value"] = norm
		if tea.OptionSet != nil {
			if os := md.opts[tea.OptionSet.ID]; os != nil && !hasOption(os, norm) {
				v.fail(typ, uid, "E1125", "Value `%s` is not a valid option code in OptionSet `%s`.", norm, os.ID)
				return false
			}
		}
		if tea.Unique && v.attributeTaken(aid, norm, teUID) {
			v.fail(typ, uid, "E1064", "Non-unique attribute value `%s` for attribute `%s`.", norm, aid)
			return false
		}
	}
	return true
}

// attributeTaken: another TE (stored or earlier in the payload) already has
// this unique value.
func (v *tval) attributeTaken(attr, val, teUID string) bool {
	for id, te := range v.s.tes {
		if id == teUID {
			continue
		}
		for _, a := range attrList(te) {
			if strv(a, "attribute") == attr && strv(a, "value") == val {
				return true
			}
		}
	}
	for _, te := range v.b.tes {
		id := strv(te, "trackedEntity")
		if id == teUID || v.invalid(typeTE, id) {
			continue
		}
		for _, a := range listOf(te, "attributes") {
			if strv(a, "attribute") == attr && strv(a, "value") == val {
				// Only values before this one in the payload count; the
				// second holder is the one that fails.
				return v.seenBefore(id, teUID)
			}
		}
	}
	return false
}

func (v *tval) seenBefore(a, b string) bool {
	ia, ib := -1, -1
	for i, te := range v.b.tes {
		switch strv(te, "trackedEntity") {
		case a:
			ia = i
		case b:
			ib = i
		}
	}
	return ia >= 0 && (ib < 0 || ia < ib)
}

// teTypeOf finds a TE's type in the payload or the store.
func (v *tval) teTypeOf(te string) (string, bool) {
	if o := v.teIn[te]; o != nil {
		return strv(o, "trackedEntityType"), true
	}
	if o := v.s.tes[te]; o != nil {
		return strv(o, "trackedEntityType"), true
	}
	return "", false
}

func (v *tval) validateEnrollment(o map[string]any) {
	s := v.s
	uid := strv(o, "enrollment")
	if !v.uidOK(typeEN, uid) {
		return
	}
	stored := s.enrs[uid]
	v.exists[typeEN+"/"+uid] = stored != nil
	if !v.checkStrategy(typeEN, uid, stored != nil, "E1080", "Enrollment: `%s` already exists.", "E1081", "Enrollment: `%s` do not exist.") {
		return
	}
	if v.p.strategy == "DELETE" {
		return
	}
	progKey := strv(o, "program")
	if progKey == "" {
		v.fail(typeEN, uid, "E1122", "Missing required enrollment property: `%s`.", "program")
		return
	}
	prog := v.programFor(progKey)
	if prog == nil {
		v.fail(typeEN, uid, "E1069", "Could not find Program: `%s` linked to Enrollment.", progKey)
		return
	}
	o["program"] = prog.ID
	if prog.ProgramType == "WITHOUT_REGISTRATION" {
		v.fail(typeEN, uid, "E1014", "Provided Program: `%s` is a Program without registration. An Enrollment cannot be created into Program without registration.", prog.ID)
		return
	}
	ouKey := strv(o, "orgUnit")
	if ouKey == "" {
		v.fail(typeEN, uid, "E1122", "Missing required enrollment property: `%s`.", "orgUnit")
		return
	}
	ou := v.orgUnit(ouKey)
	if ou == "" {
		v.fail(typeEN, uid, "E1070", "Could not find OrganisationUnit: `%s` linked to Enrollment.", ouKey)
		return
	}
	o["orgUnit"] = ou
	if !programAt(prog, ou) {
		v.fail(typeEN, uid, "E1041", "Enrollment OrganisationUnit: `%s` and Program: `%s` do not match.", ou, prog.ID)
		return
	}
	te := strv(o, "trackedEntity")
	if te == "" {
		v.fail(typeEN, uid, "E1122", "Missing required enrollment property: `%s`.", "trackedEntity")
		return
	}
	if v.invalid(typeTE, te) {
		v.fail(typeEN, uid, "E5000", "%s `%s` cannot be created because %s `%s` referenced by it could not be created.", typeEN, uid, typeTE, te)
		return
	}
	tet, found := v.teTypeOf(te)
	if !found {
		v.fail(typeEN, uid, "E1068", "Could not find TrackedEntity: `%s` linked to Enrollment.", te)
		return
	}
	if prog.TrackedEntityType != nil && tet != prog.TrackedEntityType.ID {
		v.fail(typeEN, uid, "E1022", "TrackedEntity: `%s` must have same TrackedEntityType as Program `%s`.", te, prog.ID)
		return
	}
	enrolled, hasEnrolled := str(o, "enrolledAt")
	if !hasEnrolled || enrolled == "" {
		v.fail(typeEN, uid, "E1025", "Property enrolledAt is null.")
		return
	}
	if t, _ := parseInstant(enrolled); t.After(v.now) {
		v.fail(typeEN, uid, "E1020", "Enrollment date: `%s` cannot be a future date.", enrolled)
		return
	}
	if occ := strv(o, "occurredAt"); occ != "" {
		if t, _ := parseInstant(occ); t.After(v.now) {
			v.fail(typeEN, uid, "E1021", "Incident date: `%s` cannot be a future date.", occ)
			return
		}
	}
	// Already enrolled (E1015 active, E1016 only once); only new enrollments.
	if stored == nil {
		status := strings.ToUpper(strv(o, "status"))
		if status == "" {
			status = "ACTIVE"
		}
		for id, e := range s.enrs {
			if id != uid && strv(e, "trackedEntity") == te && strv(e, "program") == prog.ID {
				if prog.OnlyEnrollOnce {
					v.fail(typeEN, uid, "E1016", "TrackedEntity: `%s` already has an Enrollment in Program: `%s`, and this Program only allows enrolling once.", te, prog.ID)
					return
				}
				if status == "ACTIVE" && strv(e, "status") == "ACTIVE" {
					v.fail(typeEN, uid, "E1015", "TrackedEntity: `%s` already has an active Enrollment in Program `%s`.", te, prog.ID)
					return
				}
			}
		}
	}
	// Attributes must be program attributes (E1019).
	progAttr := map[string]bool{}
	for _, pa := range prog.ProgramTrackedEntityAttributes {
		progAttr[pa.TrackedEntityAttribute.ID] = true
	}
	for _, a := range listOf(o, "attributes") {
		aid := strv(a, "attribute")
		if aid != "" && s.md.teas[aid] != nil && !progAttr[aid] {
			v.fail(typeEN, uid, "E1019", "Only ProgramAttributes are allowed for Enrollment, invalid Attribute: `%s`.", aid)
			return
		}
	}
	if !v.validateAttributes(typeEN, uid, o) {
		return
	}
	// Mandatory program attributes (E1018): from the enrollment, the TE in
	// the payload or the stored TE.
	have := map[string]bool{}
	for _, a := range attrList(s.tes[te]) {
		have[strv(a, "attribute")] = true
	}
	if t := v.teIn[te]; t != nil {
		for _, a := range listOf(t, "attributes") {
			if _, ok := str(a, "value"); ok {
				have[strv(a, "attribute")] = true
			}
		}
	}
	for _, a := range listOf(o, "attributes") {
		if _, ok := str(a, "value"); ok {
			have[strv(a, "attribute")] = true
		}
	}
	for _, pa := range prog.ProgramTrackedEntityAttributes {
		if pa.Mandatory && !have[pa.TrackedEntityAttribute.ID] {
			v.fail(typeEN, uid, "E1018", "Attribute: `%s` is mandatory in Program `%s` but not declared in Enrollment `%s`.", pa.TrackedEntityAttribute.ID, prog.ID, uid)
			return
		}
	}
}

func programAt(p *Program, ou string) bool {
	if len(p.OrganisationUnits) == 0 {
		return true
	}
	for _, r := range p.OrganisationUnits {
		if r.ID == ou {
			return true
		}
	}
	return false
}

func (v *tval) validateEvent(o map[string]any) {
	s, md := v.s, v.s.md
	uid := strv(o, "event")
	if !v.uidOK(typeEV, uid) {
		return
	}
	stored := s.events[uid]
	v.exists[typeEV+"/"+uid] = stored != nil
	if !v.checkStrategy(typeEV, uid, stored != nil, "E1030", "Event: `%s` already exists.", "E1032", "Event: `%s` do not exist.") {
		return
	}
	if v.p.strategy == "DELETE" {
		return
	}
	stageID := strv(o, "programStage")
	if stageID == "" {
		// Event programs have one stage; DHIS2's EventProgramPreProcessor
		// fills it in.
		if p := v.programFor(strv(o, "program")); p != nil && p.ProgramType == "WITHOUT_REGISTRATION" && len(p.ProgramStages) == 1 {
			stageID = p.ProgramStages[0].ID
			o["programStage"] = stageID
		}
	}
	if stageID == "" {
		v.fail(typeEV, uid, "E1123", "Missing required event property: `%s`.", "programStage")
		return
	}
	stage := md.stages[stageID]
	if stage == nil {
		v.fail(typeEV, uid, "E1013", "Could not find ProgramStage: `%s`, linked to Event.", stageID)
		return
	}
	prog := md.progs[md.stageProgram[stageID]]
	if key := strv(o, "program"); key != "" {
		given := v.programFor(key)
		if given == nil {
			v.fail(typeEV, uid, "E1010", "Could not find Program: `%s`, linked to Event.", key)
			return
		}
		if given.ID != prog.ID {
			v.fail(typeEV, uid, "E1089", "Event: `%s` references ProgramStage `%s` which do not belong to Program `%s`.", uid, stageID, given.ID)
			return
		}
	}
	o["program"] = prog.ID
	ouKey := strv(o, "orgUnit")
	if ouKey == "" {
		v.fail(typeEV, uid, "E1123", "Missing required event property: `%s`.", "orgUnit")
		return
	}
	ou := v.orgUnit(ouKey)
	if ou == "" {
		v.fail(typeEV, uid, "E1011", "Could not find OrganisationUnit: `%s`, linked to Event.", ouKey)
		return
	}
	o["orgUnit"] = ou
	if !programAt(prog, ou) {
		v.fail(typeEV, uid, "E1029", "Event OrganisationUnit: `%s` and Program: `%s`, do not match.", ou, prog.ID)
		return
	}
	if prog.ProgramType != "WITHOUT_REGISTRATION" {
		en := strv(o, "enrollment")
		if en == "" {
			v.fail(typeEV, uid, "E1033", "Event: `%s` Enrollment value is null.", uid)
			return
		}
		if v.invalid(typeEN, en) {
			v.fail(typeEV, uid, "E5000", "%s `%s` cannot be created because %s `%s` referenced by it could not be created.", typeEV, uid, typeEN, en)
			return
		}
		var enrProg string
		if e := v.enIn[en]; e != nil {
			enrProg = strv(e, "program")
		} else if e := s.enrs[en]; e != nil {
			enrProg = strv(e, "program")
		} else {
			v.fail(typeEV, uid, "E1033", "Event: `%s` Enrollment value is null.", uid)
			return
		}
		if enrProg != prog.ID {
			v.fail(typeEV, uid, "E1079", "Event: `%s` Program: `%s` is different from Program defined in Enrollment `%s`.", uid, prog.ID, en)
			return
		}
		// Non-repeatable stage: one event per enrollment (E1039).
		if !stage.Repeatable && stored == nil {
			for id, e := range s.events {
				if id != uid && strv(e, "enrollment") == en && strv(e, "programStage") == stageID {
					v.fail(typeEV, uid, "E1039", "ProgramStage: `%s` is not repeatable and an Event already exists.", stageID)
					return
				}
			}
			for _, e := range v.b.evs {
				id := strv(e, "event")
				if id == uid {
					break
				}
				if strv(e, "enrollment") == en && strv(e, "programStage") == stageID && !v.invalid(typeEV, id) {
					v.fail(typeEV, uid, "E1039", "ProgramStage: `%s` is not repeatable and an Event already exists.", stageID)
					return
				}
			}
		}
	}
	status := strings.ToUpper(strv(o, "status"))
	if status == "" {
		status = "ACTIVE"
		o["status"] = status
	}
	switch status {
	case "ACTIVE", "COMPLETED", "VISITED", "SCHEDULE", "OVERDUE", "SKIPPED":
	default:
		v.fail(typeEV, uid, "E1123", "Missing required event property: `%s`.", "status")
		return
	}
	occ := strv(o, "occurredAt")
	if occ == "" && (prog.ProgramType == "WITHOUT_REGISTRATION" || status == "ACTIVE" || status == "COMPLETED") {
		v.fail(typeEV, uid, "E1031", "Event occurredAt date is missing.")
		return
	}
	if status == "SCHEDULE" && strv(o, "scheduledAt") == "" {
		v.fail(typeEV, uid, "E1050", "Event ScheduledAt date is missing.")
		return
	}
	inStage := map[string]bool{}
	for _, d := range stage.ProgramStageDataElements {
		inStage[d.DataElement.ID] = true
	}
	for _, dv := range listOf(o, "dataValues") {
		deKey := strv(dv, "dataElement")
		deID := md.resolveID("dataElements", v.p.scheme("dataElementIdScheme"), deKey)
		de := md.des[deID]
		if de == nil {
			v.fail(typeEV, uid, "E1304", "DataElement `%s` is not a valid DataElement.", deKey)
			return
		}
		dv["dataElement"] = deID
		if !inStage[deID] {
			v.fail(typeEV, uid, "E1305", "DataElement `%s` is not part of ProgramStage `%s`.", deID, stageID)
			return
		}
		val, ok := str(dv, "value")
		if !ok || val == "" {
			continue
		}
		norm, problem := validateValue(de.ValueType, val)
		if problem != "" {
			v.fail(typeEV, uid, "E1302", "DataElement `%s` is not valid: `%s`", deID, problem)
			return
		}
		dv["value"] = norm
		if de.OptionSet != nil {
			if os := md.opts[de.OptionSet.ID]; os != nil && !hasOption(os, norm) {
				v.fail(typeEV, uid, "E1125", "Value `%s` is not a valid option code in OptionSet `%s`.", norm, os.ID)
				return
			}
		}
	}
}

// relItem extracts the single entity a relationship side points at. Both
// {"trackedEntity":{"trackedEntity":"uid"}} (≤2.40) and {"trackedEntity":"uid"}
// (2.41) are accepted.
func relItem(side map[string]any) (typ, uid string, n int) {
	for _, k := range []struct{ key, typ string }{{"trackedEntity", typeTE}, {"enrollment", typeEN}, {"event", typeEV}} {
		switch x := side[k.key].(type) {
		case string:
			if x != "" {
				typ, uid = k.typ, x
				n++
			}
		case map[string]any:
			if id := strv(x, k.key); id != "" {
				typ, uid = k.typ, id
				n++
			}
		}
	}
	return
}

func (v *tval) validateRelationship(o map[string]any) {
	s := v.s
	uid := strv(o, "relationship")
	if !v.uidOK(typeREL, uid) {
		return
	}
	stored := s.rels[uid]
	v.exists[typeREL+"/"+uid] = stored != nil
	if !v.checkStrategy(typeREL, uid, stored != nil, "E4015", "Relationship: `%s` already exists.", "E4016", "Relationship: `%s` do not exist.") {
		return
	}
	if v.p.strategy == "DELETE" {
		return
	}
	rt := strv(o, "relationshipType")
	if rt == "" {
		v.fail(typeREL, uid, "E1124", "Missing required relationship property: `%s`.", "relationshipType")
		return
	}
	if s.md.rts[rt] == nil {
		v.fail(typeREL, uid, "E4006", "Could not find RelationshipType: `%s`.", rt)
		return
	}
	var ends [2]string
	for i, k := range []string{"from", "to"} {
		side, _ := o[k].(map[string]any)
		typ, id, n := relItem(side)
		if n != 1 {
			v.fail(typeREL, uid, "E4001", "RelationshipItem `%s` for Relationship `%s` is invalid as an item must be associated with exactly one of TrackedEntity, Enrollment, Event.", k, uid)
			return
		}
		if v.invalid(typ, id) {
			v.fail(typeREL, uid, "E5000", "%s `%s` cannot be created because %s `%s` referenced by it could not be created.", typeREL, uid, typ, id)
			return
		}
		found := false
		switch typ {
		case typeTE:
			found = v.teIn[id] != nil || s.tes[id] != nil
		case typeEN:
			found = v.enIn[id] != nil || s.enrs[id] != nil
		case typeEV:
			found = v.evIn[id] != nil || s.events[id] != nil
		}
		if !found {
			name := map[string]string{typeTE: "trackedEntity", typeEN: "enrollment", typeEV: "event"}[typ]
			v.fail(typeREL, uid, "E4012", "Could not find `%s`: `%s`, linked to relationship.", name, id)
			return
		}
		ends[i] = typ + "/" + id
	}
	if ends[0] == ends[1] {
		v.fail(typeREL, uid, "E4000", "Relationship: `%s` cannot link to itself.", uid)
	}
}

// ---- persistence ----

func cloneMap(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

// mergeValues applies posted attribute/data values onto stored ones: same
// key replaces, a null value deletes.
func mergeValues(stored, posted []map[string]any, key, stamp string, decorate func(map[string]any)) []any {
	idx := map[string]int{}
	var out []map[string]any
	for _, s := range stored {
		idx[strv(s, key)] = len(out)
		out = append(out, s)
	}
	for _, p := range posted {
		k := strv(p, key)
		val, ok := str(p, "value")
		if !ok || val == "" {
			if i, found := idx[k]; found {
				out[i] = nil
			}
			continue
		}
		n := cloneMap(p)
		n["value"] = val
		n["updatedAt"] = stamp
		if i, found := idx[k]; found && out[i] != nil {
			n["createdAt"] = out[i]["createdAt"]
			out[i] = n
		} else {
			n["createdAt"] = stamp
			idx[k] = len(out)
			out = append(out, n)
		}
		if decorate != nil {
			decorate(n)
		}
	}
	res := []any{}
	for _, o := range out {
		if o != nil {
			res = append(res, o)
		}
	}
	return res
}

func (s *Server) attrDecorate(a map[string]any) {
	if tea := s.md.teas[strv(a, "attribute")]; tea != nil {
		a["displayName"] = tea.Name
		a["valueType"] = tea.ValueType
		if tea.Code != "" {
			a["code"] = tea.Code
		}
	}
}

func storedList(m map[string]any, k string) []map[string]any {
	if m == nil {
		return nil
	}
	return listOf(m, k)
}

func (s *Server) saveTE(o map[string]any, stamp string) string {
	uid := strv(o, "trackedEntity")
	old := s.tes[uid]
	n := cloneMap(o)
	n["attributes"] = mergeValues(storedList(old, "attributes"), listOf(o, "attributes"), "attribute", stamp, s.attrDecorate)
	n["updatedAt"] = stamp
	n["deleted"] = false
	if _, ok := n["inactive"]; !ok {
		n["inactive"] = false
	}
	n["potentialDuplicate"] = false
	if old != nil {
		n["createdAt"] = old["createdAt"]
		s.tes[uid] = n
		return "updated"
	}
	n["createdAt"] = stamp
	s.tes[uid] = n
	s.teOrder = append(s.teOrder, uid)
	return "created"
}

func (s *Server) saveEnrollment(o map[string]any, stamp string) string {
	uid := strv(o, "enrollment")
	old := s.enrs[uid]
	n := cloneMap(o)
	delete(n, "trackedEntityType")
	// Program attributes are stored on the tracked entity, as in DHIS2.
	if te := s.tes[strv(o, "trackedEntity")]; te != nil && len(listOf(o, "attributes")) > 0 {
		te["attributes"] = mergeValues(listOf(te, "attributes"), listOf(o, "attributes"), "attribute", stamp, s.attrDecorate)
		te["updatedAt"] = stamp
	}
	delete(n, "attributes")
	if strv(n, "status") == "" {
		n["status"] = "ACTIVE"
	}
	if _, ok := n["followUp"]; !ok {
		n["followUp"] = false
	}
	if _, ok := n["notes"]; !ok {
		n["notes"] = []any{}
	}
	n["updatedAt"] = stamp
	n["deleted"] = false
	if old != nil {
		n["createdAt"] = old["createdAt"]
		s.enrs[uid] = n
		return "updated"
	}
	n["createdAt"] = stamp
	s.enrs[uid] = n
	s.enOrder = append(s.enOrder, uid)
	return "created"
}

func (s *Server) saveEvent(o map[string]any, stamp string) string {
	uid := strv(o, "event")
	old := s.events[uid]
	n := cloneMap(o)
	n["dataValues"] = mergeValues(storedList(old, "dataValues"), listOf(o, "dataValues"), "dataElement", stamp, func(dv map[string]any) {
		if _, ok := dv["providedElsewhere"]; !ok {
			dv["providedElsewhere"] = false
		}
	})
	if en := s.enrs[strv(o, "enrollment")]; en != nil {
		n["trackedEntity"] = en["trackedEntity"]
		n["enrollmentStatus"] = en["status"]
	}
	if strv(n, "attributeOptionCombo") == "" {
		n["attributeOptionCombo"] = s.md.defaultCOC()
	}
	if _, ok := n["notes"]; !ok {
		n["notes"] = []any{}
	}
	n["followUp"] = false
	n["updatedAt"] = stamp
	n["deleted"] = false
	if old != nil {
		n["createdAt"] = old["createdAt"]
		s.events[uid] = n
		return "updated"
	}
	n["createdAt"] = stamp
	s.events[uid] = n
	s.evOrder = append(s.evOrder, uid)
	return "created"
}

func (s *Server) saveRelationship(o map[string]any, stamp string) string {
	uid := strv(o, "relationship")
	old := s.rels[uid]
	n := cloneMap(o)
	n["updatedAt"] = stamp
	if rt := s.md.rts[strv(o, "relationshipType")]; rt != nil {
		n["relationshipName"] = rt.Name
	}
	if old != nil {
		n["createdAt"] = old["createdAt"]
		s.rels[uid] = n
		return "updated"
	}
	n["createdAt"] = stamp
	s.rels[uid] = n
	s.relOrder = append(s.relOrder, uid)
	return "created"
}

func (s *Server) deleteEvent(uid string) { delete(s.events, uid) }

func (s *Server) deleteEnrollment(uid string) {
	for id, e := range s.events {
		if strv(e, "enrollment") == uid {
			delete(s.events, id)
		}
	}
	delete(s.enrs, uid)
}

func (s *Server) deleteTE(uid string) {
	for id, e := range s.enrs {
		if strv(e, "trackedEntity") == uid {
			s.deleteEnrollment(id)
		}
	}
	delete(s.tes, uid)
}

// ---- accessors for tests ----

// ordered returns copies of one store's objects in creation order.
func (s *Server) ordered(kind string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var order []string
	var m map[string]map[string]any
	switch kind {
	case "trackedEntities":
		order, m = s.teOrder, s.tes
	case "enrollments":
		order, m = s.enOrder, s.enrs
	case "events":
		order, m = s.evOrder, s.events
	default:
		order, m = s.relOrder, s.rels
	}
	out := []map[string]any{}
	seen := map[string]bool{}
	for _, id := range order {
		if o, ok := m[id]; ok && !seen[id] {
			seen[id] = true
			out = append(out, cloneMap(o))
		}
	}
	return out
}

// TrackedEntities returns stored tracked entities (with their attributes),
// in creation order.
func (s *Server) TrackedEntities() []map[string]any { return s.ordered("trackedEntities") }

// Enrollments returns stored enrollments in creation order.
func (s *Server) Enrollments() []map[string]any { return s.ordered("enrollments") }

// Events returns stored events in creation order.
func (s *Server) Events() []map[string]any { return s.ordered("events") }

// Relationships returns stored relationships in creation order.
func (s *Server) Relationships() []map[string]any { return s.ordered("relationships") }

// ---- export ----

func (s *Server) trackerExport(rq *request, seg []string) {
	kind := seg[0]
	idKey := map[string]string{"trackedEntities": "trackedEntity", "enrollments": "enrollment", "events": "event", "relationships": "relationship"}[kind]
	if idKey == "" {
		s.notFound(rq)
		return
	}
	fields := rq.q.Get("fields")
	if len(seg) == 2 {
		all := s.ordered(kind)
		for _, o := range all {
			if strv(o, idKey) == seg[1] {
				writeJSON(rq.w, http.StatusOK, s.decorateExport(kind, o, fields))
				return
			}
		}
		name := map[string]string{"trackedEntities": "TrackedEntity", "enrollments": "Enrollment", "events": "Event", "relationships": "Relationship"}[kind]
		writeWebMessage(rq.w, http.StatusNotFound, "ERROR", fmt.Sprintf("%s with id %s could not be found.", name, seg[1]), nil)
		return
	}
	if len(seg) > 2 {
		s.notFound(rq)
		return
	}
	q := rq.q
	if kind == "trackedEntities" && q.Get("program") == "" && q.Get("trackedEntityType") == "" && q.Get("trackedEntity") == "" && q.Get("trackedEntities") == "" {
		s.badRequest(rq, "Either Program or Tracked entity type should be specified")
		return
	}
	filters, err := parseAttrFilters(q["filter"])
	if err != nil {
		s.badRequest(rq, err.Error())
		return
	}
	ids := map[string]bool{}
	for _, k := range append(splitMulti(q[idKey]), splitMulti(q[kind])...) {
		ids[k] = true
	}
	ous := splitMulti(append(q["orgUnit"], q["orgUnits"]...))
	ouMode := strings.ToUpper(q.Get("ouMode"))
	if ouMode == "" {
		ouMode = strings.ToUpper(q.Get("orgUnitMode"))
	}
	program := q.Get("program")
	// updatedAfter/updatedBefore bound updatedAt, the watermark pattern of
	// every DHIS2 pull. DHIS2 compares inclusively (lastUpdated >= start,
	// <= end), so a record stamped at the watermark comes again: jobs upsert.
	// An unparsable date is a 400 like any bad parameter.
	var after, before time.Time
	for name, dst := range map[string]*time.Time{"updatedAfter": &after, "updatedBefore": &before} {
		if v := q.Get(name); v != "" {
			t, ok := parseInstant(v)
			if !ok {
				s.badRequest(rq, fmt.Sprintf("Invalid date %s for parameter %s", v, name))
				return
			}
			*dst = t
		}
	}
	var hits []map[string]any
	for _, o := range s.ordered(kind) {
		if len(ids) > 0 && !ids[strv(o, idKey)] {
			continue
		}
		if !after.IsZero() || !before.IsZero() {
			up, _ := parseInstant(strv(o, "updatedAt"))
			if (!after.IsZero() && up.Before(after)) || (!before.IsZero() && up.After(before)) {
				continue
			}
		}
		if len(ous) > 0 && !s.ouMatch(strv(o, "orgUnit"), ous, ouMode) {
			continue
		}
		switch kind {
		case "trackedEntities":
			if t := q.Get("trackedEntityType"); t != "" && strv(o, "trackedEntityType") != t {
				continue
			}
			if program != "" && !s.enrolledIn(strv(o, "trackedEntity"), program) {
				continue
			}
			if !matchAttrFilters(o, filters) {
				continue
			}
		case "enrollments", "events":
			if program != "" && strv(o, "program") != program {
				continue
			}
			if t := q.Get("trackedEntity"); t != "" && strv(o, "trackedEntity") != t {
				continue
			}
			if kind == "events" {
				if st := q.Get("programStage"); st != "" && strv(o, "programStage") != st {
					continue
				}
				if en := q.Get("enrollment"); en != "" && strv(o, "enrollment") != en {
					continue
				}
			}
		}
		hits = append(hits, s.decorateExport(kind, o, fields))
	}
	total := len(hits)
	paging := q.Get("paging") != "false" && q.Get("skipPaging") != "true"
	page, pageSize, err := pageParams(q, 50)
	if err != nil {
		s.badRequest(rq, err.Error())
		return
	}
	if paging {
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
	if hits == nil {
		hits = []map[string]any{}
	}
	totals := boolParam(q.Get("totalPages"))
	// 2.36–2.40: {page,pageSize,instances}; 2.41+: {pager:{…}, <kind>: […]}.
	resp := map[string]any{}
	if s.ver.minor <= 40 {
		resp["instances"] = hits
		if paging {
			resp["page"], resp["pageSize"] = page, pageSize
			if totals {
				resp["total"], resp["pageCount"] = total, (total+pageSize-1)/pageSize
			}
		}
	} else {
		resp[kind] = hits
		if paging {
			pager := map[string]any{"page": page, "pageSize": pageSize}
			if totals {
				pager["total"], pager["pageCount"] = total, (total+pageSize-1)/pageSize
			}
			if (page)*pageSize < total {
				pager["nextPage"] = s.pageURL(rq, page+1)
			}
			if page > 1 {
				pager["prevPage"] = s.pageURL(rq, page-1)
			}
			resp["pager"] = pager
		}
	}
	writeJSON(rq.w, http.StatusOK, resp)
}

func (s *Server) ouMatch(ou string, roots []string, mode string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range roots {
		if ou == r {
			return true
		}
		if mode == "DESCENDANTS" || mode == "CHILDREN" {
			if o := s.md.ous[ou]; o != nil && strings.Contains(o.Path, "/"+r+"/") {
				if mode == "DESCENDANTS" || (o.Parent != nil && o.Parent.ID == r) {
					return true
				}
			}
		}
	}
	return mode == "ALL" || mode == "ACCESSIBLE" || mode == "CAPTURE"
}

func (s *Server) enrolledIn(te, program string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.enrs {
		if strv(e, "trackedEntity") == te && strv(e, "program") == program {
			return true
		}
	}
	return false
}

// decorateExport adds nested children the way the export endpoints do when
// fields ask for them (default for TEs excludes enrollments).
func (s *Server) decorateExport(kind string, o map[string]any, fields string) map[string]any {
	wantAll := fields == "*" || strings.Contains(fields, "enrollments")
	switch kind {
	case "trackedEntities":
		if wantAll {
			var ens []any
			for _, e := range s.Enrollments() {
				if strv(e, "trackedEntity") == strv(o, "trackedEntity") {
					e["events"] = s.eventsOf(strv(e, "enrollment"))
					e["attributes"] = s.programAttributes(o, strv(e, "program"))
					ens = append(ens, e)
				}
			}
			if ens == nil {
				ens = []any{}
			}
			o["enrollments"] = ens
		}
		if _, ok := o["relationships"]; !ok {
			o["relationships"] = []any{}
		}
	case "enrollments":
		te := map[string]any{}
		for _, t := range s.TrackedEntities() {
			if strv(t, "trackedEntity") == strv(o, "trackedEntity") {
				te = t
			}
		}
		o["attributes"] = s.programAttributes(te, strv(o, "program"))
		if fields == "*" || strings.Contains(fields, "events") {
			o["events"] = s.eventsOf(strv(o, "enrollment"))
		}
	}
	return o
}

func (s *Server) eventsOf(enrollment string) []any {
	out := []any{}
	for _, e := range s.Events() {
		if strv(e, "enrollment") == enrollment {
			out = append(out, e)
		}
	}
	return out
}

func (s *Server) programAttributes(te map[string]any, program string) []any {
	s.mu.Lock()
	p := s.md.progs[program]
	s.mu.Unlock()
	out := []any{}
	if p == nil {
		return out
	}
	want := map[string]bool{}
	for _, pa := range p.ProgramTrackedEntityAttributes {
		want[pa.TrackedEntityAttribute.ID] = true
	}
	for _, a := range listOf(te, "attributes") {
		if want[strv(a, "attribute")] {
			out = append(out, a)
		}
	}
	return out
}

type attrFilter struct{ attr, op, val string }

func parseAttrFilters(raw []string) ([]attrFilter, error) {
	var out []attrFilter
	for _, r := range raw {
		for _, part := range strings.Split(r, ",") {
			f := strings.SplitN(part, ":", 3)
			if len(f) == 1 {
				continue // attribute without condition: no filtering
			}
			if len(f) != 3 {
				return nil, fmt.Errorf("Query item or filter is invalid: %s", part)
			}
			op := strings.ToLower(f[1])
			switch op {
			case "eq", "ieq", "like", "sw", "ew", "ne", "neq", "in", "gt", "ge", "lt", "le":
			default:
				return nil, fmt.Errorf("Query item or filter is invalid: %s", part)
			}
			out = append(out, attrFilter{f[0], op, f[2]})
		}
	}
	return out, nil
}

func matchAttrFilters(te map[string]any, fs []attrFilter) bool {
	for _, f := range fs {
		val, found := "", false
		for _, a := range listOf(te, "attributes") {
			if strv(a, "attribute") == f.attr {
				val, found = strv(a, "value"), true
			}
		}
		lv, lw := strings.ToLower(val), strings.ToLower(f.val)
		ok := false
		switch f.op {
		case "eq", "ieq":
			ok = found && lv == lw
		case "like":
			ok = found && strings.Contains(lv, lw)
		case "sw":
			ok = found && strings.HasPrefix(lv, lw)
		case "ew":
			ok = found && strings.HasSuffix(lv, lw)
		case "ne", "neq":
			ok = !found || lv != lw
		case "in":
			for _, x := range strings.Split(f.val, ";") {
				if found && strings.EqualFold(val, x) {
					ok = true
				}
			}
		default:
			ok = found && matchOp(f.op, val, f.val)
		}
		if !ok {
			return false
		}
	}
	return true
}
