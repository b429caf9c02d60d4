package postgresql

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// maxParams is PostgreSQL's limit on bind parameters in one statement (the
// wire protocol counts them in an int16).
const maxParams = 65535

// Statement is one SQL text with its bound parameters ($1…).
type Statement struct {
	SQL    string
	Params []any
}

// quoteTable quotes a table reference such as `cases`, `public.cases` or
// `"MixedCase"`. Unquoted parts are folded to lower case first, as
// PostgreSQL folds unquoted identifiers, so `insert('Cases', …)` reaches the
// same table it does in OpenFn (which splices the name in unquoted).
func quoteTable(name string) (string, error) {
	parts, err := splitIdent(name)
	if err != nil {
		return "", fmt.Errorf("table %q: %w", name, err)
	}
	if len(parts) > 3 {
		return "", fmt.Errorf("table %q: want [database.][schema.]table", name)
	}
	return pgx.Identifier(parts).Sanitize(), nil
}

// quoteColumn quotes one column name with the same folding rule.
func quoteColumn(name string) (string, error) {
	parts, err := splitIdent(name)
	if err != nil {
		return "", fmt.Errorf("column %q: %w", name, err)
	}
	if len(parts) != 1 {
		return "", fmt.Errorf("column %q: a column name cannot contain a dot (quote it as \"a.b\")", name)
	}
	return pgx.Identifier(parts).Sanitize(), nil
}

// splitIdent splits a dotted identifier, honouring "double quoted" parts
// (where "" is a literal quote and dots do not split).
func splitIdent(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("the name is empty")
	}
	if strings.ContainsRune(s, 0) {
		return nil, fmt.Errorf("the name contains a NUL byte")
	}
	var parts []string
	i := 0
	for {
		var part string
		if i < len(s) && s[i] == '"' {
			var b strings.Builder
			j := i + 1
			closed := false
			for j < len(s) {
				if s[j] == '"' {
					if j+1 < len(s) && s[j+1] == '"' {
						b.WriteByte('"')
						j += 2
						continue
					}
					closed = true
					j++
					break
				}
				b.WriteByte(s[j])
				j++
			}
			if !closed {
				return nil, fmt.Errorf("unterminated quoted identifier")
			}
			part = b.String()
			i = j
		} else {
			j := strings.IndexByte(s[i:], '.')
			if j < 0 {
				j = len(s) - i
			}
			part = strings.ToLower(strings.TrimSpace(s[i : i+j]))
			if strings.ContainsAny(part, "\"") {
				return nil, fmt.Errorf("misplaced double quote")
			}
			i += j
		}
		if part == "" {
			return nil, fmt.Errorf("empty name part")
		}
		parts = append(parts, part)
		if i >= len(s) {
			return parts, nil
		}
		if s[i] != '.' {
			return nil, fmt.Errorf("unexpected %q after a quoted identifier", s[i:])
		}
		i++
		if i >= len(s) {
			return nil, fmt.Errorf("trailing dot")
		}
	}
}

// Conflict is the ON CONFLICT target of an upsert: either columns or a
// named constraint.
type Conflict struct {
	Columns    []string
	Constraint string
}

var reOnConstraint = regexp.MustCompile(`(?i)^\s*on\s+constraint\s+(.+?)\s*$`)

// parseConflict accepts what OpenFn jobs pass as upsert's second argument:
// a column ('case_id'), a list ('a, b' or ['a','b'] or '(a, b)') or
// 'ON CONSTRAINT users_pkey'.
func parseConflict(v any) (Conflict, error) {
	switch t := v.(type) {
	case string:
		if m := reOnConstraint.FindStringSubmatch(t); m != nil {
			return Conflict{Constraint: m[1]}, nil
		}
		s := strings.TrimSpace(t)
		if strings.HasPrefix(s, "(") && strings.HasSuffix(s, ")") {
			s = s[1 : len(s)-1]
		}
		var cols []string
		for _, c := range strings.Split(s, ",") {
			if c = strings.TrimSpace(c); c != "" {
				cols = append(cols, c)
			}
		}
		if len(cols) == 0 {
			return Conflict{}, fmt.Errorf("the conflict target is empty: give the unique column(s), e.g. 'case_id', or 'ON CONSTRAINT name'")
		}
		return Conflict{Columns: cols}, nil
	case []any:
		var cols []string
		for _, c := range t {
			s, ok := c.(string)
			if !ok || strings.TrimSpace(s) == "" {
				return Conflict{}, fmt.Errorf("the conflict columns must be non-empty strings, got %v", c)
			}
			cols = append(cols, s)
		}
		if len(cols) == 0 {
			return Conflict{}, fmt.Errorf("the conflict target is empty: give the unique column(s)")
		}
		return Conflict{Columns: cols}, nil
	}
	return Conflict{}, fmt.Errorf("the conflict target must be a column name, a list of columns or 'ON CONSTRAINT name', got %T", v)
}

// NullRule turns values into NULL the way OpenFn's setNull option does.
// OpenFn renders the SQL with pg-format and then replaces every occurrence
// of each setNull string (default "'undefined'") by NULL; with bound
// parameters that becomes: a value whose literal is exactly one of those
// strings is sent as NULL. A quoted entry ('x') matches the string x, an
// unquoted one (NaN) matches a non-string value rendered as that text.
type NullRule struct {
	strs  map[string]bool
	other map[string]bool
}

// parseSetNull reads the setNull option: undefined → "'undefined'", false →
// no replacement, a string or an array of strings.
func parseSetNull(v any, present bool) (NullRule, error) {
	r := NullRule{strs: map[string]bool{}, other: map[string]bool{}}
	if !present || v == nil {
		v = "'undefined'"
	}
	var entries []string
	switch t := v.(type) {
	case bool:
		if !t {
			return r, nil
		}
		entries = []string{"'undefined'"}
	case string:
		if t == "" { // OpenFn: '' is falsy, so the default applies
			t = "'undefined'"
		}
		entries = []string{t}
	case []any:
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return r, fmt.Errorf("setNull must be a string or an array of strings")
			}
			entries = append(entries, s)
		}
	default:
		return r, fmt.Errorf("setNull must be a string or an array of strings")
	}
	for _, e := range entries {
		if len(e) >= 2 && e[0] == '\'' && e[len(e)-1] == '\'' {
			r.strs[strings.ReplaceAll(e[1:len(e)-1], "''", "'")] = true
		} else {
			r.other[e] = true
		}
	}
	return r, nil
}

func (r NullRule) null(v any) bool {
	if s, ok := v.(string); ok {
		return r.strs[s]
	}
	if v == nil {
		return false
	}
	return r.other[literalText(v)]
}

// literalText renders a JS value as the text PostgreSQL receives for it,
// matching what pg-format's %L would have put between the quotes.
func literalText(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case int64:
		return strconv.FormatInt(t, 10)
	case int:
		return strconv.Itoa(t)
	case float64:
		switch {
		case math.IsNaN(t):
			return "NaN"
		case math.IsInf(t, 1):
			return "Infinity"
		case math.IsInf(t, -1):
			return "-Infinity"
		}
		return strconv.FormatFloat(t, 'f', -1, 64)
	case bool:
		if t {
			return "true"
		}
		return "false"
	case time.Time:
		return t.UTC().Format("2006-01-02 15:04:05.000Z07:00")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// WriteRequest describes insert/insertMany/upsert/upsertMany.
type WriteRequest struct {
	Op       string // insert | insertMany | upsert | upsertMany
	Table    string
	Columns  []string
	Rows     [][]any
	Conflict *Conflict // upserts only
	Null     NullRule
}

// buildWrite renders a write as one or more INSERT statements (several only
// when rows×columns exceed PostgreSQL's parameter limit). Identifiers are
// quoted, every value is a bound parameter.
func buildWrite(w WriteRequest) ([]Statement, error) {
	table, err := quoteTable(w.Table)
	if err != nil {
		return nil, err
	}
	if len(w.Columns) == 0 {
		return nil, fmt.Errorf("%s into %s: the record has no columns", w.Op, w.Table)
	}
	if len(w.Columns) > maxParams {
		return nil, fmt.Errorf("%s into %s: %d columns exceed PostgreSQL's limit", w.Op, w.Table, len(w.Columns))
	}
	cols := make([]string, len(w.Columns))
	seen := map[string]bool{}
	for i, c := range w.Columns {
		q, err := quoteColumn(c)
		if err != nil {
			return nil, fmt.Errorf("%s into %s: %w", w.Op, w.Table, err)
		}
		if seen[q] {
			return nil, fmt.Errorf("%s into %s: column %s appears twice", w.Op, w.Table, q)
		}
		seen[q] = true
		cols[i] = q
	}
	var tail string
	if w.Conflict != nil {
		var b strings.Builder
		b.WriteString(" ON CONFLICT ")
		if w.Conflict.Constraint != "" {
			q, err := quoteColumn(w.Conflict.Constraint)
			if err != nil {
				return nil, fmt.Errorf("%s into %s: constraint: %w", w.Op, w.Table, err)
			}
			b.WriteString("ON CONSTRAINT " + q)
		} else {
			b.WriteByte('(')
			for i, c := range w.Conflict.Columns {
				q, err := quoteColumn(c)
				if err != nil {
					return nil, fmt.Errorf("%s into %s: conflict %w", w.Op, w.Table, err)
				}
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(q)
			}
			b.WriteByte(')')
		}
		b.WriteString(" DO UPDATE SET ")
		for i, c := range cols {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(c + " = excluded." + c)
		}
		tail = b.String()
	}
	head := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES "
	perStmt := maxParams / len(cols)
	var out []Statement
	for start := 0; start < len(w.Rows); start += perStmt {
		end := start + perStmt
		if end > len(w.Rows) {
			end = len(w.Rows)
		}
		var b strings.Builder
		b.Grow(len(head) + (end-start)*len(cols)*7 + len(tail))
		b.WriteString(head)
		params := make([]any, 0, (end-start)*len(cols))
		for r := start; r < end; r++ {
			row := w.Rows[r]
			if len(row) != len(cols) {
				return nil, fmt.Errorf("%s into %s: record %d has %d values for %d columns", w.Op, w.Table, r, len(row), len(cols))
			}
			if r > start {
				b.WriteString(", ")
			}
			b.WriteByte('(')
			for c, v := range row {
				if c > 0 {
					b.WriteString(", ")
				}
				if w.Null.null(v) {
					v = nil
				}
				params = append(params, v)
				b.WriteByte('$')
				b.WriteString(strconv.Itoa(len(params)))
			}
			b.WriteByte(')')
		}
		b.WriteString(tail)
		out = append(out, Statement{SQL: b.String(), Params: params})
	}
	return out, nil
}

// operators findValue accepts (OpenFn splices any string in; we allow the
// comparison operators its docs show).
var findOperators = map[string]string{
	"=": "=", "<>": "<>", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">=",
	"like": "LIKE", "ilike": "ILIKE", "not like": "NOT LIKE", "not ilike": "NOT ILIKE",
}

// buildFindValue renders findValue({uuid, relation, where, operator}).
// keys keeps where's key order (JS property order).
func buildFindValue(uuid, relation string, keys []string, where map[string]any, operator map[string]any) (Statement, error) {
	col, err := quoteColumn(uuid)
	if err != nil {
		return Statement{}, fmt.Errorf("findValue uuid: %w", err)
	}
	table, err := quoteTable(relation)
	if err != nil {
		return Statement{}, fmt.Errorf("findValue relation: %w", err)
	}
	var b strings.Builder
	b.WriteString("SELECT " + col + " FROM " + table)
	var params []any
	for i, k := range keys {
		qk, err := quoteColumn(k)
		if err != nil {
			return Statement{}, fmt.Errorf("findValue where: %w", err)
		}
		op := "="
		if raw, ok := operator[k]; ok && raw != nil {
			s, _ := raw.(string)
			o, ok := findOperators[strings.ToLower(strings.Join(strings.Fields(s), " "))]
			if !ok {
				return Statement{}, fmt.Errorf("findValue operator %q for %s is not supported: use one of =, <>, <, <=, >, >=, like, ilike, not like, not ilike", s, k)
			}
			op = o
		}
		if i == 0 {
			b.WriteString(" WHERE ")
		} else {
			b.WriteString(" AND ")
		}
		params = append(params, where[k])
		b.WriteString(qk + " " + op + " $" + strconv.Itoa(len(params)))
	}
	return Statement{SQL: b.String(), Params: params}, nil
}

// buildDescribe renders describeTable(name): the columns of the table, as
// OpenFn's SELECT on information_schema.columns (schema-qualified names also
// filter on the schema).
func buildDescribe(name string) (Statement, error) {
	parts, err := splitIdent(name)
	if err != nil {
		return Statement{}, fmt.Errorf("describeTable %q: %w", name, err)
	}
	switch len(parts) {
	case 1:
		return Statement{SQL: "SELECT column_name, udt_name, is_nullable FROM information_schema.columns WHERE table_name = $1", Params: []any{parts[0]}}, nil
	case 2:
		return Statement{SQL: "SELECT column_name, udt_name, is_nullable FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2", Params: []any{parts[0], parts[1]}}, nil
	}
	return Statement{}, fmt.Errorf("describeTable %q: want [schema.]table", name)
}

// Column is one column definition for insertTable/modifyTable.
type Column struct {
	Name       string
	Type       string
	Required   bool
	Unique     bool
	Identity   bool
	HasDefault bool
	Default    any
}

// reType accepts SQL type names: words, an optional (n[,m]) modifier and
// array brackets — e.g. varchar(255), numeric(10, 2), timestamp with time
// zone, text[].
var reType = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*( [A-Za-z_][A-Za-z0-9_]*)*( ?\(\s*\d+\s*(,\s*\d+\s*)?\))?( [A-Za-z_][A-Za-z0-9_]*)*(\[\d*\])*$`)

// defaultFuncs are the expressions accepted as a DEFAULT of a non-text
// column besides numbers and booleans: DDL cannot take bind parameters, so
// defaults are restricted to literals we render ourselves.
var defaultFuncs = map[string]string{
	"now()": "now()", "current_timestamp": "CURRENT_TIMESTAMP", "current_date": "CURRENT_DATE",
	"localtimestamp": "LOCALTIMESTAMP", "gen_random_uuid()": "gen_random_uuid()", "null": "NULL",
	"true": "true", "false": "false",
}

var reNumber = regexp.MustCompile(`^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$`)

// quoteLiteral renders a string literal. DDL (CREATE/ALTER TABLE DEFAULT)
// is the one place where bind parameters are impossible; standard
// conforming strings are on since PostgreSQL 9.1, so doubling quotes is a
// complete escape, and NUL (which PostgreSQL rejects anyway) is refused.
func quoteLiteral(s string) (string, error) {
	if strings.ContainsRune(s, 0) {
		return "", fmt.Errorf("a default value cannot contain a NUL byte")
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'", nil
}

func renderDefault(c Column) (string, error) {
	typ := strings.ToLower(c.Type)
	textual := strings.Contains(typ, "varchar") || strings.Contains(typ, "text") || strings.Contains(typ, "bit") || strings.Contains(typ, "char")
	if textual {
		return quoteLiteral(literalText(c.Default))
	}
	switch t := c.Default.(type) {
	case nil:
		return "NULL", nil
	case bool, int64, int:
		return literalText(t), nil
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return "", fmt.Errorf("column %s: default %v is not a finite number", c.Name, t)
		}
		return literalText(t), nil
	case string:
		s := strings.TrimSpace(t)
		if f, ok := defaultFuncs[strings.ToLower(s)]; ok {
			return f, nil
		}
		if reNumber.MatchString(s) {
			return s, nil
		}
		if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' && !strings.Contains(strings.ReplaceAll(s[1:len(s)-1], "''", ""), "'") {
			return s, nil
		}
		return "", fmt.Errorf("column %s: default %q is not allowed for type %s: use a number, true/false/null, a quoted 'string' or one of now(), current_timestamp, current_date, localtimestamp, gen_random_uuid()", c.Name, t, c.Type)
	}
	return "", fmt.Errorf("column %s: default of type %T is not supported", c.Name, c.Default)
}

// columnDefs renders the column list of CREATE TABLE (alter=false) or the
// ADD COLUMN clauses of ALTER TABLE (alter=true).
func columnDefs(cols []Column, alter bool) (string, error) {
	defs := make([]string, 0, len(cols))
	for _, c := range cols {
		name, err := quoteColumn(c.Name)
		if err != nil {
			return "", err
		}
		typ := strings.Join(strings.Fields(c.Type), " ")
		if !reType.MatchString(typ) {
			return "", fmt.Errorf("column %s: type %q is not a SQL type name (e.g. text, varchar(255), numeric(10,2), timestamptz, integer[])", c.Name, c.Type)
		}
		d := name + " " + typ
		if c.HasDefault {
			lit, err := renderDefault(c)
			if err != nil {
				return "", err
			}
			d += " DEFAULT " + lit
		}
		if c.Unique && !alter {
			d += " UNIQUE"
		}
		if c.Identity {
			d += " GENERATED BY DEFAULT AS IDENTITY"
		}
		if c.Required {
			d += " NOT NULL"
		}
		if alter {
			d = "ADD COLUMN " + d
		}
		defs = append(defs, d)
	}
	return strings.Join(defs, ", "), nil
}

// buildCreateTable renders insertTable(name, columns).
func buildCreateTable(name string, cols []Column) (Statement, error) {
	t, err := quoteTable(name)
	if err != nil {
		return Statement{}, err
	}
	defs, err := columnDefs(cols, false)
	if err != nil {
		return Statement{}, fmt.Errorf("insertTable %s: %w", name, err)
	}
	return Statement{SQL: "CREATE TABLE " + t + " (" + defs + ")"}, nil
}

// buildAlterTable renders modifyTable(name, columns).
func buildAlterTable(name string, cols []Column) (Statement, error) {
	t, err := quoteTable(name)
	if err != nil {
		return Statement{}, err
	}
	defs, err := columnDefs(cols, true)
	if err != nil {
		return Statement{}, fmt.Errorf("modifyTable %s: %w", name, err)
	}
	return Statement{SQL: "ALTER TABLE " + t + " " + defs}, nil
}
