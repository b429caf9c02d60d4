package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLoadFormats loads a valid project of every format and compares the
// whole loaded model with a golden dump; the checks below pin the facts
// each format's mapping is about.
func TestLoadFormats(t *testing.T) {
	tests := []struct {
		name   string
		path   string
		format Format
		check  func(t *testing.T, p *Project)
	}{
		{"lightning", "testdata/lightning", FormatLightning, func(t *testing.T, p *Project) {
			w := p.Workflow("Primero to OSCaR") // by name
			if w == nil || w.Key != "Primero-to-OSCaR" {
				t.Fatalf("workflow by name: %+v", w)
			}
			if w.Options.Lane != LaneScheduled || w.Options.Path != "/primero-to-oscar" {
				t.Errorf("cron workflow options: %+v", w.Options)
			}
			j := w.Job("f1-j1-getPrimeroCases")
			if !strings.Contains(j.Body, "getCases") || !strings.HasSuffix(j.BodyPath, "f1-j1-getPrimeroCasesV2.js") {
				t.Errorf("body from path: %q %q", j.Body, j.BodyPath)
			}
			if j.Line != 11 {
				t.Errorf("job line = %d, want 11", j.Line)
			}
			in := p.Workflow("Inbound")
			if in.Options.Lane != LaneRouted || in.Options.Path != "/inbound" || in.Triggers[0].WebhookReply != "before_start" {
				t.Errorf("webhook workflow: %+v %+v", in.Options, in.Triggers[0])
			}
			if p.EffectiveCompat(w, j, "") != CompatLightning {
				t.Errorf("lightning projects default to the lightning profile")
			}
		}},
		{"v1", "testdata/v1/project.yaml", FormatV1, func(t *testing.T, p *Project) {
			if len(p.Workflows) != 2 {
				t.Fatalf("want one workflow per cron/criteria trigger, got %d", len(p.Workflows))
			}
			w := p.Workflow("hourly")
			var keys []string
			for _, j := range w.Jobs {
				keys = append(keys, j.Key)
			}
			if strings.Join(keys, ",") != "pull-cases,send-to-oscar,on-send-failure" {
				t.Errorf("chain jobs = %v", keys)
			}
			if e := w.Edges[2]; e.SourceJob != "send-to-oscar" || e.Condition != ConditionOnFailure {
				t.Errorf("catch edge = %+v", e)
			}
			ic := p.InlineCredentials()
			if ic["oscar"]["password"] != "v1-oscar-secret" {
				t.Errorf("inline credentials = %v", ic)
			}
			ic["oscar"]["password"] = "changed" // a copy
			if p.InlineCredentials()["oscar"]["password"] != "v1-oscar-secret" {
				t.Error("InlineCredentials must return a copy")
			}
			if p.Workflow("oscar-message").Triggers[0].Criteria != `{"source":"oscar"}` {
				t.Error("criteria lost")
			}
			if p.EffectiveCompat(w, nil, "") != CompatLegacy || p.EffectiveCompat(w, nil, CompatLightning) != CompatLightning {
				t.Error("v1 projects default to legacy unless settings say otherwise")
			}
		}},
		{"plan", "testdata/plan/workflow.json", FormatPlan, func(t *testing.T, p *Project) {
			w := p.Workflows[0]
			if w.Key != "cambodia-f1" || w.Name != "Primero to OSCaR" || w.Options.Timeout != 300*time.Second {
				t.Errorf("workflow = %q %q %s", w.Key, w.Name, w.Options.Timeout)
			}
			if w.Triggers[0].Type != TriggerCron || w.Options.Lane != LaneScheduled {
				t.Errorf("trigger step: %+v", w.Triggers[0])
			}
			j := w.Job("cases-to-oscar")
			if j.Configuration["baseUrl"] != "https://oscar.example.org" || j.Credential != "" {
				t.Errorf("configuration from file: %v", j.Configuration)
			}
			if w.Job("get-primero-cases").Credential != "primero-credential-id" {
				t.Error("configuration string is a credential id")
			}
		}},
		{"plan-bare", "testdata/plan-bare/workflow.yaml", FormatPlan, func(t *testing.T, p *Project) {
			w := p.Workflows[0]
			if w.Key != "workflow" || w.Triggers[0].Key != "webhook" || w.Triggers[0].Type != TriggerWebhook {
				t.Errorf("synthesized webhook trigger: %q %+v", w.Key, w.Triggers)
			}
			if w.Job("send").Adaptor != "@openfn/language-http@7" || w.Job("convert").Adaptor != "@openfn/language-common" {
				t.Error("short adaptor names are expanded")
			}
		}},
		{"plan-legacy", "testdata/plan-legacy", FormatPlan, func(t *testing.T, p *Project) {
			w := p.Workflows[0]
			if len(w.Jobs) != 2 || w.Edges[1].Condition != ConditionJSExpression || w.Edges[1].Expression != "state.data.ok" {
				t.Errorf("legacy jobs plan: %+v", w.Edges)
			}
		}},
		{"hello-upstream", filepath.Join("..", "examples", "hello-upstream"), FormatLightning, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := LoadProject(tt.path)
			if err != nil {
				t.Fatalf("LoadProject(%s): %v", tt.path, err)
			}
			if p.Format != tt.format {
				t.Errorf("format = %s, want %s", p.Format, tt.format)
			}
			if tt.check != nil {
				tt.check(t, p)
			}
			golden(t, "load-"+tt.name, dump(p))
		})
	}
}
