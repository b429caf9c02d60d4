package dhis2

import (
	"net/http"
	"strings"
)

// The deprecated tracker API (/api/trackedEntityInstances, /api/enrollments,
// /api/events; removed in 2.42). Payloads use the old field names; writes go
// through the same validation as /api/tracker (atomicMode=OBJECT, so every
// object gets its own ImportSummary) and answer ImportSummaries.

// renames maps deprecated field names to the tracker ones (tracker.md 2.36
// "Changes in the API").
var renames = map[string]string{
	"trackedEntityInstance": "trackedEntity",
	"enrollmentDate":        "enrolledAt",
	"incidentDate":          "occurredAt",
	"eventDate":             "occurredAt",
	"dueDate":               "scheduledAt",
	"completedDate":         "completedAt",
}

func fromLegacy(o map[string]any) map[string]any {
	n := map[string]any{}
	for k, v := range o {
		if k == "coordinate" || k == "created" || k == "lastUpdated" {
			continue
		}
		if r, ok := renames[k]; ok {
			k = r
		}
		switch k {
		case "enrollments", "events":
			var list []any
			for _, c := range listOf(o, k) {
				list = append(list, fromLegacy(c))
			}
			v = list
		}
		n[k] = v
	}
	return n
}

func toLegacy(o map[string]any) map[string]any {
	n := map[string]any{}
	for k, v := range o {
		switch k {
		case "trackedEntity":
			k = "trackedEntityInstance"
		case "enrolledAt":
			k = "enrollmentDate"
		case "scheduledAt":
			k = "dueDate"
		case "createdAt":
			k = "created"
		case "updatedAt":
			k = "lastUpdated"
		case "occurredAt":
			if _, isEvent := o["event"]; isEvent {
				k = "eventDate"
			} else {
				k = "incidentDate"
			}
		}
		n[k] = v
	}
	return n
}

type legacySummary struct {
	ResponseType string         `json:"responseType"`
	Status       string         `json:"status"`
	ImportCount  importCount    `json:"importCount"`
	Conflicts    []conflict     `json:"conflicts"`
	Reference    string         `json:"reference,omitempty"`
	Href         string         `json:"href,omitempty"`
	Enrollments  *legacySumList `json:"enrollments,omitempty"`
	Events       *legacySumList `json:"events,omitempty"`
}

type legacySumList struct {
	ResponseType    string           `json:"responseType"`
	Status          string           `json:"status"`
	Imported        int              `json:"imported"`
	Updated         int              `json:"updated"`
	Deleted         int              `json:"deleted"`
	Ignored         int              `json:"ignored"`
	ImportSummaries []*legacySummary `json:"importSummaries"`
	Total           int              `json:"total"`
}

func (l *legacySumList) add(ls *legacySummary) {
	l.ImportSummaries = append(l.ImportSummaries, ls)
	l.Imported += ls.ImportCount.Imported
	l.Updated += ls.ImportCount.Updated
	l.Deleted += ls.ImportCount.Deleted
	l.Ignored += ls.ImportCount.Ignored
	l.Total++
	if ls.Status == "ERROR" {
		l.Status = "ERROR"
	}
}

func newSumList() *legacySumList {
	return &legacySumList{ResponseType: "ImportSummaries", Status: "SUCCESS", ImportSummaries: []*legacySummary{}}
}

func (s *Server) legacy(rq *request, seg []string) {
	if s.ver.minor >= 42 {
		s.notFound(rq)
		return
	}
	switch rq.r.Method {
	case http.MethodGet:
		s.legacyList(rq, seg)
	case http.MethodPost, http.MethodPut:
		if len(seg) > 1 {
			s.methodNotAllowed(rq)
			return
		}
		s.legacyImport(rq, seg[0])
	default:
		s.methodNotAllowed(rq)
	}
}

func (s *Server) legacyImport(rq *request, kind string) {
	if !rq.has(AuthTrackedEntityAdd) {
		s.forbidden(rq, "Access is denied")
		return
	}
	var payload map[string]any
	if !s.decodeJSON(rq, &payload) {
		return
	}
	items := listOf(payload, kind)
	if _, wrapped := payload[kind]; !wrapped {
		items = []map[string]any{payload}
	}
	strategy := strings.ToUpper(rq.q.Get("strategy"))
	if strategy == "" {
		strategy = strings.ToUpper(rq.q.Get("importStrategy"))
	}
	if legacy, ok := legacyStrategies[strategy]; ok {
		strategy = legacy
	}
	if strategy == "" || strategy == "SYNC" {
		strategy = "CREATE_AND_UPDATE"
	}
	p := &trackerParams{strategy: strategy, schemes: map[string]string{}, reportMode: "FULL"}
	top := newSumList()
	for _, it := range items {
		n := fromLegacy(it)
		var b *bundle
		var err error
		switch kind {
		case "trackedEntityInstances":
			b, err = flatten(map[string]any{"trackedEntities": []any{n}})
		case "enrollments":
			b, err = flatten(map[string]any{"enrollments": []any{n}})
		default:
			b, err = flatten(map[string]any{"events": []any{n}})
		}
		if err == nil {
			err = checkDates(b)
		}
		if err != nil {
			s.badRequest(rq, err.Error())
			return
		}
		rep := s.runTrackerImport(p, b, rq.user)
		errs := map[string][]errorReport{}
		for _, e := range rep.ValidationReport.ErrorReports {
			errs[e.TrackerType+"/"+e.UID] = append(errs[e.TrackerType+"/"+e.UID], e)
		}
		created := map[string]string{}
		if rep.BundleReport != nil {
			for _, t := range trackerTypes {
				for _, or := range rep.BundleReport.TypeReportMap[t].ObjectReports {
					created[t+"/"+or.UID] = "ok"
				}
			}
		}
		mk := func(typ, uid, endpoint string) *legacySummary {
			ls := &legacySummary{ResponseType: "ImportSummary", Status: "SUCCESS", Conflicts: []conflict{}, Reference: uid,
				Href: s.URL() + "/api/" + endpoint + "/" + uid}
			if es := errs[typ+"/"+uid]; len(es) > 0 || created[typ+"/"+uid] == "" {
				ls.Status = "ERROR"
				ls.ImportCount.Ignored = 1
				for _, e := range es {
					ls.Conflicts = append(ls.Conflicts, conflict{Object: e.ErrorCode, Value: e.Message})
				}
				ls.Href = ""
				return ls
			}
			if strategy == "DELETE" {
				ls.ImportCount.Deleted = 1
			} else if wasUpdate(rep, typ, uid) {
				ls.ImportCount.Updated = 1
			} else {
				ls.ImportCount.Imported = 1
			}
			return ls
		}
		evSum := func(en string) *legacySumList {
			l := newSumList()
			for _, ev := range b.evs {
				if strv(ev, "enrollment") == en {
					l.add(mk(typeEV, strv(ev, "event"), "events"))
				}
			}
			return l
		}
		switch kind {
		case "trackedEntityInstances":
			for _, te := range b.tes {
				ls := mk(typeTE, strv(te, "trackedEntity"), "trackedEntityInstances")
				ens := newSumList()
				for _, en := range b.ens {
					es := mk(typeEN, strv(en, "enrollment"), "enrollments")
					es.Events = evSum(strv(en, "enrollment"))
					ens.add(es)
				}
				ls.Enrollments = ens
				top.add(ls)
			}
		case "enrollments":
			for _, en := range b.ens {
				es := mk(typeEN, strv(en, "enrollment"), "enrollments")
				es.Events = evSum(strv(en, "enrollment"))
				top.add(es)
			}
		default:
			for _, ev := range b.evs {
				top.add(mk(typeEV, strv(ev, "event"), "events"))
			}
		}
	}
	// WebMessageUtils.importSummaries: any ignored object ⇒ 409 WARNING.
	switch {
	case top.Ignored > 0 && top.Ignored == top.Total:
		top.Status = "ERROR"
		writeWebMessage(rq.w, http.StatusConflict, "ERROR", "An error occurred, please check import summary.", top)
	case top.Ignored > 0:
		top.Status = "WARNING"
		writeWebMessage(rq.w, http.StatusConflict, "WARNING", "One more conflicts encountered, please check import summary.", top)
	default:
		writeWebMessage(rq.w, http.StatusOK, "OK", "Import was successful.", top)
	}
}

func wasUpdate(rep *importReport, typ, uid string) bool {
	if rep.BundleReport == nil {
		return false
	}
	tr := rep.BundleReport.TypeReportMap[typ]
	// Object reports don't say created vs updated; infer from the type stats
	// when the bundle has a single object of that type.
	return tr.Stats.Updated > 0 && tr.Stats.Created == 0
}

func (s *Server) legacyList(rq *request, seg []string) {
	kind := map[string]string{"trackedEntityInstances": "trackedEntities", "enrollments": "enrollments", "events": "events"}[seg[0]]
	idKey := map[string]string{"trackedEntityInstances": "trackedEntity", "enrollments": "enrollment", "events": "event"}[seg[0]]
	all := s.ordered(kind)
	if len(seg) == 2 {
		for _, o := range all {
			if strv(o, idKey) == seg[1] {
				writeJSON(rq.w, http.StatusOK, toLegacy(s.decorateExport(kind, o, rq.q.Get("fields"))))
				return
			}
		}
		s.notFound(rq)
		return
	}
	q := rq.q
	ous := splitMulti(append(q["ou"], q["orgUnit"]...))
	mode := strings.ToUpper(q.Get("ouMode"))
	program := q.Get("program")
	if kind == "trackedEntities" && len(ous) == 0 && mode != "ALL" && mode != "ACCESSIBLE" {
		s.conflict(rq, "At least one organisation unit must be specified", "")
		return
	}
	filters, err := parseAttrFilters(append(q["filter"], q["attribute"]...))
	if err != nil {
		s.conflict(rq, err.Error(), "")
		return
	}
	out := []any{}
	for _, o := range all {
		if len(ous) > 0 && !s.ouMatch(strv(o, "orgUnit"), ous, mode) {
			continue
		}
		if kind == "trackedEntities" {
			if program != "" && !s.enrolledIn(strv(o, "trackedEntity"), program) {
				continue
			}
			if t := q.Get("trackedEntityType"); t != "" && strv(o, "trackedEntityType") != t {
				continue
			}
			if !matchAttrFilters(o, filters) {
				continue
			}
		} else if program != "" && strv(o, "program") != program {
			continue
		}
		out = append(out, toLegacy(s.decorateExport(kind, o, q.Get("fields"))))
	}
	writeJSON(rq.w, http.StatusOK, map[string]any{seg[0]: out})
}
