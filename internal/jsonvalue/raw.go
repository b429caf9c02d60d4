package jsonvalue

import (
	"bytes"
	"encoding/json"
)

// WithoutKey removes a top-level key from a JSON object, keeping the other
// members in their order and as they are written. It reads the document
// once, without decoding values into maps (which would sort keys and cost
// seconds on a multi-megabyte state); anything but an object is returned
// unchanged.
func WithoutKey(doc json.RawMessage, key string) json.RawMessage {
	dec := json.NewDecoder(bytes.NewReader(doc))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return doc
	}
	out := make([]byte, 1, len(doc))
	out[0] = '{'
	found := false
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return doc
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return doc
		}
		if k, _ := t.(string); k == key {
			found = true
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		kb, _ := json.Marshal(t)
		out = append(append(append(out, kb...), ':'), v...)
	}
	if !found {
		return doc
	}
	return append(out, '}')
}

// Field is the raw value of a top-level member of a JSON object (the last
// one when the key repeats, as JSON.parse does), read without decoding the
// document; ok is false when doc is not an object or has no such member.
func Field(doc json.RawMessage, key string) (v json.RawMessage, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, false
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, false
		}
		if k, _ := t.(string); k == key {
			v, ok = raw, true
		}
	}
	return v, ok
}
