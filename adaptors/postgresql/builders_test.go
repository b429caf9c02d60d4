package postgresql

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

func TestQuoteTable(t *testing.T) {
	cases := []struct{ in, want, err string }{
		{"cases", `"cases"`, ""},
		{"Cases", `"cases"`, ""},
		{"public.Cases", `"public"."cases"`, ""},
		{`"MixedCase"`, `"MixedCase"`, ""},
		{`public."a.b"`, `"public"."a.b"`, ""},
		{`"we""ird"`, `"we""ird"`, ""},
		{"", "", "empty"},
		{"a..b", "", "empty name part"},
		{"a.", "", "trailing dot"},
		{`a"b`, "", "misplaced double quote"},
		{`"open`, "", "unterminated"},
		{"a.b.c.d", "", "want [database.][schema.]table"},
		{"x\x00", "", "NUL"},
	}
	for _, tc := range cases {
		got, err := quoteTable(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("quoteTable(%q) err = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("quoteTable(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestParseConflict(t *testing.T) {
	cases := []struct {
		in   any
		want string
		err  bool
	}{
		{"case_id", "[case_id] ", false},
		{"a, b", "[a b] ", false},
		{"(a,b)", "[a b] ", false},
		{[]any{"a", "b"}, "[a b] ", false},
		{"ON CONSTRAINT users_pkey", "[] users_pkey", false},
		{"on constraint  x ", "[] x", false},
		{"", "", true},
		{[]any{}, "", true},
		{[]any{1}, "", true},
		{42, "", true},
	}
	for _, tc := range cases {
		c, err := parseConflict(tc.in)
		if tc.err != (err != nil) {
			t.Errorf("parseConflict(%v) err = %v", tc.in, err)
			continue
		}
		if !tc.err && fmt.Sprintf("%v %s", c.Columns, c.Constraint) != tc.want {
			t.Errorf("parseConflict(%v) = %v %q", tc.in, c.Columns, c.Constraint)
		}
	}
}

func TestSetNull(t *testing.T) {
	cases := []struct {
		opt     any
		present bool
		null    []any
		kept    []any
		err     bool
	}{
		{nil, false, []any{"undefined"}, []any{"", "x", int64(0), nil}, false},
		{false, true, nil, []any{"undefined", ""}, false},
		{"''", true, []any{""}, []any{"undefined"}, false},
		{[]any{"''", "'undefined'", "'it''s'"}, true, []any{"", "undefined", "it's"}, []any{"x"}, false},
		{"NaN", true, []any{math.NaN()}, []any{"NaN", 1.5}, false},
		{map[string]any{}, true, nil, nil, true},
		{[]any{1}, true, nil, nil, true},
	}
	for i, tc := range cases {
		r, err := parseSetNull(tc.opt, tc.present)
		if tc.err != (err != nil) {
			t.Errorf("%d: err %v", i, err)
			continue
		}
		for _, v := range tc.null {
			if !r.null(v) {
				t.Errorf("%d: %v should become NULL", i, v)
			}
		}
		for _, v := range tc.kept {
			if r.null(v) {
				t.Errorf("%d: %v should be kept", i, v)
			}
		}
	}
}

func TestBuildWrite(t *testing.T) {
	null, _ := parseSetNull(nil, false)
	sts, err := buildWrite(WriteRequest{Op: "upsert", Table: "s.Cases", Columns: []string{"case_id", "Status"},
		Rows: [][]any{{"a", "undefined"}, {"b", "open"}}, Conflict: &Conflict{Columns: []string{"case_id"}}, Null: null})
	if err != nil {
		t.Fatal(err)
	}
	want := `INSERT INTO "s"."cases" ("case_id", "status") VALUES ($1, $2), ($3, $4) ON CONFLICT ("case_id") DO UPDATE SET "case_id" = excluded."case_id", "status" = excluded."status"`
	if len(sts) != 1 || sts[0].SQL != want {
		t.Fatalf("SQL\n got %s\nwant %s", sts[0].SQL, want)
	}
	if fmt.Sprint(sts[0].Params) != "[a <nil> b open]" {
		t.Errorf("params %v", sts[0].Params)
	}
	sts, _ = buildWrite(WriteRequest{Op: "upsert", Table: "t", Columns: []string{"id"}, Rows: [][]any{{1}}, Conflict: &Conflict{Constraint: "t_pkey"}, Null: null})
	if !strings.Contains(sts[0].SQL, `ON CONFLICT ON CONSTRAINT "t_pkey" DO UPDATE`) {
		t.Errorf("constraint: %s", sts[0].SQL)
	}
	// split at the parameter limit
	rows := make([][]any, 40000)
	for i := range rows {
		rows[i] = []any{i, "x"}
	}
	sts, _ = buildWrite(WriteRequest{Op: "insertMany", Table: "t", Columns: []string{"a", "b"}, Rows: rows, Null: null})
	if len(sts) != 2 || len(sts[0].Params) != 65534 || len(sts[1].Params) != 80000-65534 {
		t.Errorf("split into %d statements", len(sts))
	}
	for _, bad := range []WriteRequest{
		{Op: "insert", Table: "t"},
		{Op: "insert", Table: "", Columns: []string{"a"}},
		{Op: "insert", Table: "t", Columns: []string{"a", "A"}, Rows: [][]any{{1, 2}}},
		{Op: "insert", Table: "t", Columns: []string{"a.b"}, Rows: [][]any{{1}}},
		{Op: "insert", Table: "t", Columns: []string{"a"}, Rows: [][]any{{1, 2}}},
	} {
		if _, err := buildWrite(bad); err == nil {
			t.Errorf("buildWrite(%+v) accepted", bad)
		}
	}
}

func TestBuildFindValue(t *testing.T) {
	st, err := buildFindValue("id", "users", []string{"first_name", "age"}, map[string]any{"first_name": "Mam%", "age": int64(3)}, map[string]any{"first_name": "LIKE", "age": ">="})
	if err != nil || st.SQL != `SELECT "id" FROM "users" WHERE "first_name" LIKE $1 AND "age" >= $2` || fmt.Sprint(st.Params) != "[Mam% 3]" {
		t.Errorf("%s %v %v", st.SQL, st.Params, err)
	}
	if _, err := buildFindValue("id", "users", []string{"a"}, map[string]any{"a": 1}, map[string]any{"a": "; drop"}); err == nil {
		t.Error("bad operator accepted")
	}
	if st, _ := buildFindValue("id", "users", nil, nil, nil); st.SQL != `SELECT "id" FROM "users"` {
		t.Errorf("no where: %s", st.SQL)
	}
}

func TestColumnDefs(t *testing.T) {
	st, err := buildCreateTable("t", []Column{
		{Name: "id", Type: "int", Identity: true},
		{Name: "code", Type: "varchar(20)", Unique: true, Required: true},
		{Name: "label", Type: "text", HasDefault: true, Default: "it's"},
		{Name: "n", Type: "numeric(10, 2)", HasDefault: true, Default: int64(0)},
		{Name: "at", Type: "timestamp  with time zone", HasDefault: true, Default: "NOW()"},
		{Name: "tags", Type: "text[]"},
	})
	want := `CREATE TABLE "t" ("id" int GENERATED BY DEFAULT AS IDENTITY, "code" varchar(20) UNIQUE NOT NULL, "label" text DEFAULT 'it''s', "n" numeric(10, 2) DEFAULT 0, "at" timestamp with time zone DEFAULT now(), "tags" text[])`
	if err != nil || st.SQL != want {
		t.Errorf("\n got %s %v\nwant %s", st.SQL, err, want)
	}
	st, _ = buildAlterTable("t", []Column{{Name: "x", Type: "bool", HasDefault: true, Default: true, Unique: true}})
	if st.SQL != `ALTER TABLE "t" ADD COLUMN "x" bool DEFAULT true` {
		t.Errorf("alter: %s", st.SQL)
	}
	for _, c := range []Column{
		{Name: "a", Type: "int; DROP TABLE t"},
		{Name: "a", Type: "int", HasDefault: true, Default: "1); DROP TABLE t; --"},
		{Name: "a", Type: "int", HasDefault: true, Default: "'x' || (select 1)'"},
		{Name: "a", Type: "float8", HasDefault: true, Default: math.Inf(1)},
		{Name: "a", Type: "text", HasDefault: true, Default: "x\x00"},
		{Name: "", Type: "int"},
	} {
		if _, err := buildCreateTable("t", []Column{c}); err == nil {
			t.Errorf("accepted %+v", c)
		}
	}
}

func TestStatementKind(t *testing.T) {
	for in, want := range map[string]string{
		"select 1": "SELECT", "  -- note\n insert into t": "INSERT", "/* c */ WITH x AS (select 1) select": "WITH",
		"SELEC 1": "SQL", "": "SQL", "(select 1)": "SELECT", "-- only": "SQL",
	} {
		if got := statementKind(in); got != want {
			t.Errorf("statementKind(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDecodeValue(t *testing.T) {
	cases := []struct {
		oid  uint32
		raw  string
		want string
	}{
		{pgtype.BoolOID, "t", "true"},
		{pgtype.Int4OID, "42", "42"},
		{pgtype.Int8OID, "9007199254740993", "9007199254740993"}, // stays a string
		{pgtype.NumericOID, "1.50", "1.50"},
		{pgtype.Float8OID, "2.5", "2.5"},
		{pgtype.TimestamptzOID, "2024-06-15 10:30:00+00", "2024-06-15T10:30:00.000Z"},
		{pgtype.TimestamptzOID, "2024-06-15 12:30:00.123+02", "2024-06-15T10:30:00.123Z"},
		{pgtype.Int4ArrayOID, "{1,2,NULL}", "[1 2 <nil>]"},
		{pgtype.Int8ArrayOID, "{7}", "[7]"},
		{pgtype.TextArrayOID, `{a,"b c"}`, "[a b c]"},
		{pgtype.UUIDOID, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
	}
	for _, tc := range cases {
		got := decodeValue(tc.oid, []byte(tc.raw))
		if fmt.Sprint(got) != tc.want {
			t.Errorf("decode(%d, %q) = %v (%T), want %s", tc.oid, tc.raw, got, got, tc.want)
		}
	}
	if v := decodeValue(pgtype.Int8OID, []byte("1")); v != "1" {
		t.Errorf("int8 is a string in node-postgres: %T", v)
	}
	if v := decodeValue(pgtype.TextOID, nil); v != nil {
		t.Errorf("NULL: %v", v)
	}
}

func TestParseConfig(t *testing.T) {
	ok := map[string]any{"host": "db", "database": "d", "user": "u", "password": "p", "port": "6543", "ssl": true, "allowSelfSignedCert": true}
	c, err := ParseConfig(ok)
	if err != nil || c.Port != 6543 || !c.SSL || !c.AllowSelfSignedCert || c.Target() != "postgresql://u@db:6543/d" {
		t.Errorf("%+v %v", c, err)
	}
	for _, bad := range []map[string]any{
		{"database": "d", "user": "u"},
		{"host": "db", "user": "u"},
		{"host": "db", "database": "d", "user": "u", "port": "x"},
		{"host": "db", "database": "d", "user": "u", "port": int64(70000)},
		{"host": "postgres://u:p@db/d", "database": "d", "user": "u"},
		{"host": "db", "database": "d", "user": "u", "ssl": true, "ca": "not pem"},
	} {
		c, err := ParseConfig(bad)
		if err == nil {
			_, err = c.tlsConfig()
		}
		if err == nil {
			t.Errorf("ParseConfig(%v) accepted", bad)
		} else if strings.Contains(err.Error(), "u:p") {
			t.Errorf("error echoes the URL credentials: %v", err)
		}
	}
}

func TestSQLStateStatus(t *testing.T) {
	for code, want := range map[string]int{"23505": 409, "23503": 409, "40001": 503, "40P01": 503, "08006": 503, "53300": 503, "57P01": 503, "28P01": 401, "42501": 403, "42601": 400, "42P01": 400, "22P02": 400} {
		if got := sqlStateStatus(code); got != want {
			t.Errorf("%s → %d, want %d", code, got, want)
		}
	}
	if !(&DBError{Code: "40001", StatusCode: 503}).Transient() || (&DBError{Code: "23505", StatusCode: 409}).Transient() || !(&DBError{Code: "ECONNREFUSED"}).Transient() {
		t.Error("Transient classification")
	}
}
