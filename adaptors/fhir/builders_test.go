package fhir_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"testing"

	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/runtime"
	sim "github.com/jobmediator/jobmediator/sim/fhir"
)

// fhir-4's builders and datatypes against goldens recorded from the real
// package source (testdata/builders/README.md; each case names the
// OpenFn/adaptors file it exercises). Every case is its own run, so value
// and system maps start empty, as in a fresh OpenFn worker.
func TestBuildersMatchOpenFn(t *testing.T) {
	var cases []struct{ Name, Cite, JS string }
	raw, err := os.ReadFile("testdata/builders/cases.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	var golden map[string]any
	raw, err = os.ReadFile("testdata/builders/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &golden); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 || len(golden) != len(cases) {
		t.Fatalf("%d cases, %d goldens", len(cases), len(golden))
	}
	engine := runtime.New(runtime.Options{})
	for _, c := range cases {
		for _, compat := range []config.Compat{config.CompatLightning, config.CompatLegacy} {
			body := fmt.Sprintf(`fn(state => {
  try {
    return { data: { value: (function (b, builders, datatypes) { %s })(b, builders, datatypes) } };
  } catch (e) {
    return { data: { error: e.message } };
  }
});`, c.JS)
			red := redact.New()
			res := engine.RunJob(context.Background(), &config.Job{Key: "step", Adaptor: "@openfn/language-fhir-4@0.5.0", Body: body},
				compat, []byte(`{}`), runtime.RunRequest{HTTP: recorder.NewClient(nil, recorder.NewRecorder(red)), Redactor: red})
			if res.Status != runtime.StatusSuccess {
				t.Errorf("%s (%s): %+v", c.Name, compat, res.Error)
				continue
			}
			var st struct{ Data any }
			_ = json.Unmarshal(res.State, &st)
			if want := golden[c.Name]; !reflect.DeepEqual(st.Data, want) {
				g, _ := json.Marshal(st.Data)
				w, _ := json.Marshal(want)
				t.Errorf("%s (%s, %s)\n got: %s\nwant: %s", c.Name, compat, c.Cite, g, w)
			}
		}
	}
}

// Builders used the way fhir-4 jobs use them: at top level while the
// operations are built, and with a system map set by an operation; the
// resources reach the FHIR server as built.
func TestBuildersInAJob(t *testing.T) {
	s := startSim(t, sim.Options{})
	out := run(t, "@openfn/language-fhir-4@0.5.0", `
b.setSystemMap({ moh: 'http://moh.gov.kh/fhir/id/patient' });
create(b.patient({ id: 'p-built', identifier: [{ value: 'K-1', system: 'moh' }], gender: 'female', birthDate: '2019-05-01', name: [{ family: 'Sok', given: ['Dara'] }] }));
create(state => b.observation({ status: 'final', code: b.concept([['8867-4', 'http://loinc.org', { display: 'Heart rate' }]]), subject: { resourceType: 'Patient', id: 'p-built' }, value: { value: 72, unit: '/min' }, effective: '2025-03-04T10:20:30Z' }));
fn(state => ({ ...state, obs: state.data }));
`, conf(s), "")
	mustSucceed(t, out)
	obs, _ := out.state["obs"].(map[string]any)
	if obs["valueQuantity"] == nil || obs["subject"].(map[string]any)["reference"] != "Patient/p-built" {
		t.Errorf("observation as created: %v", obs)
	}
	if code, _ := obs["code"].(map[string]any); code["text"] != "Heart rate" {
		t.Errorf("concept text: %v", obs["code"])
	}
	var sentPatient map[string]any
	for _, ex := range out.ex {
		if ex.Request.Method == "POST" && sentPatient == nil {
			_ = json.Unmarshal([]byte(ex.Request.Body), &sentPatient)
		}
	}
	ids, _ := sentPatient["identifier"].([]any)
	if len(ids) != 1 || ids[0].(map[string]any)["system"] != "moh" {
		// the top-level builder ran while the operations were built, before
		// setSystemMap (an operation) ran: the system stays unmapped, as on OpenFn
		t.Errorf("patient identifier: %v", sentPatient["identifier"])
	}
}
