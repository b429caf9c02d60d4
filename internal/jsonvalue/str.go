package jsonvalue

import (
	"time"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// AppendString appends s as encoding/json writes a string: quotes,
// backslashes and control characters escaped (\b \f \n \r \t by name),
// U+2028 and U+2029 escaped, invalid UTF-8 as U+FFFD, and with escapeHTML
// <, > and & as \u003c, \u003e, \u0026. The hand-written encoders (run
// history records, log lines) share it, so their text is json.Marshal's.
func AppendString(b []byte, s string, escapeHTML bool) []byte {
	safe := &safeASCII
	if escapeHTML {
		safe = &htmlSafeASCII
	}
	return appendString(b, s, safe, false)
}

// AppendJSString appends s as JavaScript's JSON.stringify quotes a string
// (QuoteJSONString) for text without lone surrogates: the same ASCII
// escapes as AppendString without HTML escaping, and every other byte as
// it is (JSON.stringify does not escape U+2028 and U+2029). The runtime's
// native JSON.stringify writes with it.
func AppendJSString(b []byte, s string) []byte {
	return appendString(b, s, &safeASCII, true)
}

// appendString is both: js leaves non-ASCII bytes alone.
func appendString(b []byte, s string, safe *[utf8.RuneSelf]bool, js bool) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if safe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			b = appendEscape(b, c)
			i++
			start = i
			continue
		}
		if js {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendEscape appends the escape both quotings write for an ASCII byte
// that is not safe: a quote, a backslash or a control character (\b \f \n
// \r \t by name, the others as \u00xx). AppendCanonical writes a decoded
// \u escape with it, so its strings are AppendJSString's.
func appendEscape(b []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(b, '\\', c)
	case '\b':
		return append(b, '\\', 'b')
	case '\f':
		return append(b, '\\', 'f')
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	}
	return append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}

// safeASCII and htmlSafeASCII mark the ASCII bytes a string keeps as they
// are, without and with HTML escaping: one load per byte in AppendString's
// loop instead of five comparisons.
var safeASCII, htmlSafeASCII = func() (plain, html [utf8.RuneSelf]bool) {
	for c := byte(0x20); c < utf8.RuneSelf; c++ {
		plain[c] = c != '"' && c != '\\'
		html[c] = plain[c] && c != '<' && c != '>' && c != '&'
	}
	return plain, html
}()

// AppendTime appends t as time.Time's MarshalJSON writes it (RFC 3339
// with nanoseconds as needed, quoted) for a time MarshalJSON accepts
// (years 0-9999, offsets under 24 hours); the hand-written encoders
// (history records, the OpenHIM envelope, state.openhim) share it.
func AppendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}
