// Package jsoncheck checks a request body at the door, in one linear pass
// and without decoding it: valid UTF-8 (encoding/json would quietly turn a
// bad byte into U+FFFD) and nesting no deeper than the mediator handles
// everywhere after (decoding, the job's state, serialisation, storage).
package jsoncheck

import (
	"fmt"
	"unicode/utf8"
)

// MaxDepth is how deeply arrays and objects may nest in a request body.
// Real payloads (FHIR bundles, DHIS2 tracker exports) nest a few dozen
// levels; 1,000 leaves ample room and stays far from the stack limits of
// the decoders and the job VM.
const MaxDepth = 1000

// UTF8Error is a byte sequence that is not UTF-8.
type UTF8Error struct {
	Offset int  // of the first bad byte, from 0
	Byte   byte // that byte
}

func (e *UTF8Error) Error() string {
	return fmt.Sprintf("request body is not valid UTF-8: byte 0x%02x at offset %d", e.Byte, e.Offset)
}

// DepthError is nesting deeper than the limit.
type DepthError struct {
	Limit  int
	Offset int // of the bracket that went one level too deep
}

func (e *DepthError) Error() string {
	return fmt.Sprintf("request body nests arrays/objects more than %d levels deep (at byte offset %d)", e.Limit, e.Offset)
}

// UTF8 reports the first invalid UTF-8 sequence in b, or nil.
func UTF8(b []byte) error {
	if utf8.Valid(b) {
		return nil
	}
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return &UTF8Error{Offset: i, Byte: b[i]}
		}
		i += n
	}
	return nil
}

// Depth reports nesting deeper than limit in JSON text b (brackets inside
// strings do not count). It does not validate the JSON; the decoder does.
func Depth(b []byte, limit int) error {
	depth := 0
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++ // the escaped character cannot end the string
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			if depth++; depth > limit {
				return &DepthError{Limit: limit, Offset: i}
			}
		case ']', '}':
			depth--
		}
	}
	return nil
}
