package postgresql_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/config"
)

// Result placement per major (§5.6), for sql() and a write.
func TestStateShapeByMajor(t *testing.T) {
	c := db(t)
	tbl := table("shape")
	mustExec(t, c, "CREATE TABLE "+tbl+" (id int PRIMARY KEY, name text)")
	mustExec(t, c, "INSERT INTO "+tbl+" VALUES (1, 'Ama'), (2, 'Kofi')")
	// legacy compat keeps response in the final state, so every shape is visible
	body := fmt.Sprintf(`sql('SELECT id, name FROM %s ORDER BY id');`, tbl)
	cases := []struct {
		version string
		check   func(t *testing.T, st map[string]any)
	}{
		{"3.4.6", func(t *testing.T, st map[string]any) {
			if get(st, "response", "body", "rows", "1", "name") != "Kofi" || get(st, "response", "body", "command") != "SELECT" {
				t.Errorf("≤3 want response.body = pg result, got %v", st["response"])
			}
			if get(st, "data", "seed") != true || st["result"] != nil {
				t.Errorf("≤3 must leave data alone and set no result: data %v result %v", st["data"], st["result"])
			}
		}},
		{"4.1.8", func(t *testing.T, st map[string]any) {
			if get(st, "data", "0", "id") != float64(1) || get(st, "response", "rowCount") != float64(2) {
				t.Errorf("4.x want data = rows, response = result; got data %v response %v", st["data"], st["response"])
			}
			if get(st, "references", "0", "seed") != true || st["result"] != nil {
				t.Errorf("4.x references %v result %v", st["references"], st["result"])
			}
		}},
		{"5.0.2", func(t *testing.T, st map[string]any) {
			if get(st, "data", "1", "name") != "Kofi" || get(st, "result", "rowCount") != float64(2) || st["response"] != nil {
				t.Errorf("≥5 want data = rows, result = pg result; got %v", st)
			}
		}},
		{"8.1.2", func(t *testing.T, st map[string]any) {
			if get(st, "data", "0", "name") != "Ama" || get(st, "result", "fields", "0", "name") != "id" || get(st, "result", "fields", "0", "dataTypeID") != float64(23) {
				t.Errorf("8.x want data = rows, result with fields; got %v", st)
			}
			q, _ := st["queries"].([]any)
			if q == nil || len(q) != 0 {
				t.Errorf("queries default []: %v", st["queries"])
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.version, func(t *testing.T) {
			out := run(t, body, runOpt{adaptor: "postgresql@" + tc.version, compat: config.CompatLegacy, input: `{"data":{"seed":true}}`})
			mustSucceed(t, out)
			tc.check(t, out.state)
		})
	}
}

// The ONA dashboard pattern (postgresql ≤3): sql(() => '…') then
// state.response.body.rows, and upsertMany with writeSql/logValues.
func TestONADashboardPattern(t *testing.T) {
	c := db(t)
	tbl := table("cases")
	mustExec(t, c, "CREATE TABLE "+tbl+" (case_id text PRIMARY KEY, sex text, age int, status text)")
	mustExec(t, c, "INSERT INTO "+tbl+" VALUES ('c-1', 'female', 9, 'open')")
	body := fmt.Sprintf(`
sql(() => 'SELECT case_id FROM %[1]s');
fn(state => {
  const known = state.response.body.rows.map(r => r.case_id);
  return { ...state, known, caseMappings: [
    { case_id: 'c-1', sex: 'female', age: 10, status: 'closed' },
    { case_id: 'c-2', sex: 'male', age: 4, status: 'open' },
  ] };
});
upsertMany('%[1]s', 'case_id', s => s.caseMappings, { writeSql: true, logValues: false });
`, tbl)
	out := run(t, body, runOpt{adaptor: "@openfn/language-postgresql@3.4.6", compat: config.CompatLegacy})
	mustSucceed(t, out)
	if k := out.state["known"].([]any); len(k) != 1 || k[0] != "c-1" {
		t.Errorf("known = %v", k)
	}
	if count(t, c, tbl) != 2 {
		t.Errorf("rows = %d, want 2", count(t, c, tbl))
	}
	var status string
	var age int
	_ = c.QueryRow(context.Background(), "SELECT status, age FROM "+tbl+" WHERE case_id = 'c-1'").Scan(&status, &age)
	if status != "closed" || age != 10 {
		t.Errorf("c-1 not updated: %s %d", status, age)
	}
	q := out.state["queries"].([]any)
	if len(q) != 1 || !strings.Contains(q[0].(string), "ON CONFLICT (\"case_id\") DO UPDATE SET") || strings.Contains(q[0].(string), "female") {
		t.Errorf("queries = %v", q)
	}
	if get(out.state, "response", "body", "command") != "INSERT" || get(out.state, "response", "body", "rowCount") != float64(2) {
		t.Errorf("response.body = %v", get(out.state, "response", "body"))
	}
	if strings.Contains(out.logs, "female") {
		t.Errorf("logValues false but values logged:\n%s", out.logs)
	}
}

func TestOperations(t *testing.T) {
	c := db(t)
	people := table("people")
	mustExec(t, c, "CREATE TABLE "+people+" (id int PRIMARY KEY, name text, email text UNIQUE, score numeric, born date, tags jsonb, note text)")

	t.Run("insert", func(t *testing.T) {
		out := run(t, fmt.Sprintf(`insert('%s', { name: 'Elodie', id: 7, email: 'e@x.org', score: 1.5, born: '2010-03-04', tags: {a: [1, 2]}, note: 'undefined' });`, people), runOpt{})
		mustSucceed(t, out)
		if get(out.state, "result", "command") != "INSERT" || get(out.state, "result", "rowCount") != float64(1) {
			t.Errorf("result = %v", out.state["result"])
		}
		var name string
		var note *string
		var tags map[string]any
		_ = c.QueryRow(context.Background(), "SELECT name, note, tags FROM "+people+" WHERE id = 7").Scan(&name, &note, &tags)
		if name != "Elodie" || note != nil || fmt.Sprint(tags["a"]) != "[1 2]" {
			t.Errorf("stored name=%q note=%v (setNull default turns 'undefined' into NULL) tags=%v", name, note, tags)
		}
	})

	t.Run("insert setNull", func(t *testing.T) {
		out := run(t, fmt.Sprintf(`insert('%s', { id: 8, name: '', note: 'NaN', email: 'undefined' }, { setNull: ["''", "'NaN'"] });`, people), runOpt{})
		mustSucceed(t, out)
		var name, note, email *string
		_ = c.QueryRow(context.Background(), "SELECT name, note, email FROM "+people+" WHERE id = 8").Scan(&name, &note, &email)
		if name != nil || note != nil || email == nil || *email != "undefined" {
			t.Errorf("setNull: name=%v note=%v email=%v", name, note, email)
		}
		out = run(t, fmt.Sprintf(`insert('%s', { id: 9, note: 'undefined' }, { setNull: false });`, people), runOpt{})
		mustSucceed(t, out)
		_ = c.QueryRow(context.Background(), "SELECT note FROM "+people+" WHERE id = 9").Scan(&note)
		if note == nil || *note != "undefined" {
			t.Errorf("setNull false: note=%v", note)
		}
	})

	t.Run("sql with values and types", func(t *testing.T) {
		out := run(t, fmt.Sprintf(`
sql('SELECT id, name, score, born, tags, 42::int8 AS big, ARRAY[1,2] AS arr, true AS ok FROM %s WHERE id = $1', { values: [7] });
fn(state => ({ ...state, isDate: state.data[0].born instanceof Date }));
`, people), runOpt{})
		mustSucceed(t, out)
		row := get(out.state, "data", "0").(map[string]any)
		if row["name"] != "Elodie" || row["score"] != "1.5" || row["big"] != "42" || row["ok"] != true {
			t.Errorf("node-postgres parsing: %v", row)
		}
		if !strings.HasPrefix(row["born"].(string), "2010-03-0") || out.state["isDate"] != true {
			t.Errorf("date column: %v isDate=%v", row["born"], out.state["isDate"])
		}
		if fmt.Sprint(get(row, "tags", "a")) != "[1 2]" || fmt.Sprint(row["arr"]) != "[1 2]" {
			t.Errorf("json/array: %v %v", row["tags"], row["arr"])
		}
		keys := []string{}
		for _, f := range get(out.state, "result", "fields").([]any) {
			keys = append(keys, f.(map[string]any)["name"].(string))
		}
		if strings.Join(keys, ",") != "id,name,score,born,tags,big,arr,ok" {
			t.Errorf("fields order %v", keys)
		}
		// {text, values} form, and the rows keep column order in JSON
		out = run(t, fmt.Sprintf(`sql({ text: 'SELECT name, id FROM %s WHERE id = $1 AND name = $2', values: [7, 'Elodie'] });`, people), runOpt{})
		mustSucceed(t, out)
		if !strings.Contains(string(out.res.State), `{"name":"Elodie","id":7}`) {
			t.Errorf("row order/state: %s", out.res.State)
		}
	})

	t.Run("multi-statement sql", func(t *testing.T) {
		tmp := table("multi")
		out := run(t, fmt.Sprintf(`sql('CREATE TABLE %[1]s (x int); INSERT INTO %[1]s VALUES (1), (2)', { writeSql: true });`, tmp), runOpt{})
		mustSucceed(t, out)
		if count(t, c, tmp) != 2 {
			t.Errorf("multi-statement: %d rows", count(t, c, tmp))
		}
		if r, ok := out.state["result"].([]any); !ok || len(r) != 2 || get(r, "1", "rowCount") != float64(2) {
			t.Errorf("result of two statements = %v", out.state["result"])
		}
		if q := out.state["queries"].([]any); len(q) != 1 {
			t.Errorf("writeSql: %v", q)
		}
	})

	t.Run("upsert and upsertIf", func(t *testing.T) {
		body := fmt.Sprintf(`
upsert('%[1]s', 'id', { id: 20, name: 'Ana', email: 'ana@x.org' });
upsert('%[1]s', 'ON CONSTRAINT %[2]s_email_key', { id: 20, name: 'Ana B', email: 'ana@x.org' });
upsertIf(state => false, '%[1]s', 'id', { id: 21, name: 'never' });
upsertIf($.data, '%[1]s', ['id'], { id: 22, name: 'Ben' });
`, people, strings.Split(people, ".")[1])
		out := run(t, body, runOpt{})
		mustSucceed(t, out)
		var name string
		_ = c.QueryRow(context.Background(), "SELECT name FROM "+people+" WHERE id = 20").Scan(&name)
		if name != "Ana B" {
			t.Errorf("upsert ON CONSTRAINT did not update: %q", name)
		}
		var n int
		_ = c.QueryRow(context.Background(), "SELECT count(*) FROM "+people+" WHERE id IN (21, 22)").Scan(&n)
		if n != 1 {
			t.Errorf("upsertIf: %d rows of 21/22, want only 22", n)
		}
		if !strings.Contains(out.logs, "Skipping upsert for id.") {
			t.Errorf("upsertIf skip not logged:\n%s", out.logs)
		}
	})

	t.Run("findValue", func(t *testing.T) {
		body := fmt.Sprintf(`findValue({ uuid: 'id', relation: '%s', where: { name: 'Elo%%', email: $.data.email }, operator: { name: 'like' } });`, people)
		out := run(t, body, runOpt{input: `{"data":{"email":"e@x.org"}}`})
		mustSucceed(t, out)
		if out.state["data"] != float64(7) || get(out.state, "references", "0", "email") != "e@x.org" {
			t.Errorf("≥5 findValue data = %v %+v", out.state["data"], out.ex)
		}
		ex := out.ex[len(out.ex)-1]
		if !strings.Contains(ex.Request.Body, `"name" LIKE $1 AND "email" = $2`) {
			t.Errorf("findValue SQL %q", ex.Request.Body)
		}
		// ≤4: the operation resolves to the bare value
		out = run(t, fmt.Sprintf(`fn(state => findValue({ uuid: 'name', relation: '%s', where: { id: 7 } })(state).then(v => ({ ...state, found: v })));`, people), runOpt{adaptor: "postgresql@4.1.8"})
		mustSucceed(t, out)
		if out.state["found"] != "Elodie" {
			t.Errorf("4.x findValue = %v", out.state["found"])
		}
		out = run(t, fmt.Sprintf(`findValue({ uuid: 'id', relation: '%s', where: { name: 'nobody' } });`, people), runOpt{})
		mustSucceed(t, out)
		if v, ok := out.state["data"]; !ok || v != nil {
			t.Errorf("no match: data = %v (want null)", v)
		}
	})

	t.Run("tables", func(t *testing.T) {
		tn := table("made")
		body := fmt.Sprintf(`
insertTable('%[1]s', [
  { name: 'id', type: 'int', identity: true },
  { name: 'code', type: 'varchar(20)', unique: true, required: true },
  { name: 'label', type: 'text', default: "it's" },
  { name: 'amount', type: 'numeric(10, 2)', default: 0 },
  { name: 'created', type: 'timestamp with time zone', default: 'now()' },
]);
modifyTable('%[1]s', [{ name: 'extra', type: 'text[]' }]);
insert('%[1]s', { code: 'A1' });
describeTable('%[1]s');
`, tn)
		out := run(t, body, runOpt{})
		mustSucceed(t, out)
		rows := out.state["data"].([]any)
		var names []string
		for _, r := range rows {
			names = append(names, r.(map[string]any)["column_name"].(string)+":"+r.(map[string]any)["udt_name"].(string))
		}
		if strings.Join(names, ",") != "id:int4,code:varchar,label:text,amount:numeric,created:timestamptz,extra:_text" {
			t.Errorf("describeTable = %v", names)
		}
		var label, amount string
		_ = c.QueryRow(context.Background(), "SELECT label, amount::text FROM "+tn).Scan(&label, &amount)
		if label != "it's" || amount != "0.00" {
			t.Errorf("defaults: %q %q", label, amount)
		}
	})

	t.Run("execute false by major", func(t *testing.T) {
		tn := table("exec")
		mustExec(t, c, "CREATE TABLE "+tn+" (x int)")
		body := fmt.Sprintf(`insert('%s', { x: 1 }, { execute: false, writeSql: true });`, tn)
		out := run(t, body, runOpt{adaptor: "postgresql@4.1.8", compat: config.CompatLegacy})
		mustSucceed(t, out)
		if count(t, c, tn) != 0 || out.state["response"] != "Query not executed." {
			t.Errorf("4.x execute:false ran (%d rows) response %v", count(t, c, tn), out.state["response"])
		}
		if q := out.state["queries"].([]any); len(q) != 1 || !strings.HasPrefix(q[0].(string), "INSERT INTO") {
			t.Errorf("queries %v", q)
		}
		out = run(t, body, runOpt{})
		mustSucceed(t, out)
		if count(t, c, tn) != 1 {
			t.Errorf("≥5 execute:false is only logged (OpenFn runs it): %d rows", count(t, c, tn))
		}
	})
}

// Upserting the same record twice leaves one row, updated.
func TestUpsertIdempotent(t *testing.T) {
	c := db(t)
	tn := table("idem")
	mustExec(t, c, "CREATE TABLE "+tn+" (case_id text PRIMARY KEY, status text, risk text)")
	for i, status := range []string{"open", "closed"} {
		body := fmt.Sprintf(`upsertMany('%s', 'case_id', [{ case_id: 'k1', status: '%s', risk: 'high' }, { case_id: 'k2', status: 'open', risk: 'low' }]);`, tn, status)
		out := run(t, body, runOpt{})
		mustSucceed(t, out)
		if get(out.state, "result", "rowCount") != float64(2) {
			t.Errorf("run %d rowCount %v", i, get(out.state, "result", "rowCount"))
		}
	}
	if n := count(t, c, tn); n != 2 {
		t.Fatalf("rows = %d, want 2 (no duplicates)", n)
	}
	var status string
	_ = c.QueryRow(context.Background(), "SELECT status FROM "+tn+" WHERE case_id = 'k1'").Scan(&status)
	if status != "closed" {
		t.Errorf("k1 status %q, want the second run's value", status)
	}
}

func TestInsertManyThousandOneStatement(t *testing.T) {
	c := db(t)
	tn := table("bulk")
	mustExec(t, c, "CREATE TABLE "+tn+" (id int PRIMARY KEY, facility text, visits int, month date)")
	body := fmt.Sprintf(`
fn(state => ({ ...state, rows: Array.from({ length: 1000 }, (_, i) => ({ id: i, facility: 'F' + (i %% 7), visits: i * 2, month: '2024-0' + (1 + i %% 9) + '-01' })) }));
insertMany('%s', $.rows);
`, tn)
	out := run(t, body, runOpt{})
	mustSucceed(t, out)
	if n := count(t, c, tn); n != 1000 {
		t.Fatalf("rows = %d", n)
	}
	if len(out.ex) != 1 || !strings.HasSuffix(out.ex[0].Request.Body, "($3997, $3998, $3999, $4000)") {
		t.Errorf("want one statement with 4000 parameters, got %d exchanges", len(out.ex))
	}
	if out.props["postgresql.rows"] != "1000" || out.props["postgresql.statements"] != "1" {
		t.Errorf("properties %v", out.props)
	}
}

// Past PostgreSQL's 65,535-parameter limit a write is split, atomically.
func TestInsertManySplitAtomic(t *testing.T) {
	c := db(t)
	tn := table("split")
	mustExec(t, c, "CREATE TABLE "+tn+" (id int PRIMARY KEY, a text, b text)")
	body := fmt.Sprintf(`insertMany('%s', Array.from({ length: 22000 }, (_, i) => ({ id: i, a: 'x', b: 'y' })));`, tn)
	out := run(t, body, runOpt{})
	mustSucceed(t, out)
	if n := count(t, c, tn); n != 22000 || get(out.state, "result", "rowCount") != float64(22000) {
		t.Fatalf("rows = %d, rowCount %v", n, get(out.state, "result", "rowCount"))
	}
	var methods []string
	for _, e := range out.ex {
		methods = append(methods, strings.Fields(e.Request.Body)[0])
	}
	if strings.Join(methods, ",") != "BEGIN,INSERT,INSERT,COMMIT" {
		t.Errorf("statements %v", methods)
	}
	// a duplicate in the second chunk rolls back the first chunk too
	tn2 := table("split")
	mustExec(t, c, "CREATE TABLE "+tn2+" (id int PRIMARY KEY, a text, b text)")
	body = fmt.Sprintf(`insertMany('%s', Array.from({ length: 22000 }, (_, i) => ({ id: i === 21999 ? 0 : i, a: 'x', b: 'y' })));`, tn2)
	out = run(t, body, runOpt{})
	mustFail(t, out)
	if n := count(t, c, tn2); n != 0 {
		t.Errorf("partial write left %d rows", n)
	}
}

func TestExchanges(t *testing.T) {
	c := db(t)
	tn := table("ex")
	mustExec(t, c, "CREATE TABLE "+tn+" (id int, secret_note text)")
	out := run(t, fmt.Sprintf(`
insert('%[1]s', { id: 1, secret_note: 'patient-has-hiv' });
insert('%[1]s', { id: 2, secret_note: 'visible-value' }, { logValues: true });
sql('SELECT count(*) AS n FROM %[1]s');
`, tn), runOpt{})
	mustSucceed(t, out)
	noSecret(t, out)
	if len(out.ex) != 3 {
		t.Fatalf("exchanges: %d", len(out.ex))
	}
	want := fmt.Sprintf("postgresql://%s@%s:%d/%s", pgUser, pgHost, pgPort, pgDatabase)
	for _, e := range out.ex {
		if e.Request.Method != "SQL" || e.Request.URL != want || e.Response == nil || e.Response.Status != 200 || e.Step != "step" {
			t.Errorf("exchange %+v", e)
		}
	}
	if out.ex[0].Name != "step: postgresql insert" || !strings.Contains(out.ex[0].Request.Body, "VALUES ($1, $2)") {
		t.Errorf("first exchange %q %q", out.ex[0].Name, out.ex[0].Request.Body)
	}
	b, _ := json.Marshal(out.ex)
	if strings.Contains(string(b), "patient-has-hiv") || strings.Contains(out.logs, "patient-has-hiv") {
		t.Errorf("a value leaked without logValues")
	}
	if !strings.Contains(out.ex[1].Request.Body, "visible-value") || !strings.Contains(out.logs, "visible-value") {
		t.Errorf("logValues: true should show values: %q", out.ex[1].Request.Body)
	}
	if out.ex[2].Response.Body != `[{"command":"SELECT","rowCount":1}]` {
		t.Errorf("response summary %q", out.ex[2].Response.Body)
	}
	if get(out.state, "data", "0", "n") != "2" {
		t.Errorf("count(*) is int8 → string as in node-postgres: %v", get(out.state, "data", "0", "n"))
	}
}

func TestErrors(t *testing.T) {
	c := db(t)
	tn := table("err")
	mustExec(t, c, "CREATE TABLE "+tn+" (id int CONSTRAINT "+strings.Split(tn, ".")[1]+"_pk PRIMARY KEY, v text)")
	mustExec(t, c, "INSERT INTO "+tn+" VALUES (1, 'first-value')")
	refused := conf()
	refused["port"] = freePort(t)
	noHost := conf()
	delete(noHost, "host")
	badPort := conf()
	badPort["port"] = "fifty"

	cases := []struct {
		name       string
		body       string
		conf       map[string]any
		code       string
		status     int
		transient  bool
		msg        []string
		notInError []string
	}{
		{"syntax error", `sql('SELEC id FROM nowhere');`, nil, "42601", 400, false, []string{"SQL failed", "syntax error", "SQLSTATE 42601"}, nil},
		{"unknown table", fmt.Sprintf(`sql('SELECT * FROM %s.no_such_table');`, schema), nil, "42P01", 400, false, []string{"SELECT failed", "does not exist", "SQLSTATE 42P01"}, nil},
		{"duplicate key", fmt.Sprintf(`insert('%s', { id: 1, v: 'second-value' });`, tn), nil, "23505", 409, false,
			[]string{"INSERT failed", strings.Split(tn, ".")[1] + "_pk", "SQLSTATE 23505"}, []string{"second-value", "first-value", "(1)"}},
		{"bad value type", fmt.Sprintf(`sql('SELECT * FROM %s WHERE id = $1', { values: ['not-a-number'] });`, tn), nil, "22P02", 400, false, []string{"SELECT failed", "SQLSTATE 22P02"}, nil},
		{"connection refused", `sql('SELECT 1');`, refused, "ECONNREFUSED", 0, true, []string{"could not connect", "connection refused"}, nil},
		{"missing host", `sql('SELECT 1');`, noHost, "EPGCONFIG", 400, false, []string{"missing host"}, nil},
		{"bad port", `sql('SELECT 1');`, badPort, "EPGCONFIG", 400, false, []string{"port"}, nil},
		{"bad table name", `insert('a"b', { x: 1 });`, nil, "EINVALID", 400, false, []string{"table"}, nil},
		{"bad conflict", fmt.Sprintf(`upsert('%s', '', { id: 1 });`, tn), nil, "EINVALID", 400, false, []string{"conflict target is empty"}, nil},
		{"bad operator", fmt.Sprintf(`findValue({ uuid: 'id', relation: '%s', where: { id: 1 }, operator: { id: '= 1 OR 1=1 --' } });`, tn), nil, "EINVALID", 400, false, []string{"operator"}, nil},
		{"bad column type", fmt.Sprintf(`insertTable('%s_x', [{ name: 'a', type: 'int); DROP TABLE x; --' }]);`, tn), nil, "EINVALID", 400, false, []string{"not a SQL type"}, nil},
		{"bad default", fmt.Sprintf(`insertTable('%s_y', [{ name: 'a', type: 'int', default: '1); DROP TABLE x; --' }]);`, tn), nil, "EINVALID", 400, false, []string{"default"}, nil},
		{"record not object", fmt.Sprintf(`insert('%s', 'id=1');`, tn), nil, "", 0, false, []string{"record must be an object"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := run(t, tc.body, runOpt{conf: tc.conf})
			e := mustFail(t, out)
			noSecret(t, out)
			if e.Code != tc.code || e.StatusCode != tc.status || e.Transient() != tc.transient {
				t.Errorf("code %q status %d transient %v, want %q %d %v (%s)", e.Code, e.StatusCode, e.Transient(), tc.code, tc.status, tc.transient, e.Message)
			}
			for _, m := range tc.msg {
				if !strings.Contains(e.Message, m) {
					t.Errorf("message %q lacks %q", e.Message, m)
				}
			}
			all, _ := json.Marshal(struct {
				E any
				X any
			}{e, out.ex})
			for _, m := range tc.notInError {
				if strings.Contains(string(all)+out.logs, m) {
					t.Errorf("%q leaked: %s", m, all)
				}
			}
		})
	}
	if n := count(t, c, tn); n != 1 {
		t.Errorf("table changed: %d rows", n)
	}
}

// Values that look like SQL are data, never SQL.
func TestInjectionIsData(t *testing.T) {
	c := db(t)
	tn := table("inj")
	mustExec(t, c, "CREATE TABLE "+tn+" (id int PRIMARY KEY, v text)")
	evil := `x'); DROP TABLE ` + tn + `; --`
	out := run(t, fmt.Sprintf(`upsert('%s', 'id', { id: 1, v: %q }); insertTable('%s_d', [{ name: 'v', type: 'text', default: %q }]);`, tn, evil, tn, evil), runOpt{})
	mustSucceed(t, out)
	var v string
	if err := c.QueryRow(context.Background(), "SELECT v FROM "+tn).Scan(&v); err != nil || v != evil {
		t.Errorf("stored %q, %v", v, err)
	}
	var def string
	_ = c.QueryRow(context.Background(), "INSERT INTO "+tn+"_d DEFAULT VALUES RETURNING v").Scan(&def)
	if def != evil {
		t.Errorf("default %q", def)
	}
}

// Unquoted names fold to lower case as PostgreSQL folds them.
func TestIdentifierFolding(t *testing.T) {
	c := db(t)
	tn := table("fold")
	mustExec(t, c, "CREATE TABLE "+tn+" (caseid text, \"MixedCol\" text)")
	out := run(t, fmt.Sprintf(`insert('%s', { CaseId: 'a', '"MixedCol"': 'b' });`, strings.ToUpper(tn)), runOpt{})
	mustSucceed(t, out)
	if count(t, c, tn) != 1 {
		t.Errorf("folded insert missing")
	}
}

func TestSSL(t *testing.T) {
	c := db(t)
	var on string
	_ = c.QueryRow(context.Background(), "SHOW ssl").Scan(&on)
	strict := conf()
	strict["ssl"] = true
	if on != "on" {
		out := run(t, `sql('SELECT 1');`, runOpt{conf: strict})
		if e := mustFail(t, out); e.Code != "ESSLREFUSED" {
			t.Errorf("ssl against a plain server: %+v", e)
		}
		return
	}
	out := run(t, `sql('SELECT 1');`, runOpt{conf: strict})
	if e := mustFail(t, out); e.Code != "ECERTVERIFY" || !strings.Contains(e.Message, "allowSelfSignedCert") {
		t.Errorf("untrusted certificate: %+v", e)
	}
	lax := conf()
	lax["ssl"], lax["allowSelfSignedCert"] = true, true
	out = run(t, `sql('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');`, runOpt{conf: lax})
	mustSucceed(t, out)
	if get(out.state, "data", "0", "ssl") != true {
		t.Errorf("not encrypted: %v", out.state["data"])
	}
}

// The connection is closed after the step: on success, on failure and when
// the step is killed at its deadline.
func TestConnectionClosed(t *testing.T) {
	c := db(t)
	alive := func(pid float64) bool {
		var n int
		_ = c.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", int(pid)).Scan(&n)
		return n > 0
	}
	waitGone := func(t *testing.T, pid float64) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("backend %v still connected", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	pidOf := func(t *testing.T, logs string) float64 {
		t.Helper()
		i := strings.Index(logs, "PID=")
		if i < 0 {
			t.Fatalf("no pid logged:\n%s", logs)
		}
		var pid float64
		fmt.Sscan(strings.Fields(logs[i+4:])[0], &pid)
		return pid
	}
	t.Run("success", func(t *testing.T) {
		out := run(t, `sql('SELECT pg_backend_pid() AS pid'); fn(s => { console.log('PID=' + s.data[0].pid); return s; });`, runOpt{})
		mustSucceed(t, out)
		waitGone(t, pidOf(t, out.logs))
	})
	t.Run("failure", func(t *testing.T) {
		out := run(t, `sql('SELECT pg_backend_pid() AS pid'); fn(s => { console.log('PID=' + s.data[0].pid); throw new Error('job bug'); });`, runOpt{})
		mustFail(t, out)
		waitGone(t, pidOf(t, out.logs))
	})
	t.Run("killed at deadline", func(t *testing.T) {
		out := run(t, `sql('SELECT pg_backend_pid() AS pid'); fn(s => { console.log('PID=' + s.data[0].pid); return s; }); sql('SELECT pg_sleep(20)');`, runOpt{stepTimeout: 700 * time.Millisecond})
		e := mustFail(t, out)
		if e.Name != "TimeoutError" && e.Code != "ETIMEDOUT" {
			t.Errorf("error %+v", e)
		}
		waitGone(t, pidOf(t, out.logs))
	})
}
