// Package urlenc is percent-encoding as JavaScript and browsers write it,
// which differs from Go's url.QueryEscape: jobs build URLs and form bodies
// with encodeURIComponent and URLSearchParams, adaptors must send what
// OpenFn's would, and the redactor must recognise a secret so encoded.
package urlenc

import "strings"

// PercentEncode escapes every byte except ASCII letters, digits and keep;
// plus writes a space as "+". Hex digits are upper-case.
func PercentEncode(s, keep string, plus bool) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.IndexByte(keep, c) >= 0:
			b.WriteByte(c)
		case c == ' ' && plus:
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// URIComponent is JavaScript's encodeURIComponent.
func URIComponent(s string) string { return PercentEncode(s, "-_.!~*'()", false) }

// Form is application/x-www-form-urlencoded as URLSearchParams and browsers
// write it (space as +, * kept, ~ escaped).
func Form(s string) string { return PercentEncode(s, "*-._", true) }
