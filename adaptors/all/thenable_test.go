package all_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	_ "github.com/jobmediator/jobmediator/adaptors/all"
	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/runtime"
)

// Jobs call operations directly and chain on the result:
// `post(url, body)(state).then(…)`, `.catch(e => …)`, `await get(…)(state)`.
// In OpenFn every operation that talks to a system is an async function (or
// returns a promise chain), so this works with every adaptor. These tests
// call each such operation of each adaptor that way, against an upstream
// that either answers or fails, under both profiles.

// upstream answers every request with a body that satisfies the operations'
// success paths; with fail set, everything but Primero's login answers 500.
func upstream(t *testing.T, fail *atomic.Bool) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		// Primero's login runs before the job's operations (its execute);
		// OSCaR signs in inside each operation, so it may fail too.
		login := strings.HasSuffix(r.URL.Path, "/api/v2/tokens") || strings.HasSuffix(r.URL.Path, "/api/login") ||
			(strings.HasSuffix(r.URL.Path, "/admin_auth/sign_in") && !fail.Load())
		if login {
			w.Header().Set("access-token", "tok")
			w.Header().Set("client", "cli")
			w.Header().Set("uid", "u@x.org")
			_, _ = w.Write([]byte(`{"token":"t","data":{"id":1}}`))
			return
		}
		if fail.Load() {
			w.WriteHeader(500)
			_, _ = w.Write([]byte(`{"message":"upstream down"}`))
			return
		}
		_, _ = w.Write([]byte(`{"data":[],"metadata":{"total":0},"resourceType":"Bundle","type":"searchset","entry":[],` +
			`"id":"x1","status":"OK","response":{"status":"OK","importSummaries":[]},"clients":[],"organizations":[],"trackedEntityInstances":[],"dataValues":[],"dataElements":[]}`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

type opCase struct {
	adaptor string
	conf    func(url string) map[string]any
	ops     []string // operation expressions, applied to state by the job
	// syncErr lists operations whose failure in the reference is thrown
	// before a promise exists; none here, they are tested separately.
}

func cases() []opCase {
	httpConf := func(u string) map[string]any { return map[string]any{"baseUrl": u, "username": "u", "password": "p"} }
	primeroConf := func(u string) map[string]any { return map[string]any{"url": u, "user": "u", "password": "p"} }
	dhis2Conf := func(u string) map[string]any { return map[string]any{"hostUrl": u, "username": "u", "password": "p"} }
	fhirConf := func(u string) map[string]any { return map[string]any{"baseUrl": u, "apiPath": ""} }
	oscarConf := func(u string) map[string]any {
		return map[string]any{"baseUrl": u, "username": "u@x.org", "password": "p"}
	}
	legacyHTTP := []string{`get('/a')`, `post('/a', {body: {x: 1}})`, `put('/a', {body: {x: 1}})`, `patch('/a', {body: {x: 1}})`,
		`del('/a')`, `post('/a', {body: {x: 1}}, s => s)`, `request({method: 'GET', url: state.configuration.baseUrl + '/a'})`}
	return []opCase{
		{"@openfn/language-http@4.2.0", httpConf, legacyHTTP},
		{"@openfn/language-http@5.0.4", httpConf, legacyHTTP},
		{"@openfn/language-http@6.5.1", httpConf, []string{`get('/a')`, `post('/a', {body: {x: 1}})`, `put('/a', {body: {}})`,
			`patch('/a', {body: {}})`, `del('/a')`, `request('GET', '/a', {}, s => s)`}},
		{"@openfn/language-http@7.3.2", httpConf, []string{`get('/a')`, `post('/a', {x: 1})`, `put('/a', {x: 1})`,
			`patch('/a', {x: 1})`, `del('/a')`, `request('GET', '/a')`}},
		{"@openfn/language-primero@2.12.4", primeroConf, []string{`getCases({remote: true})`, `getCase('r1')`,
			`createCase({data: {name: 'n'}})`, `updateCase('r1', {data: {name: 'n'}})`,
			`upsertCase({externalIds: ['case_id'], data: {case_id: 'c1'}})`, `getReferrals({externalId: 'record_id', id: 'r1'})`,
			`updateReferral({caseExternalId: 'record_id', caseId: 'r1', id: 'f1', data: {}})`, `getForms()`, `getLookups()`, `getLocations()`}},
		{"@openfn/language-primero@4.1.2", primeroConf, []string{`http.get('cases')`, `http.post('cases', {name: 'n'})`,
			`http.patch('cases/x1', {name: 'n'})`, `getCases({remote: true})`}},
		{"@openfn/language-primero@1.2.0", primeroConf, []string{`getCases({remote: true})`, `createCase({data: {child: {}}})`,
			`updateCase('x1', {data: {child: {}}})`}},
		{"@openfn/language-dhis2@8.2.1", dhis2Conf, []string{`create('trackedEntities', {})`, `get('dataElements')`,
			`update('dataElements', 'x1', {})`, `upsert('dataElements', {name: 'n'}, {name: 'n'})`, `destroy('dataElements', 'x1')`,
			`getAll('dataElements')`, `tracker.export('trackedEntities', {})`, `tracker.import('CREATE_AND_UPDATE', {})`,
			`http.get('dataElements')`, `http.post('dataElements', {})`, `http.patch('dataElements', 'x1', {})`, `http.request('GET', 'dataElements')`}},
		{"@openfn/language-dhis2@3.2.0", dhis2Conf, []string{`create('events', {})`, `get('dataElements', {})`,
			`update('dataElements', 'x1', {})`, `patch('dataElements', 'x1', {})`, `destroy('dataElements', 'x1')`,
			`dataValueSet({dataValues: []})`, `event({})`, `createTEI({})`, `enrollTEI({})`}},
		{"@openfn/language-fhir@5.1.2", fhirConf, []string{`get('Patient', {})`, `post('Patient', {})`, `create('Patient', {})`,
			`createTransactionBundle([])`, `request('GET', 'Patient')`, `getClaim('c1')`}},
		{"@openfn/language-fhir-4@0.5.0", fhirConf, []string{`read('Patient/p1')`, `search('Patient', {})`,
			`create({resourceType: 'Patient'})`, `update('Patient/p1', {resourceType: 'Patient', id: 'p1'})`, `globalThis['delete']('Patient/p1')`,
			`uploadBundle({resourceType: 'Bundle', type: 'transaction', entry: []})`}},
		{"@openfn/language-oscar@1.0.0", oscarConf, []string{`signIn()`, `getClients({since_date: '2025-01-01 00:00:00'})`,
			`upsertClient({organization: {organization_name: 'cif', external_id: 'c1'}})`, `updateStatuses([{id: 1}])`, `updateLinks([{id: 1}])`, `getOrganizations()`}},
	}
}

// job applies op to state directly, in each idiom, and records what came
// back: a thenable or not, and which of .then/.catch/await saw it.
// alterState, because every adaptor and major has it (primero 1.x has no fn).
func job(op string) string {
	return fmt.Sprintf(`alterState(state => {
  const r = %[1]s(state);
  const thenable = !!r && typeof r.then === 'function' && typeof r.catch === 'function';
  if (!thenable) return { ...state, outcome: 'not a thenable' };
  return r.then(next => ({ ...state, outcome: 'then', hasData: 'data' in next }), e => ({ ...state, outcome: 'catch', error: e.message }));
});
alterState(async state => {
  try {
    await %[1]s(state);
    return { ...state, awaited: 'resolved' };
  } catch (e) {
    return { ...state, awaited: 'rejected' };
  }
});`, op)
}

func TestOperationsAreThenables(t *testing.T) {
	var fail atomic.Bool
	u := upstream(t, &fail)
	engine := runtime.New(runtime.Options{})
	for _, c := range cases() {
		for _, op := range c.ops {
			for _, compat := range []config.Compat{config.CompatLightning, config.CompatLegacy} {
				for _, failing := range []bool{false, true} {
					name := fmt.Sprintf("%s/%s/%s/fail=%v", c.adaptor, op, compat, failing)
					fail.Store(failing)
					red := redact.New()
					client := recorder.NewClient(nil, recorder.NewRecorder(red))
					conf := c.conf(u)
					res := engine.RunJob(context.Background(), &config.Job{Key: "step", Adaptor: c.adaptor, Body: job(op), Credential: "c"},
						compat, []byte(`{"data":{}}`), runtime.RunRequest{HTTP: client, Redactor: red,
							Credential: func(string) (map[string]any, bool) { return conf, true }})
					if res.Error != nil {
						t.Errorf("%s: run failed: %+v", name, res.Error)
						continue
					}
					var st map[string]any
					_ = json.Unmarshal(res.State, &st)
					want, wantAwait := "then", "resolved"
					if failing {
						want, wantAwait = "catch", "rejected"
					}
					if st["outcome"] != want || st["awaited"] != wantAwait {
						t.Errorf("%s: outcome %v (error %v), await %v; want %s, %s", name, st["outcome"], st["error"], st["awaited"], want, wantAwait)
					}
				}
			}
		}
	}
}

// In language-http ≥6 the URL check runs before the request's promise
// exists (util.request: assertUrl, then `return commonRequest(…).then(…)`),
// so a relative URL without configuration.baseUrl throws synchronously: a
// try/catch around the call sees it, a .catch on the result never does.
// In ≤5 everything is inside the promise chain, so .catch sees it.
func TestHTTPURLCheckIsSynchronousFrom6(t *testing.T) {
	engine := runtime.New(runtime.Options{})
	body := `fn(state => {
  try {
    return get('/relative')(state).then(() => ({ ...state, how: 'resolved' }), e => ({ ...state, how: 'rejected' }));
  } catch (e) {
    return { ...state, how: 'thrown', code: e.code };
  }
});`
	for adaptor, want := range map[string]string{
		"@openfn/language-http@7.3.2": "thrown", "@openfn/language-http@6.5.1": "thrown", "@openfn/language-http@5.0.4": "rejected",
	} {
		red := redact.New()
		res := engine.RunJob(context.Background(), &config.Job{Key: "step", Adaptor: adaptor, Body: body}, config.CompatLightning,
			[]byte(`{"data":{}}`), runtime.RunRequest{HTTP: recorder.NewClient(nil, recorder.NewRecorder(red)), Redactor: red})
		var st map[string]any
		_ = json.Unmarshal(res.State, &st)
		if st["how"] != want {
			t.Errorf("%s: %v (%+v), want %s", adaptor, st["how"], res.Error, want)
		}
		if want == "thrown" && st["code"] != "UNEXPECTED_RELATIVE_URL" {
			t.Errorf("%s: code %v", adaptor, st["code"])
		}
	}
}
