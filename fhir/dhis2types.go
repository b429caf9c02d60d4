package fhir

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
)

// DHIS2 payload types. JSON names are exactly DHIS2's (Web API dataValueSets
// and the 2.36+ /api/tracker model). Every type keeps members it does not
// model in Extra, so decoding and re-encoding a DHIS2 document loses nothing
// (displayName, notes, relationships, createdAtClient, completedDate, ...).

// DataValueSet is the body of POST/GET /api/dataValueSets.
type DataValueSet struct {
	DataSet              string      `json:"dataSet,omitempty"`
	CompleteDate         string      `json:"completeDate,omitempty"`
	Period               string      `json:"period,omitempty"`
	OrgUnit              string      `json:"orgUnit,omitempty"`
	AttributeOptionCombo string      `json:"attributeOptionCombo,omitempty"`
	DataValues           []DataValue `json:"dataValues"`
	Extra                Extra       `json:"-"`
}

// DataValue is one aggregate value. Value is a string as DHIS2 expects.
type DataValue struct {
	DataElement          string `json:"dataElement"`
	Period               string `json:"period,omitempty"`
	OrgUnit              string `json:"orgUnit,omitempty"`
	CategoryOptionCombo  string `json:"categoryOptionCombo,omitempty"`
	AttributeOptionCombo string `json:"attributeOptionCombo,omitempty"`
	Value                string `json:"value"`
	Comment              string `json:"comment,omitempty"`
	FollowUp             *bool  `json:"followup,omitempty"`
	Deleted              *bool  `json:"deleted,omitempty"`
	Extra                Extra  `json:"-"`
}

// TrackerPayload is the body of POST /api/tracker (flat or nested).
type TrackerPayload struct {
	TrackedEntities []TrackedEntity   `json:"trackedEntities,omitempty"`
	Enrollments     []Enrollment      `json:"enrollments,omitempty"`
	Events          []Event           `json:"events,omitempty"`
	Relationships   []json.RawMessage `json:"relationships,omitempty"`
	Extra           Extra             `json:"-"`
}

// TrackedEntity is a 2.36+ tracker tracked entity.
type TrackedEntity struct {
	TrackedEntity     string            `json:"trackedEntity,omitempty"`
	TrackedEntityType string            `json:"trackedEntityType,omitempty"`
	OrgUnit           string            `json:"orgUnit,omitempty"`
	Inactive          *bool             `json:"inactive,omitempty"`
	Deleted           *bool             `json:"deleted,omitempty"`
	CreatedAt         string            `json:"createdAt,omitempty"`
	UpdatedAt         string            `json:"updatedAt,omitempty"`
	Attributes        []Attribute       `json:"attributes,omitempty"`
	Enrollments       []Enrollment      `json:"enrollments,omitempty"`
	Relationships     []json.RawMessage `json:"relationships,omitempty"`
	Extra             Extra             `json:"-"`
}

// Enrollment is a tracker enrollment.
type Enrollment struct {
	Enrollment    string      `json:"enrollment,omitempty"`
	TrackedEntity string      `json:"trackedEntity,omitempty"`
	Program       string      `json:"program,omitempty"`
	OrgUnit       string      `json:"orgUnit,omitempty"`
	Status        string      `json:"status,omitempty"`
	EnrolledAt    string      `json:"enrolledAt,omitempty"`
	OccurredAt    string      `json:"occurredAt,omitempty"`
	CompletedAt   string      `json:"completedAt,omitempty"`
	CreatedAt     string      `json:"createdAt,omitempty"`
	UpdatedAt     string      `json:"updatedAt,omitempty"`
	Deleted       *bool       `json:"deleted,omitempty"`
	Attributes    []Attribute `json:"attributes,omitempty"`
	Events        []Event     `json:"events,omitempty"`
	Extra         Extra       `json:"-"`
}

// Event is a tracker event.
type Event struct {
	Event                string       `json:"event,omitempty"`
	Enrollment           string       `json:"enrollment,omitempty"`
	Program              string       `json:"program,omitempty"`
	ProgramStage         string       `json:"programStage,omitempty"`
	OrgUnit              string       `json:"orgUnit,omitempty"`
	Status               string       `json:"status,omitempty"`
	OccurredAt           string       `json:"occurredAt,omitempty"`
	ScheduledAt          string       `json:"scheduledAt,omitempty"`
	CompletedAt          string       `json:"completedAt,omitempty"`
	CreatedAt            string       `json:"createdAt,omitempty"`
	UpdatedAt            string       `json:"updatedAt,omitempty"`
	AttributeOptionCombo string       `json:"attributeOptionCombo,omitempty"`
	Deleted              *bool        `json:"deleted,omitempty"`
	DataValues           []DataValueT `json:"dataValues,omitempty"`
	Extra                Extra        `json:"-"`
}

// DataValueT is a tracker event data value (distinct from the aggregate
// DataValue). A nil Value clears the value in DHIS2.
type DataValueT struct {
	DataElement       string  `json:"dataElement"`
	Value             *string `json:"value"`
	ProvidedElsewhere *bool   `json:"providedElsewhere,omitempty"`
	Extra             Extra   `json:"-"`
}

// Attribute is a tracked entity attribute value. A nil Value clears it.
type Attribute struct {
	Attribute   string  `json:"attribute"`
	DisplayName string  `json:"displayName,omitempty"`
	ValueType   string  `json:"valueType,omitempty"`
	Value       *string `json:"value"`
	Extra       Extra   `json:"-"`
}

// Extra holds JSON members a DHIS2 type does not model, verbatim.
type Extra map[string]json.RawMessage

func (v *DataValueSet) UnmarshalJSON(b []byte) error {
	type plain DataValueSet
	return unmarshalExtra(b, (*plain)(v), &v.Extra)
}
func (v DataValueSet) MarshalJSON() ([]byte, error) {
	type plain DataValueSet
	return marshalExtra(plain(v), v.Extra)
}
func (v *DataValue) UnmarshalJSON(b []byte) error {
	type plain DataValue
	return unmarshalExtra(b, (*plain)(v), &v.Extra)
}
func (v DataValue) MarshalJSON() ([]byte, error) {
	type plain DataValue
	return marshalExtra(plain(v), v.Extra)
}
func (v *TrackerPayload) UnmarshalJSON(b []byte) error {
	type plain TrackerPayload
	return unmarshalExtra(b, (*plain)(v), &v.Extra)
}
func (v TrackerPayload) MarshalJSON() ([]byte, error) {
	type plain TrackerPayload
	return marshalExtra(plain(v), v.Extra)
}
func (v *TrackedEntity) UnmarshalJSON(b []byte) error {
	type plain TrackedEntity
	return unmarshalExtra(b, (*plain)(v), &v.Extra)
}
func (v TrackedEntity) MarshalJSON() ([]byte, error) {
	type plain TrackedEntity
	return marshalExtra(plain(v), v.Extra)
}
func (v *Enrollment) UnmarshalJSON(b []byte) error {
	type plain Enrollment
	return unmarshalExtra(b, (*plain)(v), &v.Extra)
}
func (v Enrollment) MarshalJSON() ([]byte, error) {
	type plain Enrollment
	return marshalExtra(plain(v), v.Extra)
}
func (v *Event) UnmarshalJSON(b []byte) error {
	type plain Event
	return unmarshalExtra(b, (*plain)(v), &v.Extra)
}
func (v Event) MarshalJSON() ([]byte, error) {
	type plain Event
	return marshalExtra(plain(v), v.Extra)
}
func (v *DataValueT) UnmarshalJSON(b []byte) error {
	type plain DataValueT
	return unmarshalExtra(b, (*plain)(v), &v.Extra)
}
func (v DataValueT) MarshalJSON() ([]byte, error) {
	type plain DataValueT
	return marshalExtra(plain(v), v.Extra)
}
func (v *Attribute) UnmarshalJSON(b []byte) error {
	type plain Attribute
	return unmarshalExtra(b, (*plain)(v), &v.Extra)
}
func (v Attribute) MarshalJSON() ([]byte, error) {
	type plain Attribute
	return marshalExtra(plain(v), v.Extra)
}

var tagCache sync.Map // reflect.Type -> map[string]bool

func jsonNames(t reflect.Type) map[string]bool {
	if v, ok := tagCache.Load(t); ok {
		return v.(map[string]bool)
	}
	names := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("json")
		if tag == "" || tag == "-" {
			continue
		}
		names[strings.Split(tag, ",")[0]] = true
	}
	tagCache.Store(t, names)
	return names
}

// unmarshalExtra decodes the modelled fields into v and the rest into extra.
// Matching is exact (unlike encoding/json's case folding) so a member that
// differs only in case is kept in Extra rather than silently merged.
func unmarshalExtra(b []byte, v any, extra *Extra) error {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	known := jsonNames(reflect.TypeOf(v).Elem())
	modelled := map[string]json.RawMessage{}
	*extra = nil
	for k, raw := range all {
		if known[k] {
			modelled[k] = raw
			continue
		}
		if *extra == nil {
			*extra = Extra{}
		}
		(*extra)[k] = raw
	}
	mb, err := json.Marshal(modelled)
	if err != nil {
		return err
	}
	return json.Unmarshal(mb, v)
}

func marshalExtra(v any, extra Extra) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil || len(extra) == 0 {
		return b, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, raw := range extra {
		if _, clash := m[k]; !clash {
			m[k] = raw
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
