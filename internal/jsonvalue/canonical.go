package jsonvalue

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/bits"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// Limits of AppendCanonical. Its bookkeeping lives in fixed arrays on the
// stack (no allocation per call), so a document beyond them is declined,
// not canonicalised by a slower path: the caller has goja to fall back on.
const (
	// canonMaxDepth is the most arrays and objects open at once.
	canonMaxDepth = 64
	// canonMaxMembers is the most members of one object: the duplicate
	// check compares a key with the earlier keys of its object.
	canonMaxMembers = 64
	// canonMaxOpenKeys is the most keys remembered at once: those of every
	// object still open (an outer object's keys wait while a member's
	// value is written, since a later key may repeat one of them).
	canonMaxOpenKeys = 256
)

// canonLevel is an open array or object.
type canonLevel struct {
	obj bool
	// first is the index in keys of the object's first key.
	first int
	// seen has a bit set per key hash: a key whose bit is clear cannot
	// repeat an earlier key, so the byte comparisons are only made on
	// a hash collision.
	seen uint64
}

// keySpan is where a key is written in the output, quotes included.
type keySpan struct{ start, end int }

// AppendCanonical appends to dst the text that JavaScript's
// JSON.stringify(JSON.parse(src)) gives (as goja, github.com/dop251/goja,
// computes it), for src a JSON text. ok is false, with dst unchanged in
// content (dst is returned as given), whenever it cannot promise exactly
// goja's text:
//   - src is not one valid JSON value (surrounding whitespace is allowed);
//   - an object repeats a key (JSON.parse keeps the last value at the first
//     key's place), or has more than 64 members, or more than 256 keys are
//     open at once in the enclosing objects (the limits of the duplicate
//     check, which compares a key with the earlier keys of its object);
//   - a key is only digits (JavaScript orders array-index keys first), or
//     is "__proto__";
//   - a string has a \u escape of a surrogate (U+D800-U+DFFF), paired or
//     not, or invalid UTF-8;
//   - a number overflows float64 (1e400);
//   - arrays and objects nest deeper than 64.
//
// Otherwise the text is src without whitespace, strings re-escaped as
// AppendJSString quotes their decoded text, and numbers as AppendJSNumber
// writes their float64 value. It reads src once and allocates nothing but
// dst's growth: a routed request's body and final state go through it.
func AppendCanonical(dst, src []byte) (out []byte, ok bool) {
	var levels [canonMaxDepth]canonLevel
	var keys [canonMaxOpenKeys]keySpan
	depth, nkeys := 0, 0
	out = dst
	i := skipSpace(src, 0)
	for {
		// a value starts at i
		if i >= len(src) {
			return dst, false
		}
		switch c := src[i]; c {
		case '{', '[':
			if depth == canonMaxDepth {
				return dst, false
			}
			out = append(out, c)
			i = skipSpace(src, i+1)
			if i < len(src) && src[i] == c+2 { // '{'+2 is '}', '['+2 is ']'
				out = append(out, c+2)
				i++
				break
			}
			levels[depth] = canonLevel{obj: c == '{', first: nkeys}
			depth++
			if c == '{' {
				if out, i, nkeys = canonKey(out, src, i, &levels[depth-1], &keys, nkeys); i < 0 {
					return dst, false
				}
			}
			continue
		case '"':
			if out, i = canonString(out, src, i); i < 0 {
				return dst, false
			}
		case 't', 'f', 'n':
			j := -1
			switch c {
			case 't':
				j = literal(src, i, "true")
			case 'f':
				j = literal(src, i, "false")
			case 'n':
				j = literal(src, i, "null")
			}
			if j < 0 {
				return dst, false
			}
			out = append(out, src[i:j]...)
			i = j
		default:
			if out, i = canonNumber(out, src, i); i < 0 {
				return dst, false
			}
		}
		// a value ended at i: close containers until one goes on
		for {
			i = skipSpace(src, i)
			if depth == 0 {
				if i != len(src) {
					return dst, false
				}
				return out, true
			}
			if i >= len(src) {
				return dst, false
			}
			l := &levels[depth-1]
			c := src[i]
			if c == ',' {
				out = append(out, ',')
				i = skipSpace(src, i+1)
				if l.obj {
					if out, i, nkeys = canonKey(out, src, i, l, &keys, nkeys); i < 0 {
						return dst, false
					}
				}
				break
			}
			if l.obj && c == '}' || !l.obj && c == ']' {
				out = append(out, c)
				nkeys = l.first
				depth--
				i++
				continue
			}
			return dst, false
		}
	}
}

// canonKey writes the key and colon of an object member at src[i] and
// returns the offset of its value, or -1 when the key is not valid or is
// one AppendCanonical declines (a repeat, digits only, "__proto__", over
// the limits).
func canonKey(out, src []byte, i int, l *canonLevel, keys *[canonMaxOpenKeys]keySpan, nkeys int) ([]byte, int, int) {
	if i >= len(src) || src[i] != '"' {
		return out, -1, nkeys
	}
	if nkeys-l.first >= canonMaxMembers || nkeys >= len(keys) {
		return out, -1, nkeys
	}
	start := len(out)
	if out, i = canonString(out, src, i); i < 0 {
		return out, -1, nkeys
	}
	// Keys are compared as written: the output is the decoded key quoted
	// one way only, so two keys are the same string exactly when their
	// output is the same, however the input escaped them.
	key := out[start:]
	name := key[1 : len(key)-1]
	if len(name) > 0 && digits(name, 0) == len(name) {
		return out, -1, nkeys
	}
	if string(name) == "__proto__" {
		return out, -1, nkeys
	}
	bit := keyBit(name)
	if l.seen&bit != 0 {
		for _, k := range keys[l.first:nkeys] {
			if bytes.Equal(out[k.start:k.end], key) {
				return out, -1, nkeys
			}
		}
	}
	l.seen |= bit
	keys[nkeys] = keySpan{start, len(out)}
	nkeys++
	i = skipSpace(src, i)
	if i >= len(src) || src[i] != ':' {
		return out, -1, nkeys
	}
	out = append(out, ':')
	return out, skipSpace(src, i+1), nkeys
}

// keyBit is one bit of 64 chosen by a hash of the key's length and its
// first and last bytes: different keys of one object rarely share it.
func keyBit(name []byte) uint64 {
	h := uint64(len(name))
	if len(name) > 0 {
		h = h<<16 | uint64(name[0])<<8 | uint64(name[len(name)-1])
	}
	return 1 << (h * 0x9e3779b97f4a7c15 >> 58)
}

// canonString writes the string at src[i] == '"' as AppendJSString quotes
// its decoded text and returns the offset after it, or -1 when it is not
// valid or AppendCanonical declines it (a surrogate escape, invalid UTF-8).
// Runs of bytes that need no escape are copied as they are: a JSON string
// without escapes is already JSON.stringify's text.
func canonString(out, src []byte, i int) ([]byte, int) {
	out = append(out, '"')
	i++
	start := i
	for i < len(src) {
		if i+8 <= len(src) {
			m := notPlain8(binary.LittleEndian.Uint64(src[i:]))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3 // the first byte to look at
		} else if c := src[i]; c < utf8.RuneSelf && safeASCII[c] {
			i++
			continue
		}
		c := src[i]
		switch {
		case c == '"':
			out = append(out, src[start:i]...)
			return append(out, '"'), i + 1
		case c == '\\':
			out = append(out, src[start:i]...)
			if i+1 >= len(src) {
				return out, -1
			}
			switch e := src[i+1]; e {
			case '"', '\\', 'b', 'f', 'n', 'r', 't':
				// JSON.stringify writes these seven the same way
				out = append(out, '\\', e)
				i += 2
			case '/':
				out = append(out, '/')
				i += 2
			case 'u':
				if i+6 > len(src) {
					return out, -1
				}
				r := rune(0)
				for _, h := range src[i+2 : i+6] {
					switch {
					case '0' <= h && h <= '9':
						h -= '0'
					case 'a' <= h && h <= 'f':
						h -= 'a' - 10
					case 'A' <= h && h <= 'F':
						h -= 'A' - 10
					default:
						return out, -1
					}
					r = r<<4 | rune(h)
				}
				switch {
				case 0xd800 <= r && r <= 0xdfff:
					// a pair is one character to JSON.parse and a lone
					// one is U+FFFD to goja's decoder: decline both
					// rather than follow either
					return out, -1
				case r >= utf8.RuneSelf:
					out = utf8.AppendRune(out, r)
				case safeASCII[r]:
					out = append(out, byte(r))
				default:
					out = appendEscape(out, byte(r))
				}
				i += 6
			default:
				return out, -1
			}
			start = i
		case c < 0x20: // a raw control character: not JSON
			return out, -1
		default:
			// encoding/json, under goja's JSON.parse, turns invalid UTF-8
			// into U+FFFD; decline it instead of copying it
			r, size := utf8.DecodeRune(src[i:])
			if r == utf8.RuneError && size == 1 {
				return out, -1
			}
			i += size
		}
	}
	return out, -1
}

// notPlain8 marks, with its top bit, each of the 8 bytes of w (little
// endian) that a string does not hold as it is: a control character,
// a quote, a backslash or a byte of 0x80 and up. The text of a string is
// mostly runs of plain bytes, and a word at a time is faster than a byte
// at a time. The subtractions find a byte below 0x20, or a zero byte of w
// xor'ed with a quote or a backslash; a borrow can mark a byte after
// a marked one wrongly, never before, so the lowest mark is exact.
func notPlain8(w uint64) uint64 {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	q := w ^ (lo * '"')
	bs := w ^ (lo * '\\')
	return (w | (w-lo*0x20)&^w | (q-lo)&^q | (bs-lo)&^bs) & hi
}

// canonNumber writes the number at src[i] as JSON.stringify writes its
// float64 value and returns the offset after it, or -1 when it is not a
// JSON number or overflows float64.
func canonNumber(out, src []byte, i int) ([]byte, int) {
	start := i
	if i = numberEnd(src, i); i < 0 {
		return out, -1
	}
	intStart := start
	if src[start] == '-' {
		intStart++
	}
	// digits only (no fraction, no exponent): a plain integer
	plainInt := !bytes.ContainsAny(src[intStart:i], ".eE")
	integer := i - intStart
	// An integer of up to 15 digits is below 2^53, so its float64 is
	// exact and Number::toString writes the same digits; "-0" is 0.
	if plainInt && integer <= 15 && !(src[intStart] == '0' && intStart > start) {
		return append(out, src[start:i]...), i
	}
	// The string is only read during the call (ParseFloat copies what its
	// error keeps), and a conversion would allocate for a number longer
	// than the compiler's 32-byte temporary.
	f, err := strconv.ParseFloat(unsafe.String(&src[start], i-start), 64) //nolint:gosec // G103: read-only view of src for the call
	if err != nil {
		// out of range: ±Inf, which JSON.parse in goja refuses and
		// JSON.stringify would write as null
		return out, -1
	}
	return AppendJSNumber(out, f), i
}

// AppendJSNumber appends JavaScript's Number::toString of f as goja
// formats a float64 (ECMAScript's Number::toString(10)): the shortest
// digits that read back as f, as an integer up to 21 digits before the
// point, as a decimal fraction down to 0.000001, and in exponent form
// ("1e+21", "1.5e-7") beyond; -0 is "0". f should be finite; NaN and the
// infinities are written as String() writes them.
func AppendJSNumber(dst []byte, f float64) []byte {
	switch {
	case f == 0: // and -0
		return append(dst, '0')
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	}
	// Every integer up to 2^53 is exact and needs all its digits.
	if f == math.Trunc(f) && -(1<<53) <= f && f <= 1<<53 {
		return strconv.AppendInt(dst, int64(f), 10)
	}
	// strconv's shortest 'e' form has the digits ECMAScript asks for (the
	// fewest that read back as f, the nearest to f of those); only their
	// placement differs.
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, 64)
	if e[0] == '-' {
		dst = append(dst, '-')
		e = e[1:]
	}
	// e is d[.ddd]e±xx
	var digs [24]byte
	digs[0] = e[0]
	k, j := 1, 1
	if e[1] == '.' {
		for j = 2; e[j] != 'e'; j++ {
			digs[k] = e[j]
			k++
		}
	}
	exp := 0
	for _, c := range e[j+2:] {
		exp = exp*10 + int(c-'0')
	}
	if e[j+1] == '-' {
		exp = -exp
	}
	// n is ECMAScript's: the value is 0.digs × 10^n
	n := exp + 1
	switch {
	case k <= n && n <= 21:
		dst = append(dst, digs[:k]...)
		for ; k < n; k++ {
			dst = append(dst, '0')
		}
	case 0 < n && n <= 21:
		dst = append(dst, digs[:n]...)
		dst = append(dst, '.')
		dst = append(dst, digs[n:k]...)
	case -6 < n && n <= 0:
		dst = append(dst, '0', '.')
		for ; n < 0; n++ {
			dst = append(dst, '0')
		}
		dst = append(dst, digs[:k]...)
	default:
		dst = append(dst, digs[0])
		if k > 1 {
			dst = append(dst, '.')
			dst = append(dst, digs[1:k]...)
		}
		dst = append(dst, 'e')
		if exp >= 0 {
			dst = append(dst, '+')
		}
		dst = strconv.AppendInt(dst, int64(exp), 10)
	}
	return dst
}
