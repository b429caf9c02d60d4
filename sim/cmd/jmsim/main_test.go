package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestRunServesAndPreloads(t *testing.T) {
	dir := t.TempDir()
	chFile := filepath.Join(dir, "channels.json")
	ch := `[{"name":"tour","urlPattern":"^/tour$","methods":["GET"],"authType":"public",
	  "routes":[{"name":"r","host":"127.0.0.1","port":9,"primary":true}]}]`
	if err := os.WriteFile(chFile, []byte(ch), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	checked := false
	err := run([]string{"openhim", "--api", "127.0.0.1:0", "--router", "127.0.0.1:0", "--channels", chFile,
		"--client", "tour-client:s3cret-pass:tour-role"}, &out, &errOut, func() {
		api := regexp.MustCompile(`API:\s+(\S+)`).FindStringSubmatch(out.String())[1]
		req, _ := http.NewRequest("GET", api+"/channels", nil)
		req.SetBasicAuth("root@openhim.org", "openhim-password")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("channels: %d", resp.StatusCode)
		}
		hb, err := http.Get(api + "/heartbeat")
		if err != nil {
			t.Fatal(err)
		}
		hb.Body.Close()
		checked = hb.StatusCode == 200
	})
	if err != nil || !checked {
		t.Fatalf("run: %v (checked %v)", err, checked)
	}
	if !strings.Contains(out.String(), "channel: tour ^/tour$") || !strings.Contains(out.String(), "client: tour-client") {
		t.Fatalf("output %q", out.String())
	}
	// Secrets never reach the output.
	for _, secret := range []string{"s3cret-pass", "openhim-password"} {
		if strings.Contains(out.String()+errOut.String(), secret) {
			t.Fatalf("%s printed", secret)
		}
	}
}

func TestRunBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"name":"x"`), 0o600)
	invalid := filepath.Join(dir, "invalid.json")
	os.WriteFile(invalid, []byte(`{"name":"x","urlPattern":"^/x$","routes":[]}`), 0o600)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no subcommand", nil, "usage"},
		{"unknown subcommand", []string{"dhis3"}, "usage"},
		{"unknown flag", []string{"openhim", "--nope"}, "flag provided but not defined"},
		{"extra arg", []string{"openhim", "x"}, "unexpected argument"},
		{"missing file", []string{"openhim", "--channels", filepath.Join(dir, "missing.json")}, "no such file"},
		{"bad json", []string{"openhim", "--channels", bad}, "want a channel object"},
		{"invalid channel", []string{"openhim", "--channels", invalid, "--api", "127.0.0.1:0", "--router", "127.0.0.1:0"}, "Channel must have a primary route"},
		{"bad client", []string{"openhim", "--client", "only-id"}, "ID:PASSWORD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(tt.args, &out, &errOut, func() { t.Fatal("must not serve") })
			if err == nil || !strings.Contains(err.Error()+errOut.String(), tt.want) {
				t.Fatalf("got %v / %q", err, errOut.String())
			}
		})
	}
}
