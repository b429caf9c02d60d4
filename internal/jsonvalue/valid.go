package jsonvalue

// Valid reports whether b is one JSON value, exactly as encoding/json's
// Valid does (RFC 8259 grammar, surrounding whitespace allowed, nesting up
// to encoding/json's 10,000 levels, bytes of 0x80 and up taken as they are
// inside strings). Every routed request's states are checked several
// times on their way to the answer and the run history (the redactor, the
// member walk, the store's check), and encoding/json's scanner, which
// calls a step function per byte, was most of the daemon's json.Valid
// share of CPU; this is one loop over the bytes. TestValidMatchesStdlib
// and FuzzValid hold it to encoding/json's answer.
func Valid(b []byte) bool { return ValidNested(b, maxNesting) }

// ValidNested is Valid for a document that also nests no more than depth
// arrays and objects (at most encoding/json's 10,000): one pass where a
// request body needed a depth check and a validation.
func ValidNested(b []byte, depth int) bool {
	depth = min(depth, maxNesting)
	// containers open around the current position: true for an object
	var small [64]bool
	stack := small[:0]
	i := skipSpace(b, 0)
	for {
		// a value starts at i
		if i >= len(b) {
			return false
		}
		switch c := b[i]; c {
		case '{', '[':
			if len(stack) >= depth {
				return false
			}
			obj := c == '{'
			i = skipSpace(b, i+1)
			if i < len(b) && (obj && b[i] == '}' || !obj && b[i] == ']') {
				i++
				break
			}
			stack = append(stack, obj)
			if obj {
				if i = memberKey(b, i); i < 0 {
					return false
				}
			}
			continue
		case '"':
			if i = stringEnd(b, i); i < 0 {
				return false
			}
		case 't':
			if i = literal(b, i, "true"); i < 0 {
				return false
			}
		case 'f':
			if i = literal(b, i, "false"); i < 0 {
				return false
			}
		case 'n':
			if i = literal(b, i, "null"); i < 0 {
				return false
			}
		default:
			if i = numberEnd(b, i); i < 0 {
				return false
			}
		}
		// a value ended at i: close containers until one goes on
		for {
			i = skipSpace(b, i)
			if len(stack) == 0 {
				return i == len(b)
			}
			if i >= len(b) {
				return false
			}
			obj := stack[len(stack)-1]
			c := b[i]
			if c == ',' {
				i = skipSpace(b, i+1)
				if obj {
					if i = memberKey(b, i); i < 0 {
						return false
					}
				}
				break
			}
			if obj && c == '}' || !obj && c == ']' {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			return false
		}
	}
}

// maxNesting is encoding/json's limit on open arrays and objects.
const maxNesting = 10000

// memberKey reads `"key" :` at i and returns the offset after the colon
// and any space, or -1.
func memberKey(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	if i = stringEnd(b, i); i < 0 {
		return -1
	}
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return -1
	}
	return skipSpace(b, i+1)
}

// plain marks the bytes a string holds as they are: not a quote, a
// backslash or a control character.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// stringEnd is the offset just past the valid string at b[i] == '"', or -1.
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); {
		c := b[i]
		if plain[c] {
			i++
			continue
		}
		switch c {
		case '"':
			return i + 1
		case '\\':
			if i+1 >= len(b) {
				return -1
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return -1
				}
				i += 6
			default:
				return -1
			}
		default: // a control character
			return -1
		}
	}
	return -1
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func literal(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// numberEnd is the offset just past the number at i, or -1: an optional
// minus, 0 or digits not starting with 0, optional fraction, optional
// exponent. What follows it is checked by the caller.
func numberEnd(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// Compact is valid JSON b without the whitespace between its tokens, as
// encoding/json's Compact writes it: b itself when it has none (a body
// sent compact costs no copy), else a copy.
func Compact(b []byte) []byte {
	var out []byte
	last := 0 // b[last:i] is still to be copied to out
	for i := 0; i < len(b); {
		switch b[i] {
		case '"':
			i = StringEnd(b, i)
			continue
		case ' ', '\t', '\n', '\r':
			if out == nil {
				out = make([]byte, 0, len(b))
			}
			out = append(out, b[last:i]...)
			i = skipSpace(b, i)
			last = i
			continue
		}
		i++
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}
