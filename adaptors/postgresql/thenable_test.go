package postgresql_test

import (
	"fmt"
	"testing"

	"github.com/jobmediator/jobmediator/config"
)

// Every postgresql operation is async in OpenFn, so a job may call one
// directly and chain on it: sql(…)(state).then(…), .catch(e => …), await.
func TestOperationsAreThenables(t *testing.T) {
	tb := table("thenable")
	create := fmt.Sprintf(`sql('DROP TABLE IF EXISTS %[1]s'); sql('CREATE TABLE %[1]s (id text primary key, n int)');`, tb)
	ops := map[string]string{
		"sql":           `sql('SELECT 1 AS one')`,
		"insert":        fmt.Sprintf(`insert('%s', {id: 'a', n: 1})`, tb),
		"insertMany":    fmt.Sprintf(`insertMany('%s', [{id: 'b', n: 2}])`, tb),
		"upsert":        fmt.Sprintf(`upsert('%s', 'id', {id: 'e', n: 3})`, tb),
		"upsertIf":      fmt.Sprintf(`upsertIf(true, '%s', 'id', {id: 'c', n: 4})`, tb),
		"upsertMany":    fmt.Sprintf(`upsertMany('%s', 'id', [{id: 'd', n: 5}])`, tb),
		"findValue":     fmt.Sprintf(`findValue({uuid: 'id', relation: '%s', where: {n: 1}})`, tb),
		"describeTable": fmt.Sprintf(`describeTable('%s')`, tb),
	}
	failing := map[string]string{
		"sql":    `sql('SELECT * FROM no_such_table_anywhere')`,
		"insert": `insert('no_such_table_anywhere', {id: 'a'})`,
	}
	for _, compat := range []config.Compat{config.CompatLightning, config.CompatLegacy} {
		setup := create // each profile starts from an empty table
		for name, op := range ops {
			body := setup + fmt.Sprintf(`
fn(state => {
  const r = %s(state);
  if (!r || typeof r.then !== 'function') return { ...state, how: 'not a thenable' };
  return r.then(() => ({ ...state, how: 'then' }), e => ({ ...state, how: 'catch: ' + e.message }));
});`, op)
			out := run(t, body, runOpt{compat: compat})
			if out.state["how"] != "then" {
				t.Errorf("%s/%s: %v (%+v)", compat, name, out.state["how"], out.res.Error)
			}
			setup = "" // the table exists now
		}
		for name, op := range failing {
			out := run(t, fmt.Sprintf(`fn(async state => {
  try { await %s(state); return { ...state, how: 'resolved' }; }
  catch (e) { return { ...state, how: 'rejected' }; }
});`, op), runOpt{compat: compat})
			if out.state["how"] != "rejected" {
				t.Errorf("%s/%s failing: %v (%+v)", compat, name, out.state["how"], out.res.Error)
			}
		}
	}
}
