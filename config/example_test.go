package config

import (
	"path/filepath"
	"testing"
	"time"
)

func TestHelloUpstreamExample(t *testing.T) {
	dir := filepath.Join("..", "examples", "hello-upstream")
	p, err := LoadProject(dir)
	if err != nil {
		t.Fatalf("LoadProject: %v", err)
	}
	if len(p.Warnings) != 0 {
		t.Errorf("warnings: %v", p.Warnings)
	}
	if p.Format != FormatLightning || len(p.Workflows) != 1 {
		t.Fatalf("format %s, %d workflows", p.Format, len(p.Workflows))
	}
	w := p.Workflow("hello-upstream")
	if w == nil {
		t.Fatal("workflow hello-upstream missing")
	}
	if w.Options.Path != "/hello" || w.Options.Lane != LaneRouted || !w.Options.Enabled || w.Options.Timeout != 300*time.Second {
		t.Errorf("options = %+v", w.Options)
	}
	j := w.Job("post-to-upstream")
	if j == nil || j.Adaptor != "@openfn/language-http@7" || j.Credential != "upstream" || j.Line == 0 {
		t.Fatalf("job = %+v", j)
	}
	creds, err := LoadCredentials(filepath.Join(dir, "credentials.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c, ok := creds.Get("upstream")
	if !ok || c["baseUrl"] != "http://127.0.0.1:4010" || c["password"] != "demo-secret" {
		t.Errorf("credential = %v", c)
	}
}
