package config

import (
	"strings"
	"testing"
)

// The scheduling options (overlap, time_zone) are read from jobmediator.yaml
// and validated there, so a typo fails `check` instead of silently running
// with the default policy or zone.
func TestScheduleOptions(t *testing.T) {
	for _, tc := range []struct {
		name, options        string
		wantOverlap, wantTZ  string
		wantErr, wantErrText string
	}{
		{name: "defaults", options: "", wantOverlap: "", wantTZ: ""},
		{name: "skip", options: "workflows: { hello: { overlap: skip } }\n", wantOverlap: OverlapSkip},
		{name: "queue and zone", options: "workflows: { hello: { overlap: queue, time_zone: Asia/Phnom_Penh } }\n",
			wantOverlap: OverlapQueue, wantTZ: "Asia/Phnom_Penh"},
		{name: "bad overlap", options: "workflows: { hello: { overlap: parallel } }\n",
			wantErr: "workflows.hello.overlap", wantErrText: `unknown overlap policy "parallel"`},
		{name: "bad zone", options: "workflows: { hello: { time_zone: Mars/Olympus } }\n",
			wantErr: "workflows.hello.time_zone", wantErrText: `unknown time zone "Mars/Olympus"`},
		{name: "empty zone", options: "workflows: { hello: { time_zone: '' } }\n",
			wantErr: "workflows.hello.time_zone", wantErrText: `unknown time zone ""`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := LoadProject(writeProject(t, tc.options))
			if tc.wantErr != "" {
				if err == nil {
					t.Fatal("expected a validation error")
				}
				if !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), tc.wantErrText) {
					t.Fatalf("error %q does not name %s / %s", err, tc.wantErr, tc.wantErrText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			o := p.Workflows[0].Options
			if o.Overlap != tc.wantOverlap || o.TimeZone != tc.wantTZ {
				t.Errorf("overlap=%q time_zone=%q, want %q %q", o.Overlap, o.TimeZone, tc.wantOverlap, tc.wantTZ)
			}
		})
	}
}
