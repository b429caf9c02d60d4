// Package fhirtodhis2 holds the end-to-end test of the fhir-to-dhis2 example:
// the project is loaded as the daemon loads it, DHIS2 is the simulator and the
// workflow runs in the real runtime.
package fhirtodhis2

import (
	"context"
	"encoding/json"
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
	sim "github.com/jobmediator/jobmediator/sim/dhis2"
	"github.com/jobmediator/jobmediator/workflow"
)

type outcome struct {
	res   *runtime.Result
	data  map[string]any
	ex    []recorder.Exchange
	props map[string]string
}

func runExample(t *testing.T, s *sim.Server, input []byte) outcome {
	t.Helper()
	p, err := config.LoadProject(".")
	if err != nil {
		t.Fatalf("LoadProject: %v", err)
	}
	if len(p.Warnings) != 0 {
		t.Errorf("project warnings: %v", p.Warnings)
	}
	w := p.Workflow("fhir-to-dhis2")
	if w == nil || w.Options.Path != "/fhir-to-dhis2" {
		t.Fatalf("workflow/options: %+v", w)
	}
	creds, err := config.LoadCredentials("credentials.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, ok := creds.Get("dhis2")
	if !ok {
		t.Fatal("credential dhis2 missing from credentials.example.yaml")
	}
	c["hostUrl"] = s.URL() // the simulator instead of a local DHIS2
	red := redact.New()
	rec := recorder.NewRecorder(red)
	res := workflow.NewLocal(runtime.New(runtime.Options{})).Run(context.Background(), runtime.RunRequest{
		Workflow: w, Compat: p.Compat, Input: input, HTTP: recorder.NewClient(nil, rec), Redactor: red,
		Credential: func(k string) (map[string]any, bool) { return c, k == "dhis2" },
	})
	var st map[string]any
	if res.State != nil {
		_ = json.Unmarshal(res.State, &st)
	}
	data, _ := st["data"].(map[string]any)
	return outcome{res, data, rec.Exchanges(), rec.Properties()}
}

func count(d map[string]any, k string) int {
	c, _ := d["importCount"].(map[string]any)
	f, _ := c[k].(float64)
	return int(f)
}

func TestFHIRToDHIS2(t *testing.T) {
	state, err := os.ReadFile(filepath.Join("testdata", "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, version := range []string{"2.37", "2.40"} {
		t.Run(version, func(t *testing.T) {
			s := sim.New(sim.Options{Version: version, Now: func() time.Time { return time.Date(2024, 6, 15, 0, 0, 0, 0, time.UTC) }})
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			s.LoadDefaultMetadata()

			first := runExample(t, s, state)
			if first.res.Status != runtime.StatusSuccess {
				t.Fatalf("run: %s %+v", first.res.Status, first.res.Error)
			}
			if count(first.data, "imported") != 3 || first.data["kind"] != "aggregate" {
				t.Errorf("reply should be the import summary: %v", first.data)
			}
			if probs, _ := first.data["problems"].([]any); len(probs) != 0 {
				t.Errorf("problems %v", probs)
			}
			if len(first.ex) != 1 || !strings.HasSuffix(first.ex[0].Name, "DHIS2 POST /api/dataValueSets") {
				t.Errorf("exchanges %+v", first.ex)
			}
			if first.props["dhis2.import.imported"] != "3" {
				t.Errorf("properties %v", first.props)
			}
			byKey := map[string]string{}
			for _, v := range s.DataValues() {
				byKey[v.OrgUnit+"/"+v.DataElement+"/"+v.Period] = v.Value
			}
			want := map[string]string{"DiszpKrYNg8/f7n9E0hX8qk/202401": "4", "DiszpKrYNg8/Ix2HsbDMLea/202401": "1", "O6uvpzGd5pu/eY5ehpbEsB7/202401": "2"}
			for k, v := range want {
				if byKey[k] != v {
					t.Errorf("DHIS2 value %s = %q, want %q (all: %v)", k, byKey[k], v, byKey)
				}
			}
			// Re-sending the same reports updates, never duplicates.
			again := runExample(t, s, state)
			if again.res.Status != runtime.StatusSuccess || count(again.data, "imported") != 0 || count(again.data, "updated") != 3 {
				t.Errorf("rerun: %s %v", again.res.Status, again.data)
			}
			if len(s.DataValues()) != 3 {
				t.Errorf("%d values stored after rerun", len(s.DataValues()))
			}
			for _, ex := range append(first.ex, again.ex...) {
				b, _ := json.Marshal(ex)
				if strings.Contains(string(b), "district") {
					t.Errorf("password in exchange: %s", b)
				}
			}
		})
	}
}

func TestFHIRToDHIS2BadInput(t *testing.T) {
	s := sim.New(sim.Options{})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.LoadDefaultMetadata()
	out := runExample(t, s, []byte(`{"data":{"resourceType":"Patient"}}`))
	if out.res.Status != runtime.StatusFailed || !strings.Contains(out.res.Error.Message, "expected a MeasureReport") {
		t.Errorf("%s %+v", out.res.Status, out.res.Error)
	}
	unmapped := `{"data":{"resourceType":"MeasureReport","status":"complete","type":"summary","measure":"m",
  "subject":{"identifier":{"system":"https://moh.example.org/facility-registry","value":"OU_999"}},
  "period":{"start":"2024-01-01","end":"2024-01-31"},
  "group":[{"code":{"coding":[{"system":"https://moh.example.org/indicators","code":"MORT_MALARIA"}]},"measureScore":{"value":1}}]}}`
	out = runExample(t, s, []byte(unmapped))
	if out.res.Status != runtime.StatusFailed || !strings.Contains(out.res.Error.Message, "nothing to import") || !strings.Contains(out.res.Error.Message, "OU_999") {
		t.Errorf("%s %+v", out.res.Status, out.res.Error)
	}
	if len(out.ex) != 0 {
		t.Errorf("nothing should be sent to DHIS2: %d exchanges", len(out.ex))
	}
}
