package dhis2

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// ImportSummary is the normalised view of any DHIS2 import response the
// adaptor meets, whatever its envelope and generation:
//
//   - aggregate: ImportSummary of POST /api/dataValueSets, bare (≤2.37 or
//     /api/37/…) or wrapped in a WebMessage (2.38+, HTTP 200 or 409);
//   - tracker: ImportReport of POST /api/tracker (sync body or async report);
//   - legacy: ImportSummaries of /api/trackedEntityInstances, /api/events …;
//   - metadata: ImportReport of /api/metadata (stats + typeReports).
//
// Jobs get it from util.importSummary(state.data) (or error.importSummary
// when an import fails) and the OpenHIM transaction gets its counts as
// properties. Tracker stats are mapped onto importCount (created → imported)
// so one shape serves every import.
type ImportSummary struct {
	Kind     string `json:"kind"`     // aggregate | tracker | legacy | metadata
	Envelope string `json:"envelope"` // bare | webmessage
	// Status is DHIS2's status of the import: SUCCESS|WARNING|ERROR for
	// aggregate and legacy summaries, OK|WARNING|ERROR for tracker and
	// metadata reports.
	Status          string      `json:"status"`
	HTTPStatusCode  int         `json:"httpStatusCode,omitempty"` // from the WebMessage, when wrapped
	Message         string      `json:"message,omitempty"`
	ImportCount     ImportCount `json:"importCount"`
	Conflicts       []Conflict  `json:"conflicts"`
	RejectedIndexes []int       `json:"rejectedIndexes,omitempty"`
	// References are the UIDs the import touched (legacy reference, tracker
	// object reports), in response order.
	References []string `json:"references,omitempty"`
}

// ImportCount is DHIS2's importCount (tracker stats mapped onto it).
type ImportCount struct {
	Imported int `json:"imported"`
	Updated  int `json:"updated"`
	Ignored  int `json:"ignored"`
	Deleted  int `json:"deleted"`
}

// Conflict is one rejected object: an aggregate ImportConflict or a tracker
// errorReport (Object = uid, Value = message, Property = tracker type).
type Conflict struct {
	Object    string `json:"object,omitempty"`
	Value     string `json:"value"`
	ErrorCode string `json:"errorCode,omitempty"`
	Property  string `json:"property,omitempty"`
	Indexes   []int  `json:"indexes,omitempty"`
}

// Failed reports whether DHIS2 rejected something (WARNING or ERROR).
func (s *ImportSummary) Failed() bool { return s.Status == "WARNING" || s.Status == "ERROR" }

// Describe is a one-line account naming counts and the conflicting objects,
// used in error messages and logs. At most 10 conflicts are listed.
func (s *ImportSummary) Describe() string {
	c := s.ImportCount
	var b strings.Builder
	fmt.Fprintf(&b, "DHIS2 %s import %s: imported %d, updated %d, ignored %d, deleted %d",
		s.Kind, s.Status, c.Imported, c.Updated, c.Ignored, c.Deleted)
	if len(s.Conflicts) > 0 {
		fmt.Fprintf(&b, "; %d conflict(s): ", len(s.Conflicts))
		for i, cf := range s.Conflicts {
			if i == 10 {
				fmt.Fprintf(&b, "; … %d more", len(s.Conflicts)-10)
				break
			}
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(cf.String())
		}
	} else if s.Message != "" && s.Failed() {
		b.WriteString("; " + s.Message)
	}
	return b.String()
}

func (c Conflict) String() string {
	var parts []string
	if c.ErrorCode != "" {
		parts = append(parts, c.ErrorCode)
	}
	obj := c.Object
	if c.Property != "" && obj != "" {
		obj = c.Property + " " + obj
	}
	if obj != "" {
		parts = append(parts, obj)
	}
	head := strings.Join(parts, " ")
	if head == "" {
		return c.Value
	}
	return head + ": " + c.Value
}

// ParseImportSummary recognises an import response body in any of the shapes
// listed on ImportSummary. ok is false for anything else (a metadata list, a
// plain WebMessage error, HTML from a proxy).
func ParseImportSummary(body []byte) (*ImportSummary, bool) {
	body = bytes.TrimPrefix(bytes.TrimSpace(body), []byte("\xef\xbb\xbf"))
	if len(body) == 0 || body[0] != '{' {
		return nil, false
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return nil, false
	}
	s := &ImportSummary{Envelope: "bare"}
	inner := top
	// A WebMessage has httpStatusCode; trimmed samples keep only status and
	// response, so a "response" object at the top also marks one.
	_, hasCode := top["httpStatusCode"]
	_, hasResp := top["response"]
	if hasCode || (hasResp && top["importCount"] == nil && top["validationReport"] == nil && top["importSummaries"] == nil) {
		s.Envelope = "webmessage"
		_ = json.Unmarshal(top["httpStatusCode"], &s.HTTPStatusCode)
		_ = json.Unmarshal(top["message"], &s.Message)
		var resp map[string]json.RawMessage
		if json.Unmarshal(top["response"], &resp) != nil || resp == nil {
			return nil, false
		}
		inner = resp
	}
	var rt string
	_ = json.Unmarshal(inner["responseType"], &rt)
	switch {
	case rt == "ImportSummaries" || inner["importSummaries"] != nil:
		s.Kind = "legacy"
		parseLegacy(inner, s)
	case rt == "ImportSummary" || inner["importCount"] != nil:
		s.Kind = "aggregate"
		parseAggregate(inner, s)
	case inner["validationReport"] != nil || inner["bundleReport"] != nil:
		s.Kind = "tracker"
		parseTracker(inner, s)
	case inner["typeReports"] != nil || (rt == "ImportReport" && inner["stats"] != nil):
		s.Kind = "metadata"
		parseMetadata(inner, s)
	default:
		return nil, false
	}
	var st string
	_ = json.Unmarshal(inner["status"], &st)
	if st != "" {
		s.Status = st
	}
	if s.Message == "" {
		_ = json.Unmarshal(inner["description"], &s.Message)
	}
	if s.Conflicts == nil {
		s.Conflicts = []Conflict{}
	}
	return s, true
}

type wireConflict struct {
	Object    string            `json:"object"`
	Objects   map[string]string `json:"objects"`
	Value     string            `json:"value"`
	ErrorCode string            `json:"errorCode"`
	Property  string            `json:"property"`
	Indexes   []int             `json:"indexes"`
}

func (w wireConflict) conflict() Conflict {
	c := Conflict{Object: w.Object, Value: w.Value, ErrorCode: w.ErrorCode, Property: w.Property, Indexes: w.Indexes}
	if c.Object == "" && len(w.Objects) > 0 {
		keys := make([]string, 0, len(w.Objects))
		for k := range w.Objects {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		c.Object = w.Objects[keys[0]]
	}
	return c
}

func parseAggregate(m map[string]json.RawMessage, s *ImportSummary) {
	_ = json.Unmarshal(m["importCount"], &s.ImportCount)
	var cs []wireConflict
	_ = json.Unmarshal(m["conflicts"], &cs)
	for _, c := range cs {
		s.Conflicts = append(s.Conflicts, c.conflict())
	}
	_ = json.Unmarshal(m["rejectedIndexes"], &s.RejectedIndexes)
	if ref := rawString(m["reference"]); ref != "" {
		s.References = append(s.References, ref)
	}
}

func rawString(r json.RawMessage) string {
	var s string
	_ = json.Unmarshal(r, &s)
	return s
}

func parseLegacy(m map[string]json.RawMessage, s *ImportSummary) {
	var totals ImportCount
	_ = json.Unmarshal(m["imported"], &totals.Imported)
	_ = json.Unmarshal(m["updated"], &totals.Updated)
	_ = json.Unmarshal(m["ignored"], &totals.Ignored)
	_ = json.Unmarshal(m["deleted"], &totals.Deleted)
	s.ImportCount = totals
	var subs []map[string]json.RawMessage
	_ = json.Unmarshal(m["importSummaries"], &subs)
	for _, sub := range subs {
		var one ImportSummary
		parseAggregate(sub, &one)
		s.Conflicts = append(s.Conflicts, one.Conflicts...)
		s.References = append(s.References, one.References...)
	}
}

func parseTracker(m map[string]json.RawMessage, s *ImportSummary) {
	var stats struct{ Created, Updated, Deleted, Ignored int }
	_ = json.Unmarshal(m["stats"], &stats)
	s.ImportCount = ImportCount{Imported: stats.Created, Updated: stats.Updated, Ignored: stats.Ignored, Deleted: stats.Deleted}
	var vr struct {
		ErrorReports []struct {
			Message, ErrorCode, TrackerType, UID string
		}
	}
	_ = json.Unmarshal(m["validationReport"], &vr)
	for _, e := range vr.ErrorReports {
		s.Conflicts = append(s.Conflicts, Conflict{Object: e.UID, Value: e.Message, ErrorCode: e.ErrorCode, Property: e.TrackerType})
	}
	var br struct {
		TypeReportMap map[string]struct {
			ObjectReports []struct{ UID string }
		}
	}
	_ = json.Unmarshal(m["bundleReport"], &br)
	for _, typ := range []string{"TRACKED_ENTITY", "ENROLLMENT", "EVENT", "RELATIONSHIP"} {
		for _, o := range br.TypeReportMap[typ].ObjectReports {
			if o.UID != "" {
				s.References = append(s.References, o.UID)
			}
		}
	}
	if s.Message == "" {
		s.Message = rawString(m["message"])
	}
}

func parseMetadata(m map[string]json.RawMessage, s *ImportSummary) {
	var stats struct{ Created, Updated, Deleted, Ignored int }
	_ = json.Unmarshal(m["stats"], &stats)
	s.ImportCount = ImportCount{Imported: stats.Created, Updated: stats.Updated, Ignored: stats.Ignored, Deleted: stats.Deleted}
	var trs []struct {
		KlassName     string `json:"klass"`
		ObjectReports []struct {
			UID          string `json:"uid"`
			ErrorReports []struct {
				Message   string `json:"message"`
				ErrorCode string `json:"errorCode"`
				Property  string `json:"errorProperty"`
			} `json:"errorReports"`
		} `json:"objectReports"`
	}
	_ = json.Unmarshal(m["typeReports"], &trs)
	for _, tr := range trs {
		for _, o := range tr.ObjectReports {
			if o.UID != "" {
				s.References = append(s.References, o.UID)
			}
			for _, e := range o.ErrorReports {
				s.Conflicts = append(s.Conflicts, Conflict{Object: o.UID, Value: e.Message, ErrorCode: e.ErrorCode, Property: e.Property})
			}
		}
	}
}

// webMessageText extracts "message" (and devMessage) from a DHIS2 WebMessage
// error body, for errors that are not imports (401, 404, 409 E-codes).
func webMessageText(body []byte) string {
	var wm struct {
		Message    string `json:"message"`
		DevMessage string `json:"devMessage"`
		ErrorCode  string `json:"errorCode"`
	}
	if json.Unmarshal(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")), &wm) != nil || wm.Message == "" {
		return ""
	}
	msg := wm.Message
	if wm.ErrorCode != "" {
		msg = wm.ErrorCode + ": " + msg
	}
	if wm.DevMessage != "" && wm.DevMessage != wm.Message {
		msg += " (" + wm.DevMessage + ")"
	}
	return msg
}
