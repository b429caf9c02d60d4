package config

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ValidationError is one problem found in a project, options, credentials or
// settings. File and Field locate it, Fix tells the operator what to change.
// Messages never contain credential values.
type ValidationError struct {
	File    string // file the problem is in ("settings" for env/flags)
	Line    int    // 1-based line, 0 when unknown
	Field   string // dotted path, e.g. workflows.Inbound.jobs.receive.body
	Message string
	Fix     string
	// Column is the 1-based column (0 when unknown); Source is the
	// offending source line, printed under the error with a caret at
	// Column, as compilers do.
	Column int
	Source string
}

// Error formats the problem as `file:line: field: message (fix: …)`, leaving
// out the parts that are unknown.
func (e ValidationError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":")
			b.WriteString(strconv.Itoa(e.Line))
			if e.Column > 0 {
				b.WriteString(":")
				b.WriteString(strconv.Itoa(e.Column))
			}
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	if e.Fix != "" {
		b.WriteString(" (fix: ")
		b.WriteString(e.Fix)
		b.WriteString(")")
	}
	return b.String()
}

// ValidationErrors is every problem found at once, in the order found (which
// follows file order), so an operator fixes a project in one pass.
type ValidationErrors []ValidationError

// Error lists every problem, one per line.
func (es ValidationErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Write prints one problem per line, each prefixed (e.g. "error: "), for
// `jobmediator check`.
func (es ValidationErrors) Write(w io.Writer, prefix string) error {
	for _, e := range es {
		if _, err := fmt.Fprintf(w, "%s%s\n%s", prefix, e.Error(), Excerpt(e.Source, e.Line, e.Column)); err != nil {
			return err
		}
	}
	return nil
}

// Excerpt shows one source line with its number and, when column is known,
// a caret under that column:
//
//	5 | fn(s => s;
//	  |          ^
//
// It is empty when there is no source line. Tabs are kept in the caret
// line so the caret lines up in a terminal.
func Excerpt(source string, line, column int) string {
	if source == "" || line <= 0 {
		return ""
	}
	num := strconv.Itoa(line)
	gutter := strings.Repeat(" ", max(4-len(num), 0))
	out := gutter + num + " | " + source + "\n"
	if column > 0 {
		var pad strings.Builder
		for i, r := range []rune(source) {
			if i >= column-1 {
				break
			}
			if r == '\t' {
				pad.WriteRune('\t')
			} else {
				pad.WriteRune(' ')
			}
		}
		out += gutter + strings.Repeat(" ", len(num)) + " | " + pad.String() + "^\n"
	}
	return out
}

// SourceLine returns line n (1-based) of text, or "" when out of range.
func SourceLine(text string, n int) string {
	if n <= 0 {
		return ""
	}
	lines := strings.Split(text, "\n")
	if n > len(lines) {
		return ""
	}
	return strings.TrimRight(lines[n-1], "\r")
}

// collector accumulates errors and warnings while loading one file.
type collector struct {
	file     string
	errs     ValidationErrors
	warnings ValidationErrors
}

func (c *collector) add(line int, field, msg, fix string) {
	c.errs = append(c.errs, ValidationError{File: c.file, Line: line, Field: field, Message: msg, Fix: fix})
}

func (c *collector) warn(line int, field, msg, fix string) {
	c.warnings = append(c.warnings, ValidationError{File: c.file, Line: line, Field: field, Message: msg, Fix: fix})
}

// didYouMean suggests the closest known key for a typo, or "".
func didYouMean(got string, known []string) string {
	best, bestD := "", 3 // only suggest close spellings
	for _, k := range known {
		d := levenshtein(strings.ToLower(got), strings.ToLower(k))
		if d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// unknownKeyFix is the fix text for an unrecognised key.
func unknownKeyFix(got string, known []string) string {
	if s := didYouMean(got, known); s != "" {
		return fmt.Sprintf("did you mean %q? known keys: %s", s, strings.Join(known, ", "))
	}
	return "remove it; known keys: " + strings.Join(known, ", ")
}

// unknownNameFix is the fix text for a reference to an undeclared name.
func unknownNameFix(got string, declared []string) string {
	if s := didYouMean(got, declared); s != "" {
		return fmt.Sprintf("did you mean %q? declared: %s", s, strings.Join(declared, ", "))
	}
	if len(declared) == 0 {
		return "declare it first"
	}
	return "use one of: " + strings.Join(declared, ", ")
}
