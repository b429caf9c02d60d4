// Package postgrestodhis2 holds the end-to-end test of the postgres-to-dhis2
// example: the project is loaded as the daemon loads it, visits live in a
// fresh database of the machine's PostgreSQL, DHIS2 is the simulator, and
// the cron workflow runs in the real runtime three times (first import,
// unchanged rerun, rerun after a late entry).
package postgrestodhis2

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	_ "github.com/jobmediator/jobmediator/adaptors/all"
	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/runtime"
	simdhis2 "github.com/jobmediator/jobmediator/sim/dhis2"
	"github.com/jobmediator/jobmediator/workflow"
)

const (
	pat        = "d2pat_exampleTokenForTheDhis2Simulator0000000002"
	dbPassword = "clinical-db-Pa55word-7731"
	adminDSN   = "host=127.0.0.1 port=5432 dbname=test user=postgres sslmode=disable"
)

var now = time.Date(2024, 6, 15, 2, 30, 0, 0, time.UTC)

// freshDatabase creates a database of its own (the job's SQL names plain
// health_visits, as a real deployment would) and drops it afterwards.
func freshDatabase(t *testing.T) (string, *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		t.Fatalf("PostgreSQL at 127.0.0.1:5432 is needed: %v", err)
	}
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	name := "jm_ex_p2d_" + hex.EncodeToString(b)
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

// Saint Lucia facilities as DHIS2 org units; LC_SOUFRIERE is deliberately
// missing so its visits must be reported, not imported.
func seedDHIS2(s *simdhis2.Server) {
	s.LoadDefaultMetadata()
	root := simdhis2.OrgUnit{ID: "LcSaintLuc1", Code: "LC", Name: "Saint Lucia"}
	ous := []simdhis2.OrgUnit{root,
		{ID: "LcGrosIslt1", Code: "LC_GROS_ISLET", Name: "Gros Islet Polyclinic", Parent: &simdhis2.Ref{ID: root.ID}},
		{ID: "LcCastries1", Code: "LC_CASTRIES", Name: "Castries Wellness Centre", Parent: &simdhis2.Ref{ID: root.ID}},
		{ID: "LcVieuxFrt1", Code: "LC_VIEUX_FORT", Name: "St Jude Hospital, Vieux Fort", Parent: &simdhis2.Ref{ID: root.ID}},
	}
	var refs []simdhis2.Ref
	for _, ou := range ous[1:] {
		refs = append(refs, simdhis2.Ref{ID: ou.ID})
	}
	s.SeedMetadata(simdhis2.Metadata{
		OrganisationUnits: ous,
		DataElements: []simdhis2.DataElement{{ID: "lcHvVisits1", Code: "LC_HV_VISITS", Name: "Health visits", ShortName: "Health visits",
			ValueType: "INTEGER_ZERO_OR_POSITIVE", DomainType: "AGGREGATE", AggregationType: "SUM", CategoryCombo: &simdhis2.Ref{ID: "bjDvmb4bfuf"}}},
		DataSets: []simdhis2.DataSet{{ID: "lcHvDataSt1", Code: "LC_HEALTH_VISITS", Name: "Health visits (monthly)", PeriodType: "Monthly",
			CategoryCombo: &simdhis2.Ref{ID: "bjDvmb4bfuf"}, DataSetElements: []simdhis2.DataSetElement{{DataElement: simdhis2.Ref{ID: "lcHvVisits1"}}},
			OrganisationUnits: refs}},
	})
}

func TestPostgresToDHIS2(t *testing.T) {
	dbName, conn := freshDatabase(t)
	ctx := context.Background()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`CREATE TABLE health_visits (id serial PRIMARY KEY, patient_id text NOT NULL, facility_code text NOT NULL, visit_date date NOT NULL)`)
	visits := []struct {
		facility, date string
		n              int
	}{
		{"LC_GROS_ISLET", "2023-12-10", 2}, // before the window: not sent
		{"LC_GROS_ISLET", "2024-04-03", 3},
		{"LC_GROS_ISLET", "2024-05-20", 2},
		{"LC_CASTRIES", "2024-05-02", 4},
		{"LC_CASTRIES", "2024-06-01", 1},
		{"LC_VIEUX_FORT", "2024-06-12", 2},
		{"LC_SOUFRIERE", "2024-05-07", 1}, // no DHIS2 org unit
	}
	for i, v := range visits {
		for j := 0; j < v.n; j++ {
			exec(`INSERT INTO health_visits (patient_id, facility_code, visit_date) VALUES ($1, $2, $3)`, fmt.Sprintf("P%03d-%d", i, j), v.facility, v.date)
		}
	}

	dh := simdhis2.New(simdhis2.Options{Version: "2.40", Tokens: []string{pat}, Now: func() time.Time { return now }})
	if err := dh.Start(); err != nil {
		t.Fatal(err)
	}
	defer dh.Close()
	seedDHIS2(dh)

	p, err := config.LoadProject(".")
	if err != nil {
		t.Fatalf("LoadProject: %v", err)
	}
	if len(p.Warnings) != 0 {
		t.Errorf("project warnings: %v", p.Warnings)
	}
	w := p.Workflow("postgres-to-dhis2")
	if w == nil || len(w.Triggers) != 1 || w.Triggers[0].Type != config.TriggerCron {
		t.Fatalf("workflow/trigger: %+v", w)
	}
	creds, err := config.LoadCredentials("credentials.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pc, _ := creds.Get("postgres")
	dc, _ := creds.Get("dhis2")
	pc["database"], pc["user"], pc["password"] = dbName, "postgres", dbPassword
	dc["hostUrl"], dc["pat"] = dh.URL(), pat
	cred := func(k string) (map[string]any, bool) {
		switch k {
		case "postgres":
			return pc, true
		case "dhis2":
			return dc, true
		}
		return nil, false
	}
	runOnce := func(input string) (map[string]any, []recorder.Exchange) {
		t.Helper()
		red := redact.New()
		rec := recorder.NewRecorder(red)
		res := workflow.NewLocal(runtime.New(runtime.Options{Now: func() time.Time { return now }})).Run(ctx, runtime.RunRequest{
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
		all, _ := json.Marshal(struct {
			X any
			L any
			S any
		}{rec.Exchanges(), res.Logs, st})
		for _, secret := range []string{dbPassword, pat} {
			if strings.Contains(string(all), secret) {
				t.Errorf("secret %q leaked into exchanges, logs or state", secret[:6])
			}
		}
		return st, rec.Exchanges()
	}
	type key struct{ ou, pe string }
	values := func() map[key]string {
		out := map[key]string{}
		for _, v := range dh.DataValues() {
			if v.DataElement == "lcHvVisits1" {
				out[key{v.OrgUnit, v.Period}] = v.Value
			}
		}
		return out
	}
	counts := func(st map[string]any) map[string]any {
		ic, _ := st["data"].(map[string]any)["importSummary"].(map[string]any)["importCount"].(map[string]any)
		return ic
	}

	// First run: five facility-months imported, Soufrière reported.
	first, ex := runOnce(`{}`)
	data := first["data"].(map[string]any)
	if data["since"] != "2024-04-01" || data["records"] != float64(6) || data["sent"] != float64(5) {
		t.Errorf("first run data %v", data)
	}
	if ic := counts(first); ic["imported"] != float64(5) || ic["ignored"] != float64(0) {
		t.Errorf("first import count %v", ic)
	}
	probs := data["problems"].([]any)
	if len(probs) != 1 || get(probs[0], "facility") != "LC_SOUFRIERE" || get(probs[0], "period") != "202405" || get(probs[0], "visits") != float64(1) {
		t.Errorf("problems %v", probs)
	}
	want := map[key]string{
		{"LcGrosIslt1", "202404"}: "3", {"LcGrosIslt1", "202405"}: "2",
		{"LcCastries1", "202405"}: "4", {"LcCastries1", "202406"}: "1",
		{"LcVieuxFrt1", "202406"}: "2",
	}
	if got := values(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("DHIS2 holds %v\nwant %v", got, want)
	}
	if len(ex) != 3 || ex[0].Request.Method != "SQL" || !strings.Contains(ex[0].Request.Body, "$1::date") ||
		!strings.Contains(ex[1].Request.URL, "organisationUnits") || ex[2].Request.Method != "POST" {
		for _, e := range ex {
			t.Logf("%s %s %s", e.Name, e.Request.Method, e.Request.URL)
		}
		t.Errorf("exchanges: %d", len(ex))
	}

	// Rerun from the previous final state (what a cron run gets): nothing
	// new is created; DHIS2 2.40.0 counts unchanged values as updated.
	in, _ := json.Marshal(first)
	second, _ := runOnce(string(in))
	if ic := counts(second); ic["imported"] != float64(0) || ic["updated"].(float64)+ic["ignored"].(float64) != 5 {
		t.Errorf("rerun import count %v (want 0 imported)", ic)
	}
	if got := values(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rerun changed DHIS2: %v", got)
	}

	// A late entry for May at Gros Islet: the next run corrects that value.
	exec(`INSERT INTO health_visits (patient_id, facility_code, visit_date) VALUES ('P-late', 'LC_GROS_ISLET', '2024-05-30')`)
	in, _ = json.Marshal(second)
	third, _ := runOnce(string(in))
	if ic := counts(third); ic["imported"] != float64(0) || ic["updated"] == float64(0) {
		t.Errorf("third import count %v", ic)
	}
	want[key{"LcGrosIslt1", "202405"}] = "3"
	if got := values(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after late entry DHIS2 holds %v", got)
	}
}

func get(v any, k string) any {
	m, _ := v.(map[string]any)
	return m[k]
}
