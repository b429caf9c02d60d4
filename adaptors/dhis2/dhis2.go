// Package dhis2 is Job Mediator's language-dhis2: OpenFn's DHIS2 operations
// with their state semantics, chosen by the job's adaptor version:
//
//   - ≥7 (default 8.2.1): create(path, data, params), get(path, params),
//     update(resourceType, path, data, options), upsert(resourceType, query,
//     data, options), destroy(resourceType, path, data, options),
//     tracker.import/export, http.get/post/patch/request, util.* helpers.
//     enrollments|relationships|events|trackedEntities go to
//     POST /api/tracker?async=false&importStrategy=… with {<type>: […]}.
//   - ≤6: the axios-era signatures with options {params, apiVersion} and a
//     trailing callback, plus the pre-monorepo helpers older jobs call
//     (dataValueSet, createTEI, updateTEI, upsertTEI, event,
//     enrollTEI); ≤5 send tracker types to the deprecated endpoints
//     (/api/trackedEntityInstances, /api/events, …), 6 to /api/tracker.
//
// Configuration: hostUrl (legacy apiUrl is migrated), username+password
// (Basic) or pat (Authorization: ApiToken <pat>), apiVersion (path
// /api/<v>/…). Every request goes through the run's recorder client, so it
// becomes an OpenHIM orchestration with secrets redacted.
//
// Import responses are parsed in both envelopes (bare ImportSummary ≤2.37 or
// /api/37/…, WebMessage 2.38+) and every generation (aggregate, tracker,
// legacy, metadata) into one normalised ImportSummary. As in OpenFn, state.data
// is the response body and HTTP ≥400 throws, so a 2.38+ 409 WARNING (partial
// success: some values stored) fails the operation; the thrown error carries
// statusCode, body and importSummary and its message names each conflicting
// object, so `.catch((e, state) => …)` or a failure edge can act on it. Jobs
// read a normalised summary of any response with util.importSummary(state.data).
// Each import's counts are also added up into the OpenHIM transaction's
// properties (dhis2.import.*) through recorder.Recorder.SetProperty.
//
// Job Mediator additions (not in OpenFn): tracker.import with {async: true}
// polls /api/tracker/jobs/{id} (bounded by pollInterval/pollTimeout
// options) and returns the final report instead of the job reference;
// util.importSummary; util.getAll(path, params) follows pager.nextPage; the
// conversions helper namespace (package conversions). OpenFn 8.2.1's
// tracker.import never sends its strategy argument (it lands in an unused
// options key); we send it as importStrategy, as the docs intend.
package dhis2

import (
	_ "embed"
	"encoding/json"
	"sort"
	"strconv"
	"time"

	"github.com/jobmediator/jobmediator/adaptors"
	"github.com/jobmediator/jobmediator/adaptors/fhir/conversions"
)

//go:embed dhis2.js
var source string

// maxPollWait caps one sleep between async job polls, whatever a job asks.
const maxPollWait = 30 * time.Second

// importTotals accumulates a run's import counts for the transaction
// properties; it lives in adaptors.Run.Values, which is per run.
type importTotals struct {
	imports   int
	status    string
	count     ImportCount
	conflicts int
}

var statusRank = map[string]int{"": 0, "OK": 1, "SUCCESS": 1, "WARNING": 2, "ERROR": 3}

func (t *importTotals) add(s *ImportSummary) {
	t.imports++
	if statusRank[s.Status] > statusRank[t.status] {
		t.status = s.Status
	}
	t.count.Imported += s.ImportCount.Imported
	t.count.Updated += s.ImportCount.Updated
	t.count.Ignored += s.ImportCount.Ignored
	t.count.Deleted += s.ImportCount.Deleted
	t.conflicts += len(s.Conflicts)
}

func (t *importTotals) properties() map[string]string {
	return map[string]string{
		"dhis2.imports":          strconv.Itoa(t.imports),
		"dhis2.import.status":    t.status,
		"dhis2.import.imported":  strconv.Itoa(t.count.Imported),
		"dhis2.import.updated":   strconv.Itoa(t.count.Updated),
		"dhis2.import.ignored":   strconv.Itoa(t.count.Ignored),
		"dhis2.import.deleted":   strconv.Itoa(t.count.Deleted),
		"dhis2.import.conflicts": strconv.Itoa(t.conflicts),
	}
}

// recordImport adds s to the run's totals and publishes them as properties.
func recordImport(run *adaptors.Run, s *ImportSummary) {
	if run.Values == nil || run.HTTP == nil || run.HTTP.Rec == nil {
		return
	}
	t, _ := run.Values["dhis2.imports"].(*importTotals)
	if t == nil {
		t = &importTotals{}
		run.Values["dhis2.imports"] = t
	}
	t.add(s)
	props := t.properties()
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		run.HTTP.Rec.SetProperty(k, props[k])
	}
}

// Host returns the functions dhis2.js calls.
func Host(env *adaptors.Env) map[string]any {
	return conversions.Merge(env, map[string]any{
		// request({method, url, headers, body, timeout, name}) performs one
		// recorded call and returns {status, statusText, headers, body, url,
		// duration}; transport failures throw with a Node-style code.
		"request": adaptors.HostRequest(env, "DHIS2", "configuration.hostUrl must be an absolute http(s) URL such as https://play.dhis2.org/40"),
		// importSummary(text, record) returns the normalised summary as
		// JSON ("" when text is not an import response); record adds it to
		// the run's transaction properties.
		"importSummary": func(text string, record bool) string {
			s, ok := ParseImportSummary([]byte(text))
			if !ok {
				return ""
			}
			if record {
				recordImport(env.Run(), s)
			}
			b, _ := json.Marshal(s)
			return string(b)
		},
		// describeImport(summaryJSON) is ImportSummary.Describe.
		"describeImport": func(text string) string {
			var s ImportSummary
			if json.Unmarshal([]byte(text), &s) != nil {
				return ""
			}
			return s.Describe()
		},
		// webMessage(text) is the message of a DHIS2 WebMessage error body.
		"webMessage": func(text string) string { return webMessageText([]byte(text)) },
		// sleep(ms) waits between async job polls; it ends early (throwing)
		// when the step's deadline passes.
		"sleep": func(ms float64) {
			run := env.Run()
			d := time.Duration(ms * float64(time.Millisecond))
			if d > maxPollWait {
				d = maxPollWait
			}
			if d <= 0 {
				return
			}
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
			case <-run.Ctx.Done():
				env.Throw("waiting for the DHIS2 job was interrupted: "+run.Ctx.Err().Error(), map[string]any{"code": "ETIMEDOUT"})
			}
		},
		"now": func() int64 { return env.Run().Now().UnixMilli() },
	})
}

func init() {
	adaptors.Register(&adaptors.Definition{
		Name:     "dhis2",
		Doc:      "DHIS2 Web API: dataValueSets, tracker, metadata; dhis2 ≤6 (axios era) and ≥7 semantics by version",
		Default:  "8.2.1",
		Supports: func(v adaptors.Version) bool { return v.Major >= 1 && v.Major <= 8 },
		Source:   func(adaptors.Version) string { return conversions.Source() + source },
		Host:     Host,
	})
}
