package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/jobmediator/jobmediator/fhir"
)

// version is one immutable version of a resource. A deleted version has no
// content; it exists so that GET answers 410 and history shows the delete.
type version struct {
	vid     int
	raw     []byte         // the stored JSON (id and meta set by the server)
	doc     map[string]any // raw parsed with UseNumber, for search
	updated time.Time
	deleted bool
}

func (v *version) etag() string { return `W/"` + strconv.Itoa(v.vid) + `"` }

// entity is the history of one logical resource. Writers never mutate an
// entity in place: they store a new one, so cloning the store for a
// transaction only copies maps.
type entity struct {
	typ, id  string
	seq      int64 // creation order: the default search order
	versions []*version
}

func (e *entity) current() *version { return e.versions[len(e.versions)-1] }

func (e *entity) live() bool { return e != nil && !e.current().deleted }

func (e *entity) ref() string { return e.typ + "/" + e.id }

// store holds every entity by type and id.
type store struct {
	byType map[string]map[string]*entity
}

func newStore() *store { return &store{byType: map[string]map[string]*entity{}} }

// clone copies the maps, not the entities (which are immutable): a
// transaction works on a clone and swaps it in only if every entry succeeds.
func (st *store) clone() *store {
	c := &store{byType: make(map[string]map[string]*entity, len(st.byType))}
	for t, m := range st.byType {
		cm := make(map[string]*entity, len(m))
		for id, e := range m {
			cm[id] = e
		}
		c.byType[t] = cm
	}
	return c
}

func (st *store) get(typ, id string) *entity { return st.byType[typ][id] }

// put stores a new version of typ/id (seq is used only for a new entity).
func (st *store) put(typ, id string, seq int64, v *version) *entity {
	m := st.byType[typ]
	if m == nil {
		m = map[string]*entity{}
		st.byType[typ] = m
	}
	old := m[id]
	e := &entity{typ: typ, id: id, seq: seq}
	if old != nil {
		e.seq = old.seq
		e.versions = append(append(make([]*version, 0, len(old.versions)+1), old.versions...), v)
	} else {
		e.versions = []*version{v}
	}
	m[id] = e
	return e
}

// live returns the non-deleted entities of typ in creation order.
func (st *store) live(typ string) []*entity {
	var out []*entity
	for _, e := range st.byType[typ] {
		if e.live() {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// ---- JSON helpers ----

// parseJSON decodes a JSON object keeping numbers verbatim (FHIR decimals
// carry their precision in the lexical form).
func parseJSON(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(fhir.StripBOM(b)))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, errors.New("trailing data after the JSON object")
	}
	if m == nil {
		return nil, errors.New("expected a JSON object")
	}
	return m, nil
}

// encodeJSON marshals without HTML escaping (narrative divs stay readable).
func encodeJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only reachable with non-JSON values, which the server never builds.
		panic(fmt.Sprintf("fhir sim: encode: %v", err))
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// encodeResource emits resourceType, id and meta first, as servers do, then
// the other elements in key order.
func encodeResource(m map[string]any) []byte {
	var buf bytes.Buffer
	buf.WriteByte('{')
	first := true
	write := func(k string, v any) {
		if !first {
			buf.WriteByte(',')
		}
		first = false
		buf.Write(encodeJSON(k))
		buf.WriteByte(':')
		buf.Write(encodeJSON(v))
	}
	lead := []string{"resourceType", "id", "meta"}
	for _, k := range lead {
		if v, ok := m[k]; ok {
			write(k, v)
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "resourceType" && k != "id" && k != "meta" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		write(k, m[k])
	}
	buf.WriteByte('}')
	return buf.Bytes()
}

// instant formats t as a FHIR instant with milliseconds, in UTC.
func instant(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }
