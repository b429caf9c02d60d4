// Package channels_test checks the direction the packages import in
// (house.md): every way in (webhook, schedule, api) may use channels/queue
// and the workflow layer, never another way in; the queue uses the
// workflow layer; the workflow layer knows no way in; the runtime
// (runtime/..., its worker processes too) knows neither.
package channels_test

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/jobmediator/jobmediator/"

// waysIn are the packages a run arrives through.
var waysIn = []string{"channels/webhook", "channels/schedule", "channels/api", "channels/queue"}

// deps lists the module packages pkg imports, directly or not.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", mod+pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	var got []string
	for _, l := range strings.Fields(string(out)) {
		if rest, ok := strings.CutPrefix(l, mod); ok && rest != pkg {
			got = append(got, rest)
		}
	}
	return got
}

func TestImportDirection(t *testing.T) {
	out, err := exec.Command("go", "list", mod+"channels/...").Output()
	if err != nil {
		t.Fatal(err)
	}
	var pkgs []string
	for _, l := range strings.Fields(string(out)) {
		pkgs = append(pkgs, strings.TrimPrefix(l, mod))
	}
	// Each way in must be there: a renamed package must not make the
	// rules below hold by checking nothing.
	for _, w := range waysIn {
		if !contains(pkgs, w) {
			t.Fatalf("way in %s is missing from %v", w, pkgs)
		}
	}
	for _, p := range pkgs {
		for _, d := range deps(t, p) {
			if d != "channels/queue" && contains(waysIn, d) {
				t.Errorf("%s imports %s: a way in may only use channels/queue and the workflow layer", p, d)
			}
		}
	}
	queueDeps := deps(t, "channels/queue")
	if !contains(queueDeps, "workflow") {
		t.Errorf("channels/queue must run its work through workflow; it imports %v", queueDeps)
	}
	for _, d := range deps(t, "workflow") {
		if strings.HasPrefix(d, "channels/") {
			t.Errorf("workflow imports %s: the workflow layer must know no way in", d)
		}
	}
	out, err = exec.Command("go", "list", mod+"runtime/...").Output()
	if err != nil {
		t.Fatal(err)
	}
	rts := strings.Fields(string(out))
	if len(rts) == 0 {
		t.Fatal("no runtime packages listed")
	}
	for _, rt := range rts {
		rt = strings.TrimPrefix(rt, mod)
		for _, d := range deps(t, rt) {
			if d == "workflow" || strings.HasPrefix(d, "channels/") {
				t.Errorf("%s imports %s: the runtime runs jobs and knows neither the workflow layer nor the ways in", rt, d)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
