// Package primerotopostgres holds the end-to-end test of the
// primero-to-postgres example: the project is loaded as the daemon loads
// it, Primero is the simulator, the reporting table lives in a fresh
// database of the machine's PostgreSQL, and the cron workflow runs twice in
// the real runtime (the second time after one case changed).
package primerotopostgres

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	_ "github.com/jobmediator/jobmediator/adaptors/all"
	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/runtime"
	simprimero "github.com/jobmediator/jobmediator/sim/primero"
	"github.com/jobmediator/jobmediator/workflow"
)

const (
	primeroPassword = "primero-Example-pass-5521"
	dbPassword      = "reporting-db-Pa55-8812"
	salt            = "case-salt-0f9e8d7c6b5a"
	adminDSN        = "host=127.0.0.1 port=5432 dbname=test user=postgres sslmode=disable"
)

func freshDatabase(t *testing.T) (string, *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		t.Fatalf("PostgreSQL at 127.0.0.1:5432 is needed: %v", err)
	}
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	name := "jm_ex_p2p_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, strings.Replace(adminDSN, "dbname=test", "dbname="+name, 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close(ctx)
		_, _ = admin.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		_ = admin.Close(ctx)
	})
	return name, conn
}

func hash(caseID string) string {
	h := sha256.Sum256([]byte(salt + caseID))
	return hex.EncodeToString(h[:])
}

type row struct {
	hash, sex, ageBand, province, risk, status string
	updated                                    time.Time
}

func TestPrimeroToPostgres(t *testing.T) {
	ctx := context.Background()
	dbName, conn := freshDatabase(t)
	start := time.Date(2024, 6, 15, 8, 0, 0, 0, time.UTC)
	pr := simprimero.New(simprimero.Options{
		Users: []simprimero.User{{Username: "openfn", Password: primeroPassword}},
		Now:   func() time.Time { return start },
	})
	if err := pr.Start(); err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	personal := []string{"Sokha", "Dara", "Chan", "Vanna", "Pich", "2012-03-14", "2009-11-02", "2018-07-30", "Phnom Penh street 12"}
	seeds := []map[string]any{
		{"name_first": "Sokha", "name_last": "Dara", "sex": "female", "age": 12, "date_of_birth": "2012-03-14", "location_current": "KH1201", "risk_level": "high", "address_current": "Phnom Penh street 12"},
		{"name_first": "Chan", "name_last": "Vanna", "sex": "male", "age": 14, "date_of_birth": "2009-11-02", "location_current": "KH0203", "risk_level": "medium"},
		{"name_first": "Pich", "sex": "female", "age": 5, "date_of_birth": "2018-07-30", "location_current": "KH1205", "risk_level": "low"},
	}
	ids := map[string]string{} // case_id → record id
	for _, c := range seeds {
		id := pr.SeedCase(c)
		rec, _ := pr.Case(id)
		ids[rec["case_id"].(string)] = id
	}

	p, err := config.LoadProject(".")
	if err != nil {
		t.Fatalf("LoadProject: %v", err)
	}
	if len(p.Warnings) != 0 {
		t.Errorf("project warnings: %v", p.Warnings)
	}
	w := p.Workflow("primero-to-postgres")
	if w == nil || len(w.Triggers) != 1 || w.Triggers[0].Type != config.TriggerCron {
		t.Fatalf("workflow/trigger: %+v", w)
	}
	creds, err := config.LoadCredentials("credentials.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pc, _ := creds.Get("primero")
	dc, _ := creds.Get("reporting-db")
	pc["url"], pc["password"] = pr.URL(), primeroPassword
	dc["database"], dc["user"], dc["password"], dc["caseIdSalt"] = dbName, "postgres", dbPassword, salt
	cred := func(k string) (map[string]any, bool) {
		switch k {
		case "primero":
			return pc, true
		case "reporting-db":
			return dc, true
		}
		return nil, false
	}
	runOnce := func(input string) map[string]any {
		t.Helper()
		red := redact.New()
		rec := recorder.NewRecorder(red)
		res := workflow.NewLocal(runtime.New(runtime.Options{})).Run(ctx, runtime.RunRequest{
			Workflow: w, Compat: p.Compat, Input: json.RawMessage(input), HTTP: recorder.NewClient(nil, rec),
			Redactor: red, Credential: cred,
		})
		if res.Status != runtime.StatusSuccess {
			for _, l := range res.Logs {
				t.Log(l.Level, l.Message)
			}
			t.Fatalf("run: %s %+v", res.Status, res.Error)
		}
		var st map[string]any
		if err := json.Unmarshal(res.State, &st); err != nil {
			t.Fatalf("final state: %v", err)
		}
		// Neither secrets nor personal data in what the run leaves behind:
		// exchanges (orchestrations), logs, step outputs, final state.
		var outputs []string
		for _, s := range res.Steps {
			outputs = append(outputs, string(s.Output))
		}
		var sqlEx []recorder.Exchange
		for _, e := range rec.Exchanges() {
			if e.Request.Method == "SQL" {
				sqlEx = append(sqlEx, e)
			}
		}
		all, _ := json.Marshal(struct {
			X, L, S, O any
		}{sqlEx, res.Logs, st, outputs})
		for _, s := range append([]string{primeroPassword, dbPassword, salt}, personal...) {
			if strings.Contains(string(all), s) {
				t.Errorf("%q leaked into SQL exchanges, logs, step outputs or state", s)
			}
		}
		for _, e := range rec.Exchanges() {
			b, _ := json.Marshal(e)
			if strings.Contains(string(b), primeroPassword) || strings.Contains(string(b), dbPassword) {
				t.Errorf("password in exchange %s", e.Name)
			}
		}
		return st
	}
	table := func() map[string]row {
		t.Helper()
		rows, err := conn.Query(ctx, "SELECT case_hash, coalesce(sex,''), coalesce(age_band,''), coalesce(province,''), coalesce(risk_level,''), coalesce(status,''), last_updated_at FROM case_report")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]row{}
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.hash, &r.sex, &r.ageBand, &r.province, &r.risk, &r.status, &r.updated); err != nil {
				t.Fatal(err)
			}
			out[r.hash] = r
		}
		return out
	}

	first := runOnce(`{}`)
	if get(first, "data", "upserted") != float64(3) || first["lastRunDateTime"] != "2024-06-15T08:00:00.000Z" {
		t.Errorf("first final state %v", first)
	}
	got := table()
	if len(got) != 3 {
		t.Fatalf("rows = %d, want 3", len(got))
	}
	var sokha string
	for cid := range ids {
		r, ok := got[hash(cid)]
		if !ok {
			t.Errorf("no row for the salted hash of case %s", cid)
		}
		if r.province == "KH12" && r.ageBand == "10-14" && r.sex == "female" {
			sokha = cid
			if r.risk != "high" || r.status != "open" || !r.updated.Equal(start) {
				t.Errorf("row %+v", r)
			}
		}
	}
	if sokha == "" {
		t.Fatalf("anonymised row for the first case not found: %v", got)
	}

	// Only anonymised columns exist, and no personal value is stored.
	cols, _ := conn.Query(ctx, "SELECT column_name FROM information_schema.columns WHERE table_name = 'case_report' ORDER BY ordinal_position")
	var names []string
	for cols.Next() {
		var n string
		_ = cols.Scan(&n)
		names = append(names, n)
	}
	cols.Close()
	if strings.Join(names, ",") != "case_hash,sex,age_band,province,risk_level,status,last_updated_at,synced_at" {
		t.Errorf("columns %v", names)
	}
	var dump string
	_ = conn.QueryRow(ctx, "SELECT coalesce(string_agg(r::text, ' '), '') FROM case_report r").Scan(&dump)
	for _, s := range personal {
		if strings.Contains(dump, s) {
			t.Errorf("personal value %q stored", s)
		}
	}
	for cid := range ids {
		if strings.Contains(dump, cid) {
			t.Errorf("raw case id %s stored", cid)
		}
	}

	// An hour later a caseworker raises one case's risk level and closes
	// another; the next run upserts them in place.
	pr.AdvanceClock(time.Hour)
	patch := func(cid string, fields map[string]any) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"data": fields})
		req, _ := http.NewRequest("PATCH", pr.URL()+"/api/v2/cases/"+ids[cid], bytes.NewReader(body))
		req.SetBasicAuth("openfn", primeroPassword)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("PATCH case: %d", res.StatusCode)
		}
	}
	var others []string
	for cid := range ids {
		if cid != sokha {
			others = append(others, cid)
		}
	}
	sort.Strings(others)
	patch(sokha, map[string]any{"risk_level": "medium"})
	patch(others[0], map[string]any{"status": "closed"})

	in, _ := json.Marshal(first)
	second := runOnce(string(in))
	if second["lastRunDateTime"] != "2024-06-15T09:00:00.000Z" {
		t.Errorf("cursor after the second run %v", second["lastRunDateTime"])
	}
	// the inclusive cursor refetches the first run's newest cases as well;
	// what matters is that nothing is duplicated
	if n := get(second, "data", "upserted"); n.(float64) < 2 {
		t.Errorf("second run upserted %v", n)
	}
	got2 := table()
	if len(got2) != 3 {
		t.Fatalf("rows after rerun = %d, want 3 (no duplicates)", len(got2))
	}
	if r := got2[hash(sokha)]; r.risk != "medium" || !r.updated.Equal(start.Add(time.Hour)) {
		t.Errorf("updated case row %+v", r)
	}
	if r := got2[hash(others[0])]; r.status != "closed" {
		t.Errorf("closed case row %+v", r)
	}
	if r := got2[hash(others[1])]; r != got[hash(others[1])] {
		t.Errorf("untouched case changed: %+v → %+v", got[hash(others[1])], r)
	}

	// A third run with nothing new changes nothing.
	in, _ = json.Marshal(second)
	runOnce(string(in))
	if got3 := table(); len(got3) != 3 || got3[hash(sokha)] != got2[hash(sokha)] {
		t.Errorf("idle rerun changed the table")
	}
}

func get(v any, path ...string) any {
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	return v
}
