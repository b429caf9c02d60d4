// Package dhis2tofhir holds the end-to-end test of the dhis2-to-fhir example:
// the project is loaded as the daemon loads it, DHIS2 and the FHIR server are
// simulators and the cron workflow runs twice in the real runtime, the second
// run starting from the first one's final state (the cursor).
package dhis2tofhir

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jobmediator/jobmediator/adaptors/all"
	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/runtime"
	simdhis2 "github.com/jobmediator/jobmediator/sim/dhis2"
	simfhir "github.com/jobmediator/jobmediator/sim/fhir"
	"github.com/jobmediator/jobmediator/workflow"
)

const (
	pat   = "d2pat_exampleTokenForTheDhis2Simulator0000000001"
	token = "fhir-example-bearer-token-42"
)

func seedDHIS2(t *testing.T, s *simdhis2.Server) {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", "tracked-entities.json"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", s.URL()+"/api/tracker?async=false&importStrategy=CREATE_AND_UPDATE", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "ApiToken "+pat)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var rep map[string]any
	_ = json.NewDecoder(res.Body).Decode(&rep)
	if res.StatusCode != 200 || rep["status"] != "OK" {
		t.Fatalf("seeding DHIS2: %d %v", res.StatusCode, rep)
	}
}

func TestDHIS2ToFHIR(t *testing.T) {
	now := func() time.Time { return time.Date(2024, 6, 15, 0, 0, 0, 0, time.UTC) }
	dh := simdhis2.New(simdhis2.Options{Version: "2.40", Tokens: []string{pat}, Now: now})
	if err := dh.Start(); err != nil {
		t.Fatal(err)
	}
	defer dh.Close()
	dh.LoadDefaultMetadata()
	seedDHIS2(t, dh)
	fh := simfhir.New(simfhir.Options{BearerTokens: []string{token}})
	if err := fh.Start(); err != nil {
		t.Fatal(err)
	}
	defer fh.Close()

	p, err := config.LoadProject(".")
	if err != nil {
		t.Fatalf("LoadProject: %v", err)
	}
	if len(p.Warnings) != 0 {
		t.Errorf("project warnings: %v", p.Warnings)
	}
	w := p.Workflow("dhis2-to-fhir")
	if w == nil || len(w.Triggers) != 1 || w.Triggers[0].Type != config.TriggerCron || w.Triggers[0].CronExpression != "0 * * * *" {
		t.Fatalf("workflow/trigger: %+v", w)
	}
	creds, err := config.LoadCredentials("credentials.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dc, _ := creds.Get("dhis2")
	fc, _ := creds.Get("fhir")
	dc["hostUrl"], dc["pat"] = dh.URL(), pat
	fc["baseUrl"], fc["access_token"] = strings.TrimSuffix(fh.URL(), "/fhir"), token
	cred := func(k string) (map[string]any, bool) {
		switch k {
		case "dhis2":
			return dc, true
		case "fhir":
			return fc, true
		}
		return nil, false
	}
	runOnce := func(input string) (map[string]any, []recorder.Exchange) {
		red := redact.New()
		rec := recorder.NewRecorder(red)
		res := workflow.NewLocal(runtime.New(runtime.Options{})).Run(context.Background(), runtime.RunRequest{
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
		return st, rec.Exchanges()
	}

	first, ex := runOnce(`{}`)
	data := first["data"].(map[string]any)
	if data["trackedEntities"] != float64(2) || data["since"] != "1970-01-01T00:00:00.000" {
		t.Errorf("first run data %v", data)
	}
	if probs := data["problems"].([]any); len(probs) != 0 {
		t.Errorf("conversion problems: %v", probs)
	}
	if _, ok := first["lastRunDateTime"].(string); !ok {
		t.Fatalf("no cursor in final state: %v", first)
	}
	counts := map[string]int{}
	for _, typ := range []string{"Patient", "EpisodeOfCare", "Encounter", "Observation"} {
		counts[typ] = fh.Count(typ)
	}
	if counts["Patient"] != 2 || counts["EpisodeOfCare"] != 2 || counts["Encounter"] != 1 || counts["Observation"] != 2 {
		t.Errorf("FHIR server holds %v", counts)
	}
	var gotPatient bool
	for _, pt := range fh.Resources("Patient") {
		b, _ := json.Marshal(pt)
		if strings.Contains(string(b), `"CH-000101"`) && strings.Contains(string(b), `"female"`) && strings.Contains(string(b), "Sesay") {
			gotPatient = true
		}
	}
	if !gotPatient {
		t.Errorf("Patient for Xh88p1g4ulM not converted: %v", fh.Resources("Patient"))
	}
	if len(ex) != 2 || ex[0].Request.Method != "GET" || ex[1].Request.Method != "POST" {
		t.Errorf("exchanges: %d", len(ex))
	}

	// The next hourly run starts from this final state: the cursor is
	// passed to DHIS2, and re-sending the same entities changes nothing.
	in, _ := json.Marshal(first)
	second, ex2 := runOnce(string(in))
	if get := second["data"].(map[string]any)["since"]; get != first["lastRunDateTime"] {
		t.Errorf("second run since = %v, want the first run's cursor %v", get, first["lastRunDateTime"])
	}
	if !strings.Contains(ex2[0].Request.URL, "updatedAfter=") || strings.Contains(ex2[0].Request.URL, "1970") {
		t.Errorf("cursor not sent: %s", ex2[0].Request.URL)
	}
	for typ, n := range counts {
		if fh.Count(typ) != n {
			t.Errorf("rerun changed %s count: %d → %d (not idempotent)", typ, n, fh.Count(typ))
		}
	}
	for _, e := range append(ex, ex2...) {
		b, _ := json.Marshal(e)
		if strings.Contains(string(b), pat) || strings.Contains(string(b), token) {
			t.Errorf("secret in exchange %s", e.Name)
		}
	}
}
