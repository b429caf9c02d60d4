package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestExamplesRunByHand runs examples/run.sh — what `make example NAME=…`
// execs — with the real binaries: jmsim starts the simulators on their
// default ports, the example's credentials.example.yaml points there, and the
// script prints what reached the target system. The simulators must be gone
// afterwards (the script stops what it started).
func TestExamplesRunByHand(t *testing.T) {
	// The examples use the simulators' fixed ports (4010-4050) and one
	// database name, as a user running them does: two test processes on
	// one machine take turns.
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "jobmediator-examples.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) }()
	jmsim := filepath.Join(t.TempDir(), "jmsim")
	build := exec.Command("go", "build", "-o", jmsim, "../sim/cmd/jmsim")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building jmsim: %v\n%s", err, out)
	}
	examples := []struct {
		name string
		want []string
	}{
		{"hello-upstream", []string{`"records":[{"district":"north","name":"Ana"}]`}},
		{"fhir-to-dhis2", []string{`"dataSet":"pBOMPrpg1QX"`, `"period":"202401"`, `"orgUnit":"DiszpKrYNg8"`}},
		{"dhis2-to-fhir", []string{`"resourceType":"Patient"`, `"value":"Xh88p1g4ulM"`}},
		{"cambodia-referrals", []string{`"location_current":"02040302"`, `"date_of_birth":"2014-09-08"`}},
		{"primero-v1-oscar", []string{`"oscar_referral_of":"svc-c-1"`}},
		// These two need the local PostgreSQL (as make test does).
		{"primero-to-postgres", []string{"(3 rows)", "| KH12     | high"}},
		{"postgres-to-dhis2", []string{`"dataElement":"lcHvVisits1"`, `"orgUnit":"LcVieuxFrt1"`, `"period":"202406"`}},
	}
	// Every example has a run by hand: a new one must be added here (and to
	// examples/run.sh).
	dirs, err := os.ReadDir("../examples")
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, ex := range examples {
		covered[ex.name] = true
	}
	n := 0
	for _, d := range dirs {
		if d.IsDir() {
			n++
			if !covered[d.Name()] {
				t.Errorf("examples/%s has no run by hand (examples/run.sh, this test)", d.Name())
			}
		}
	}
	if n < len(examples) {
		t.Fatalf("%d example directories, %d runs", n, len(examples))
	}
	for _, tt := range examples {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command("sh", "examples/run.sh", tt.name)
			cmd.Dir = ".."
			tmp := t.TempDir()
			cmd.Env = append(os.Environ(), "BIN="+binary, "JMSIM="+jmsim, "TMPDIR="+tmp)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("run.sh %s: %v\n%s", tt.name, err, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %s:\n%s", w, out)
				}
			}
			// The final state was written where the script says.
			if files, _ := filepath.Glob(filepath.Join(tmp, "example-"+tt.name+".*.json")); len(files) != 1 {
				t.Errorf("final state files: %v", files)
			}
		})
	}
	// Nothing the script started still listens.
	for _, port := range []string{"4010", "4020", "4030", "4040", "4050"} {
		if exec.Command("curl", "-s", "-o", "/dev/null", "http://127.0.0.1:"+port+"/").Run() == nil {
			t.Errorf("something still serves port %s after the examples", port)
		}
	}
}
