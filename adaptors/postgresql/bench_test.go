package postgresql_test

import (
	"fmt"
	"testing"
)

// BenchmarkInsertMany1000 measures a whole job step (connect, one 1,000-row
// parameterised INSERT, disconnect) through the real runtime.
func BenchmarkInsertMany1000(b *testing.B) {
	c := db(b)
	tn := table("bench")
	mustExec(b, c, "CREATE TABLE "+tn+" (id int, facility text, visits int, month date)")
	body := fmt.Sprintf(`insertMany('%s', Array.from({ length: 1000 }, (_, i) => ({ id: i, facility: 'F' + (i %% 7), visits: i * 2, month: '2024-05-01' })));`, tn)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out := run(b, body, runOpt{})
		mustSucceed(b, out)
	}
	b.StopTimer()
	if n := count(b, c, tn); n != 1000*b.N {
		b.Fatalf("rows %d", n)
	}
}

// BenchmarkUpsertMany1000 is the reporting-table pattern: the same 1,000
// records upserted again (every row conflicts and is updated).
func BenchmarkUpsertMany1000(b *testing.B) {
	c := db(b)
	tn := table("benchup")
	mustExec(b, c, "CREATE TABLE "+tn+" (case_hash text PRIMARY KEY, sex text, age_band text, status text)")
	body := fmt.Sprintf(`upsertMany('%s', 'case_hash', Array.from({ length: 1000 }, (_, i) => ({ case_hash: 'h' + i, sex: 'f', age_band: '5-9', status: 'open' })), { logValues: false });`, tn)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out := run(b, body, runOpt{})
		mustSucceed(b, out)
	}
	b.StopTimer()
	if n := count(b, c, tn); n != 1000 {
		b.Fatalf("rows %d", n)
	}
}
