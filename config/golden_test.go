package config

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// golden compares got with testdata/<name>.golden (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./config -run %s -update)", err, t.Name())
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file (go test ./config -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// dump renders a loaded project deterministically, for golden files.
func dump(p *Project) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "project %q format=%s compat=%q credentials=%v sensitive_keys=%v options=%q\n", p.Name, p.Format, p.Compat, p.Credentials, p.SensitiveKeys, p.OptionsPath)
	if ic := p.InlineCredentials(); len(ic) > 0 {
		keys := make([]string, 0, len(ic))
		for k := range ic {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(&b, "inline credentials %v\n", keys)
	}
	for _, w := range p.Workflows {
		o := w.Options
		fmt.Fprintf(&b, "workflow %q name=%q path=%s methods=%v response=%s async=%v compat=%q lane=%s timeout=%s enabled=%v retry=%d/%s/%s polling=%q\n",
			w.Key, w.Name, o.Path, o.Methods, o.Response, o.Async, o.Compat, o.Lane, o.Timeout, o.Enabled, o.Retry.MaxAttempts, o.Retry.InitialBackoff, o.Retry.MaxBackoff, o.Polling)
		for _, t := range w.Triggers {
			fmt.Fprintf(&b, "  trigger %q type=%s enabled=%v cron=%q cursor=%q reply=%q criteria=%q\n", t.Key, t.Type, t.Enabled, t.CronExpression, t.CronCursorJob, t.WebhookReply, t.Criteria)
		}
		for _, j := range w.Jobs {
			cfg, _ := json.Marshal(j.Configuration)
			st, _ := json.Marshal(j.State)
			fmt.Fprintf(&b, "  job %q name=%q line=%d adaptor=%q credential=%q bodyPath=%q config=%s state=%s\n", j.Key, j.Name, j.Line, j.Adaptor, j.Credential, filepath.ToSlash(j.BodyPath), cfg, st)
			fmt.Fprintf(&b, "    body=%q\n", strings.TrimSpace(j.Body))
		}
		for _, e := range w.Edges {
			src := "trigger:" + e.SourceTrigger
			if e.SourceJob != "" {
				src = "job:" + e.SourceJob
			}
			fmt.Fprintf(&b, "  edge %q %s -> %s cond=%s expr=%q label=%q enabled=%v\n", e.Key, src, e.TargetJob, e.Condition, e.Expression, e.Label, e.Enabled)
		}
	}
	for _, wn := range p.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", wn.Error())
	}
	return b.String()
}
