// Package conversions exposes the Go fhir package's FHIR ⇄ DHIS2 conversions
// to jobs as the `conversions` helper namespace of the dhis2, fhir and fhir-4
// adaptors. Helpers are plain functions, not operations: a job calls them
// inside fn(), e.g.
//
//	fn(state => {
//	  const { dataValueSet, problems } =
//	    conversions.measureReportToDataValueSet(state.data, mapping);
//	  return { ...state, dataValueSet, problems };
//	});
//
// It is a helper package shared by two adaptors, not an adaptor itself, so the
// rule "adaptors never depend on each other" holds: both import this package
// and the fhir package, neither imports the other.
//
// Values cross the JS/Go boundary as JSON text: the fhir package's types have
// exact JSON shapes (including members they do not model), and JSON avoids
// goja's export quirks (int64 vs float64, nested maps). Mappings are decoded
// strictly, so a misspelt mapping key is an error rather than a silently
// empty conversion.
package conversions

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jobmediator/jobmediator/adaptors"
	"github.com/jobmediator/jobmediator/fhir"
	models "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

//go:embed conversions.js
var source string

// Source is the JavaScript that defines exports.conversions from the host
// functions of Host. Adaptors prepend it to their own source.
func Source() string { return source }

// strict decodes a mapping, rejecting unknown keys and trailing data.
func strict(what, text string, v any) error {
	dec := json.NewDecoder(bytes.NewReader([]byte(text)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %v", what, err)
	}
	return nil
}

func problems(ps []fhir.Problem) []fhir.Problem {
	if ps == nil {
		return []fhir.Problem{}
	}
	return ps
}

func marshal(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// MeasureReportToDataValueSet is the JSON form of
// fhir.MeasureReportToDataValueSet: {"dataValueSet":…, "problems":[…]}.
func MeasureReportToDataValueSet(mrJSON, mappingJSON string) (string, error) {
	var m fhir.MeasureReportMapping
	if err := strict("measureReportToDataValueSet mapping", mappingJSON, &m); err != nil {
		return "", err
	}
	mr, err := fhir.Decode([]byte(mrJSON))
	if err != nil {
		return "", fmt.Errorf("measureReportToDataValueSet: %v", err)
	}
	dvs, ps := fhir.MeasureReportToDataValueSet(mr, m)
	return marshal(map[string]any{"dataValueSet": dvs, "problems": problems(ps)})
}

// trackerMapping is fhir.TrackerMapping plus the time zone by name, which the
// Go type keeps as a *time.Location outside JSON.
type trackerMapping struct {
	fhir.TrackerMapping
	TimeZone string `json:"timeZone,omitempty"`
}

// TrackedEntityToBundle is the JSON form of fhir.TrackedEntityToBundle:
// {"bundle":…, "problems":[…]}; bundle is null when the tracked entity
// cannot be converted at all.
func TrackedEntityToBundle(teJSON, mappingJSON string) (string, error) {
	var m trackerMapping
	if err := strict("trackedEntityToBundle mapping", mappingJSON, &m); err != nil {
		return "", err
	}
	if m.TimeZone != "" {
		loc, err := time.LoadLocation(m.TimeZone)
		if err != nil {
			return "", fmt.Errorf("trackedEntityToBundle mapping: timeZone %q: %v", m.TimeZone, err)
		}
		m.TrackerMapping.TimeZone = loc
	}
	var te fhir.TrackedEntity
	if err := json.Unmarshal([]byte(teJSON), &te); err != nil {
		return "", fmt.Errorf("trackedEntityToBundle: tracked entity is not a DHIS2 tracked entity: %v", err)
	}
	b, ps := fhir.TrackedEntityToBundle(te, m.TrackerMapping)
	return marshal(map[string]any{"bundle": b, "problems": problems(ps)})
}

// PatientToTrackedEntity is the JSON form of fhir.PatientToTrackedEntity:
// {"trackedEntity":…, "problems":[…]}; trackedEntity is null when a problem
// is an error (the patient cannot be matched or converted).
func PatientToTrackedEntity(patientJSON, mappingJSON string) (string, error) {
	var m fhir.PatientMapping
	if err := strict("patientToTrackedEntity mapping", mappingJSON, &m); err != nil {
		return "", err
	}
	p, err := fhir.Decode([]byte(patientJSON))
	if err != nil {
		return "", fmt.Errorf("patientToTrackedEntity: %v", err)
	}
	te, ps := fhir.PatientToTrackedEntity(p, m)
	var out any = te
	if fhir.HasError(ps) {
		out = nil
	}
	return marshal(map[string]any{"trackedEntity": out, "problems": problems(ps)})
}

// Validate returns the OperationOutcome of fhir.Validate as JSON.
func Validate(resourceJSON string) (string, error) {
	return marshal(fhir.Validate([]byte(resourceJSON)))
}

// PeriodFromFHIR maps a FHIR Period (JSON) to a DHIS2 period id of type typ.
func PeriodFromFHIR(typ, periodJSON string) (string, error) {
	var p models.Period
	if err := json.Unmarshal([]byte(periodJSON), &p); err != nil {
		return "", fmt.Errorf("periodFromFHIR: not a FHIR Period: %v", err)
	}
	id, err := fhir.PeriodFromFHIR(typ, p)
	if err != nil {
		return "", fmt.Errorf("periodFromFHIR: %v", err)
	}
	return id, nil
}

// PeriodToFHIR maps a DHIS2 period id to a FHIR Period (JSON).
func PeriodToFHIR(id string) (string, error) {
	p, err := fhir.PeriodToFHIR(id)
	if err != nil {
		return "", fmt.Errorf("periodToFHIR: %v", err)
	}
	return marshal(p)
}

// ProblemsOutcome turns conversion problems (JSON array) into an
// OperationOutcome (JSON), for answering FHIR clients.
func ProblemsOutcome(problemsJSON string) (string, error) {
	var ps []fhir.Problem
	if err := json.Unmarshal([]byte(problemsJSON), &ps); err != nil {
		return "", fmt.Errorf("problemsOutcome: want an array of problems: %v", err)
	}
	return marshal(fhir.ProblemsOutcome(ps))
}

// Host returns the host functions conversions.js calls. Errors become JS
// exceptions naming the helper, so a job sees which conversion failed.
func Host(env *adaptors.Env) map[string]any {
	wrap2 := func(f func(a, b string) (string, error)) func(a, b string) string {
		return func(a, b string) string {
			out, err := f(a, b)
			if err != nil {
				env.Throw(err.Error(), map[string]any{"code": "CONVERSION_ERROR"})
			}
			return out
		}
	}
	wrap1 := func(f func(a string) (string, error)) func(a string) string {
		return func(a string) string {
			out, err := f(a)
			if err != nil {
				env.Throw(err.Error(), map[string]any{"code": "CONVERSION_ERROR"})
			}
			return out
		}
	}
	return map[string]any{
		"convMeasureReport":   wrap2(MeasureReportToDataValueSet),
		"convTrackedEntity":   wrap2(TrackedEntityToBundle),
		"convPatient":         wrap2(PatientToTrackedEntity),
		"convValidate":        wrap1(Validate),
		"convPeriodFromFHIR":  wrap2(PeriodFromFHIR),
		"convPeriodToFHIR":    wrap1(PeriodToFHIR),
		"convProblemsOutcome": wrap1(ProblemsOutcome),
		"convDeriveUid":       func(seed string) string { return fhir.DeriveUID(seed) },
	}
}

// Merge adds the conversion host functions to an adaptor's host map.
func Merge(env *adaptors.Env, host map[string]any) map[string]any {
	for k, v := range Host(env) {
		host[k] = v
	}
	return host
}
