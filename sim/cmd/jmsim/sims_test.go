package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestHelpListsEverySimulator: jmsim --help exits 0 and names the five
// systems; every simulator's --help exits 0 with its flags.
func TestHelpListsEverySimulator(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"--help"}, &out, io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"openhim", "dhis2", "fhir", "primero", "oscar", "records"} {
		if !regexp.MustCompile(`(?m)^  ` + name + ` `).MatchString(out.String()) {
			t.Errorf("--help does not list %s:\n%s", name, out.String())
		}
		var sub bytes.Buffer
		if err := run([]string{name, "--help"}, &sub, io.Discard, func() { t.Fatal("--help must not serve") }); err != nil {
			t.Errorf("%s --help: %v", name, err)
		}
		if !strings.Contains(sub.String(), "jmsim "+name+":") || !strings.Contains(sub.String(), "-addr") && name != "openhim" {
			t.Errorf("%s --help:\n%s", name, sub.String())
		}
	}
}

// TestEachSimulatorServes starts every simulator on a free port and makes
// one authenticated request of the kind the examples make.
func TestEachSimulatorServes(t *testing.T) {
	dir := t.TempDir()
	cases := filepath.Join(dir, "cases.json")
	os.WriteFile(cases, []byte(`[{"name_first":"Ana","sex":"female"}]`), 0o600)
	clients := filepath.Join(dir, "clients.json")
	os.WriteFile(clients, []byte(`{"given_name":"Sok","family_name":"Dara","gender":"male"}`), 0o600)
	patient := filepath.Join(dir, "patient.json")
	os.WriteFile(patient, []byte(`{"resourceType":"Patient","id":"p1","gender":"female"}`), 0o600)

	tests := []struct {
		args   []string
		urlRe  string
		method string
		path   string
		body   string
		auth   func(*http.Request)
		want   string
	}{
		{[]string{"dhis2", "--user", "ana:s3cret-pass", "--version", "2.39"}, `API: (\S+)/api`, "GET", "/api/system/info", "",
			func(r *http.Request) { r.SetBasicAuth("ana", "s3cret-pass") }, `"version":"2.39.0"`},
		{[]string{"dhis2", "--token", "d2pat_s3cret-token"}, `API: (\S+)/api`, "GET", "/api/organisationUnits/DiszpKrYNg8", "",
			func(r *http.Request) { r.Header.Set("Authorization", "ApiToken d2pat_s3cret-token") }, `Ngelehun`},
		{[]string{"fhir", "--token", "s3cret-token", "--seed", patient}, `base: (\S+)`, "GET", "/Patient/p1", "",
			func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret-token") }, `"gender":"female"`},
		{[]string{"primero", "--user", "ana:s3cret-pass", "--seed", cases}, `url: (\S+)`, "GET", "/api/v2/cases", "",
			func(r *http.Request) { r.SetBasicAuth("ana", "s3cret-pass") }, `"name_first":"Ana"`},
		{[]string{"oscar", "--seed", clients}, `baseUrl: (\S+)`, "POST", "/api/v1/admin_auth/sign_in", `{"email":"openfn@oscar.org","password":"oscar-password"}`,
			func(r *http.Request) { r.Header.Set("Content-Type", "application/json") }, `"uid":"openfn@oscar.org"`},
		{[]string{"records"}, `on (\S+) `, "POST", "/records", `{"a":1}`,
			func(r *http.Request) {}, `"stored":true`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[:1], ""), func(t *testing.T) {
			var out, errOut bytes.Buffer
			served := false
			err := run(append(tt.args, "--addr", "127.0.0.1:0"), &out, &errOut, func() {
				m := regexp.MustCompile(tt.urlRe).FindStringSubmatch(out.String())
				if m == nil {
					t.Fatalf("no URL in %q", out.String())
				}
				req, _ := http.NewRequest(tt.method, m[1]+tt.path, strings.NewReader(tt.body))
				tt.auth(req)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode >= 300 || !strings.Contains(string(b), tt.want) {
					t.Fatalf("%s %s: %d %s", tt.method, tt.path, resp.StatusCode, b)
				}
				served = true
			})
			if err != nil || !served {
				t.Fatalf("run: %v (served %v) %s", err, served, errOut.String())
			}
			if strings.Contains(out.String()+errOut.String(), "s3cret") {
				t.Fatalf("a secret was printed: %s", out.String())
			}
		})
	}
}

func TestSimulatorBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`[{`), 0o600)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"dhis2", "--version", "3.0", "--addr", "127.0.0.1:0"}, "invalid version"},
		{[]string{"dhis2", "--user", "nopass"}, "NAME:PASSWORD"},
		{[]string{"fhir", "--seed", filepath.Join(dir, "missing.json")}, "no such file"},
		{[]string{"dhis2", "--metadata", bad}, "want DHIS2 metadata JSON"},
		{[]string{"fhir", "--seed", bad}, "bad.json"},
		{[]string{"primero", "--seed", bad}, "want a JSON object"},
		{[]string{"oscar", "extra"}, "unexpected argument"},
	}
	for _, tt := range tests {
		var errOut bytes.Buffer
		err := run(tt.args, io.Discard, &errOut, func() { t.Fatal("must not serve") })
		if err == nil || !strings.Contains(err.Error()+errOut.String(), tt.want) {
			t.Errorf("%v: %v / %q", tt.args, err, errOut.String())
		}
	}
}
