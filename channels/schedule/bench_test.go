package schedule

import (
	"context"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/channels/internal/chantest"
	"github.com/jobmediator/jobmediator/config"
)

// BenchmarkScheduledRun measures one scheduled run end to end on the
// embedded store: cursor read, input assembly, the job (language-common,
// no network), run history, cursor compare-and-set.
func BenchmarkScheduledRun(b *testing.B) {
	st := openStore(b, b.TempDir())
	defer st.Close()
	f := newSched(b, st, chantest.NewAcceptAll(b), NewFakeClock(t0), nil)
	wf := f.x.Project().Workflow("legacy-pull")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, err := f.h.runScheduled(ctx, runSpec{wf: wf, trigger: "cron", until: t0.Add(time.Duration(i) * time.Minute)})
		if err != nil || !out.Advanced {
			b.Fatalf("run %d: %v %+v", i, err, out)
		}
	}
}

// BenchmarkClaimTick measures the per-tick replica claim on the embedded store.
func BenchmarkClaimTick(b *testing.B) {
	st := openStore(b, b.TempDir())
	defer st.Close()
	f := newSched(b, st, chantest.NewAcceptAll(b), NewFakeClock(t0), nil)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if ok, err := f.h.claimTick(ctx, "pull", t0.Add(time.Duration(i)*time.Minute), "a"); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkScheduleNext measures computing the next tick of a zoned cron.
func BenchmarkScheduleNext(b *testing.B) {
	loc, err := time.LoadLocation("Asia/Phnom_Penh")
	if err != nil {
		b.Skip(err)
	}
	s, err := config.ParseCron("*/15 9-17 * * 1-5", loc)
	if err != nil {
		b.Fatal(err)
	}
	at := t0
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		at = s.Next(at)
	}
}
