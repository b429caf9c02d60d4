package gcpolicy

import (
	"runtime/debug"
	"testing"
)

func TestTune(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cases := []struct {
		name        string
		env         map[string]string
		cgroup      int64
		want        string
		wantPercent int
		wantLimit   int64
	}{
		{"defaults", nil, 0, "GOGC=400 GOMEMLIMIT=1024MiB", 400, 1 << 30},
		{"small container", nil, 512 << 20, "GOGC=400 GOMEMLIMIT=384MiB", 400, 384 << 20},
		{"large container", nil, 8 << 30, "GOGC=400 GOMEMLIMIT=1024MiB", 400, 1 << 30},
		{"operator's GOGC", map[string]string{"GOGC": "50"}, 0, "GOGC=50 (environment) GOMEMLIMIT=1024MiB", -1, 1 << 30},
		{"operator's GOMEMLIMIT", map[string]string{"GOMEMLIMIT": "2GiB"}, 0, "GOGC=400 GOMEMLIMIT=2GiB (environment)", 400, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(1 << 40)
			if got := Tune(env(c.env), c.cgroup); got != c.want {
				t.Errorf("tuneGC = %q, want %q", got, c.want)
			}
			if p := debug.SetGCPercent(100); c.wantPercent > 0 && p != c.wantPercent {
				t.Errorf("GC percent %d, want %d", p, c.wantPercent)
			} else if c.wantPercent < 0 && p != 100 {
				t.Errorf("GC percent changed to %d although GOGC was set", p)
			}
			if l := debug.SetMemoryLimit(-1); c.wantLimit > 0 && l != c.wantLimit {
				t.Errorf("memory limit %d, want %d", l, c.wantLimit)
			} else if c.wantLimit < 0 && l != 1<<40 {
				t.Errorf("memory limit changed to %d although GOMEMLIMIT was set", l)
			}
		})
	}
}
