package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/sim/dhis2"
	"github.com/jobmediator/jobmediator/sim/openhim"
)

// TestFHIRToDHIS2ThroughOpenHIM: OpenHIM routes a bundle of FHIR
// MeasureReports to the mediator, which posts the dataValueSet to DHIS2 and
// answers with the import summary; core records the DHIS2 call as an
// orchestration and the import counts as properties.
func TestFHIRToDHIS2ThroughOpenHIM(t *testing.T) {
	d := dhis2.New(dhis2.Options{Version: "2.40", Now: func() time.Time { return time.Date(2024, 6, 15, 0, 0, 0, 0, time.UTC) }})
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.LoadDefaultMetadata()

	core := openhim.New(openhim.Options{DisablePolling: true})
	if err := core.Start(); err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	core.AddClient(openhim.Client{ClientID: clientID, Name: "e2e", Password: clientPass, Roles: []string{"jobmediator"}})

	creds := filepath.Join(t.TempDir(), "credentials.yaml")
	os.WriteFile(creds, []byte(fmt.Sprintf("dhis2:\n  hostUrl: %s\n  username: admin\n  password: district\n", d.URL())), 0o600)
	p := start(t, map[string]string{
		"JM_PROJECT": "../examples/fhir-to-dhis2", "JM_CREDENTIALS": creds,
		"OPENHIM_URL": core.APIURL(), "OPENHIM_USERNAME": openhim.RootEmail, "OPENHIM_PASSWORD": openhim.RootPassword,
		"MEDIATOR_HOST": "127.0.0.1",
	})
	waitFor(t, "the default channel", 20*time.Second, func() bool { return channelNamed(core, "fhir-to-dhis2") != "" })

	var state struct {
		Data json.RawMessage `json:"data"`
	}
	raw, err := os.ReadFile("../examples/fhir-to-dhis2/testdata/state.json")
	if err != nil || json.Unmarshal(raw, &state) != nil {
		t.Fatalf("example bundle: %v", err)
	}
	for round, want := range []string{"imported", "updated"} {
		resp, body := route(t, core, "/fhir-to-dhis2", string(state.Data))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("round %d: client got %d %s\n%s", round, resp.StatusCode, body, p.Logs())
		}
		var summary struct {
			ImportCount map[string]int `json:"importCount"`
		}
		if err := json.Unmarshal([]byte(body), &summary); err != nil || summary.ImportCount[want] != 3 {
			t.Fatalf("round %d: reply must be the import summary with 3 %s: %s", round, want, body)
		}
		tx := lastTransaction(t, core)
		if tx.Status != "Successful" || len(tx.Orchestrations) != 2 {
			t.Fatalf("round %d: transaction %s with %d orchestrations", round, tx.Status, len(tx.Orchestrations))
		}
		if name, _ := tx.Orchestrations[0]["name"].(string); !strings.Contains(name, "/api/dataValueSets") {
			t.Fatalf("orchestration %q", name)
		}
		if tx.Properties["dhis2.import."+want] != "3" {
			t.Fatalf("import counts must be transaction properties: %v", tx.Properties)
		}
	}
	if n := len(d.DataValues()); n != 3 {
		t.Fatalf("DHIS2 holds %d values, want 3 (the rerun must update, not duplicate)", n)
	}
	whole, _ := json.Marshal(core.Transactions())
	if strings.Contains(string(whole), "district") || strings.Contains(string(whole), b64("admin:district")) {
		t.Fatal("DHIS2 password stored in OpenHIM")
	}
	// Not FHIR at all: a precise error, Completed (no auto-retry), nothing sent to DHIS2.
	before := len(d.Requests())
	resp, body := route(t, core, "/fhir-to-dhis2", `{"hello":"world"}`)
	if resp.StatusCode < 400 || resp.StatusCode >= 500 || !strings.Contains(body, "expected a MeasureReport") {
		t.Fatalf("non-FHIR input: %d %s", resp.StatusCode, body)
	}
	if tx := lastTransaction(t, core); tx.Status != "Completed" || tx.AutoRetry {
		t.Fatalf("non-FHIR input must be Completed without auto-retry: %+v", tx)
	}
	if len(d.Requests()) != before {
		t.Fatal("bad input reached DHIS2")
	}
}
