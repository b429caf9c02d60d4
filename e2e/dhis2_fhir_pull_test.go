package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/sim/dhis2"
	"github.com/jobmediator/jobmediator/sim/fhir"
	"github.com/jobmediator/jobmediator/sim/openhim"
)

const (
	pullPAT   = "d2pat_e2e-pull-token-0123456789"
	pullToken = "fhir-e2e-bearer-token"
)

// TestDHIS2ToFHIRPullThroughOpenHIM runs the dhis2-to-fhir example (an
// hourly cron pull) in the real binary next to the OpenHIM, DHIS2 and FHIR
// simulators. Runs started by hand are recorded in core on the workflow's
// channel; the second run only pulls what changed since the first (the
// cursor); a console rerun of the first replays its window and duplicates
// nothing in the FHIR server.
func TestDHIS2ToFHIRPullThroughOpenHIM(t *testing.T) {
	// Wall-clock time everywhere: the job's cursor is its own new Date().
	d := dhis2.New(dhis2.Options{Version: "2.40", Tokens: []string{pullPAT}, Now: func() time.Time { return time.Now().UTC() }})
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.LoadDefaultMetadata()
	seed, err := os.ReadFile("../examples/dhis2-to-fhir/testdata/tracked-entities.json")
	if err != nil {
		t.Fatal(err)
	}
	trackerImport(t, d, seed)

	fh := fhir.New(fhir.Options{BearerTokens: []string{pullToken}})
	if err := fh.Start(); err != nil {
		t.Fatal(err)
	}
	defer fh.Close()

	core := openhim.New(openhim.Options{DisablePolling: true})
	if err := core.Start(); err != nil {
		t.Fatal(err)
	}
	defer core.Close()

	creds := filepath.Join(t.TempDir(), "credentials.yaml")
	os.WriteFile(creds, []byte(fmt.Sprintf("dhis2:\n  hostUrl: %s\n  pat: %s\nfhir:\n  baseUrl: %s\n  apiPath: /fhir\n  access_token: %s\n",
		d.URL(), pullPAT, strings.TrimSuffix(fh.URL(), "/fhir"), pullToken)), 0o600)
	p := start(t, map[string]string{
		"JM_PROJECT": "../examples/dhis2-to-fhir", "JM_CREDENTIALS": creds, "JM_API_TOKEN": "e2e-api-token",
		"OPENHIM_URL": core.APIURL(), "OPENHIM_USERNAME": openhim.RootEmail, "OPENHIM_PASSWORD": openhim.RootPassword,
		"MEDIATOR_HOST": "127.0.0.1",
	})
	waitReady(t, p)
	var chID string
	waitFor(t, "the workflow's channel", 20*time.Second, func() bool { chID = channelNamed(core, "dhis2-to-fhir"); return chID != "" })

	// Run 1: everything (no cursor yet).
	first := runNow(t, p, "dhis2-to-fhir")
	tx1 := pullTransaction(t, core, first.TransactionID, chID)
	if got := pulled(t, p, first.RunID); got != 2 {
		t.Fatalf("first run pulled %d tracked entities, want 2", got)
	}
	counts := map[string]int{}
	for _, typ := range []string{"Patient", "EpisodeOfCare", "Encounter", "Observation"} {
		counts[typ] = fh.Count(typ)
	}
	if counts["Patient"] != 2 || counts["EpisodeOfCare"] != 2 {
		t.Fatalf("FHIR server holds %v after the first run", counts)
	}

	// One person's name is corrected in DHIS2; run 2 pulls only her.
	trackerImport(t, d, []byte(`{"trackedEntities":[{"trackedEntity":"Xh88p1g4ulM","trackedEntityType":"nEenWmSyUEp","orgUnit":"DiszpKrYNg8",
		"attributes":[{"attribute":"w75KJ2mc4zz","value":"Fatima"}]}]}`))
	second := runNow(t, p, "dhis2-to-fhir")
	pullTransaction(t, core, second.TransactionID, chID)
	if got := pulled(t, p, second.RunID); got != 1 {
		t.Fatalf("second run pulled %d tracked entities, want only the changed one", got)
	}
	if !fhirHas(fh, "Patient", "Fatima") || fh.Count("Patient") != 2 {
		t.Fatalf("the correction must update the Patient, not add one: %d patients", fh.Count("Patient"))
	}

	// A console rerun of run 1 replays its window (everything again) and,
	// the FHIR writes being conditional, duplicates nothing.
	task, err := core.Rerun(tx1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.WaitTask(task, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	core.Wait()
	parent, _ := core.Transaction(tx1.ID)
	if len(parent.ChildIDs) != 1 {
		t.Fatalf("the rerun made no child transaction: %+v", parent)
	}
	child := pullTransaction(t, core, parent.ChildIDs[0], chID)
	runID, _ := child.Properties["run_id"].(string)
	if child.ParentID != tx1.ID || pulled(t, p, runID) != 2 {
		t.Fatalf("the rerun must replay run 1's window (2 entities): parent %q", child.ParentID)
	}
	for typ, n := range counts {
		if fh.Count(typ) != n {
			t.Errorf("the rerun changed the %s count %d → %d", typ, n, fh.Count(typ))
		}
	}

	// Prometheus counts the two manual runs and the console rerun, which
	// replays a manual run and so keeps its trigger.
	mresp, err := http.Get(p.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	scrape, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if !strings.Contains(string(scrape), `jobmediator_runs_total{status="success",trigger="manual",workflow="dhis2-to-fhir"} 3`) {
		t.Errorf("/metrics does not count the manual runs and the rerun:\n%s", scrape)
	}
	whole, _ := json.Marshal(core.Transactions())
	if strings.Contains(string(whole), pullPAT) || strings.Contains(string(whole), pullToken) {
		t.Fatal("a credential was stored in OpenHIM")
	}
}

// trackerImport posts a tracker payload synchronously.
func trackerImport(t *testing.T, d *dhis2.Server, body []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, d.URL()+"/api/tracker?async=false&importStrategy=CREATE_AND_UPDATE", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "ApiToken "+pullPAT)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep map[string]any
	json.NewDecoder(resp.Body).Decode(&rep)
	if resp.StatusCode != http.StatusOK || rep["status"] != "OK" {
		t.Fatalf("tracker import: %d %v", resp.StatusCode, rep)
	}
}

type manualRun struct {
	RunID         string `json:"run_id"`
	TransactionID string `json:"transaction_id"`
	Status        string `json:"status"`
}

// runNow starts a workflow through the operator API and waits for its end.
func runNow(t *testing.T, p *proc, workflow string) manualRun {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.URL()+"/api/workflows/"+workflow+"/run", nil)
	req.Header.Set("Authorization", "Bearer e2e-api-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out manualRun
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.Status != "success" || out.TransactionID == "" {
		t.Fatalf("manual run: %d %+v %v\n%s", resp.StatusCode, out, err, p.Logs())
	}
	return out
}

// pullTransaction is a scheduled run's transaction in core: on the
// workflow's channel, Successful, with the DHIS2 pull and the FHIR push as
// orchestrations.
func pullTransaction(t *testing.T, core *openhim.Core, id, channelID string) openhim.Transaction {
	t.Helper()
	core.Wait()
	tx, ok := core.Transaction(id)
	names := orchestrationNames(tx)
	if !ok || tx.ChannelID != channelID || tx.Status != "Successful" ||
		!strings.Contains(names, "/api/tracker/trackedEntities") || !strings.Contains(names, "POST") {
		t.Fatalf("transaction %s: found %v, channel %q (want %q), status %q, orchestrations %s", id, ok, tx.ChannelID, channelID, tx.Status, names)
	}
	return tx
}

// pulled is how many tracked entities a run fetched, from its recorded
// final state.
func pulled(t *testing.T, p *proc, runID string) int {
	t.Helper()
	var run struct {
		Run struct {
			Output struct {
				Data struct {
					TrackedEntities float64 `json:"trackedEntities"`
				} `json:"data"`
			} `json:"output"`
		} `json:"run"`
	}
	apiGet(t, p, "/api/runs/"+runID, &run)
	return int(run.Run.Output.Data.TrackedEntities)
}

func fhirHas(fh *fhir.Server, typ, text string) bool {
	for _, r := range fh.Resources(typ) {
		b, _ := json.Marshal(r)
		if strings.Contains(string(b), text) {
			return true
		}
	}
	return false
}
