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
	var out []byte
	found := false
	ok := members(doc, func(k, v []byte) {
		if keyIs(k, key) {
			found = true
			return
		}
		if out == nil {
			out = make([]byte, 1, len(doc))
			out[0] = '{'
		} else {
			out = append(out, ',')
		}
		out = append(append(append(out, k...), ':'), v...)
	})
	if !ok || !found {
		return doc
	}
	if out == nil {
		out = []byte{'{'}
	}
	return append(out, '}')
}

// Field is the raw value of a top-level member of a JSON object (the last
// one when the key repeats, as JSON.parse does), read without decoding the
// document; ok is false when doc is not an object or has no such member.
// The value is a slice of doc.
func Field(doc json.RawMessage, key string) (v json.RawMessage, ok bool) {
	if !members(doc, func(k, val []byte) {
		if keyIs(k, key) {
			v, ok = val, true
		}
	}) {
		return nil, false
	}
	return v, ok
}

// members hands f each top-level member of a JSON object: its key as
// written (quotes included) and its value as written. Both callers run on
// every routed request (the answer's data, the history's state), so this
// walks the bytes once after Valid, where encoding/json's Decoder made
// a token and a copy per member. It returns false, having called f for
// nothing, when doc is not a valid JSON object.
func members(doc []byte, f func(key, value []byte)) bool {
	if !Valid(doc) {
		return false
	}
	i := skipSpace(doc, 0)
	if doc[i] != '{' {
		return false
	}
	i++
	for {
		i = skipSpace(doc, i)
		switch doc[i] {
		case '}':
			return true
		case ',':
			i = skipSpace(doc, i+1)
		}
		ks := i
		i = StringEnd(doc, i)
		key := doc[ks:i]
		i = skipSpace(doc, i) + 1 // ':'
		i = skipSpace(doc, i)
		vs := i
		i = ValueEnd(doc, i)
		f(key, doc[vs:i])
	}
}

func keyIs(raw []byte, key string) bool {
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner) == key
	}
	var k string
	return json.Unmarshal(raw, &k) == nil && k == key
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// StringEnd is the offset just past the string starting at b[i] == '"'
// (the end of b when it is not closed).
func StringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// ValueEnd is the offset just past the value starting at b[i], which must be
// valid JSON (callers have run Valid): the redactor and this
// package share it.
func ValueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return StringEnd(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = StringEnd(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// Members hands f each top-level member of a JSON object (key as written,
// quotes included, and value as written); false when doc is not a valid
// JSON object.
func Members(doc []byte, f func(key, value []byte)) bool { return members(doc, f) }

// KeyIs reports whether raw, a JSON string as written (quotes included),
// is key.
func KeyIs(raw []byte, key string) bool { return keyIs(raw, key) }
