// Package api is the operator API under /api: start a manual run, read run
// history, cursors and dead letters, requeue a dead letter. Every route
// needs a bearer token; the console builds on these routes. The API runs
// nothing itself: manual runs are the scheduler's (given as RunManual),
// history and dead letters are read from the store.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/jobmediator/jobmediator/internal/apijson"

	"github.com/gorilla/mux"

	"github.com/jobmediator/jobmediator/channels/auth"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/runtime"
	"github.com/jobmediator/jobmediator/store"
	"github.com/jobmediator/jobmediator/workflow"
)

// ManualResult is what a manual run produced, as the API reports it.
type ManualResult struct {
	RunID         string
	TransactionID string // OpenHIM transaction, when recording is on
	Window        any    // the slice of time the run covered
	Advanced      bool   // the cursor moved
	Result        *runtime.Result
	Output        json.RawMessage // cleaned, redacted final state
}

// Options configure the API.
type Options struct {
	// Token is the bearer token, or several separated by commas while one
	// is rotated; empty disables the API (every /api route answers 404).
	Token     string
	Store     store.Store // run history, cursors, dead letters; nil answers 503
	BodyLimit int64       // bytes; 0 means 10 MiB
	// RunManual starts a manual run of a workflow from an explicit cursor
	// or initial state (at most one of them); errors are workflow.Err*.
	RunManual func(ctx context.Context, workflow string, cursor, state json.RawMessage) (*ManualResult, error)
	// CursorKeys names the store keys of a workflow's cursors, by the name
	// the API shows them under.
	CursorKeys func(workflow string) map[string]string
	// Pprof serves Go's profiler at /debug/pprof/ behind the same token
	// (JM_PPROF); off, those paths are not routed at all.
	Pprof bool
	// Authorize, when set, replaces the bearer-token check of the /api
	// routes (not pprof): the operator console admits its sessions (with
	// the CSRF token on changes) as well as the bearer tokens. It answers a
	// refused request itself and returns false.
	Authorize func(w http.ResponseWriter, r *http.Request) (*http.Request, bool)
	// Audit, when set, records every change made through the API (manual
	// runs, requeues): who and where come from the request.
	Audit func(r *http.Request, action, target, detail string, ok bool)
}

// API serves /api.
type API struct {
	x      *workflow.Executor
	o      Options
	tokens []string // several while one is rotated
}

// New prepares the API.
func New(x *workflow.Executor, o Options) *API {
	if o.BodyLimit <= 0 {
		o.BodyLimit = 10 << 20
	}
	return &API{x: x, o: o, tokens: config.SplitTokens(o.Token)}
}

// Register adds the operator API under /api.
//
//	POST /api/workflows/{key}/run   body optional: {"cursor": {...}} or {"state": {...}}
//	GET  /api/runs?workflow=&status=&limit=&before=&transaction=
//	GET  /api/runs/{id}             the run and its log lines
//	GET  /api/cursors/{workflow}    the workflow's cursors
//	GET  /api/dead?limit=           dead letters (without their payloads)
//	POST /api/dead/{id}/requeue     send a dead letter back to the queue
func (a *API) Register(r *mux.Router) {
	r.Handle("/api/dead", a.guard(a.dead)).Methods(http.MethodGet)
	r.Handle("/api/dead/{id}/requeue", a.guard(a.requeue)).Methods(http.MethodPost)
	r.Handle("/api/workflows/{key}/run", a.guard(a.run)).Methods(http.MethodPost)
	r.Handle("/api/runs", a.guard(a.runs)).Methods(http.MethodGet)
	r.Handle("/api/runs/{id}", a.guard(a.getRun)).Methods(http.MethodGet)
	r.Handle("/api/cursors/{workflow}", a.guard(a.cursors)).Methods(http.MethodGet)
	if a.o.Pprof {
		r.PathPrefix("/debug/pprof/").Handler(a.tokenGuard(servePprof))
	}
	r.PathPrefix("/api").Handler(a.guard(func(w http.ResponseWriter, req *http.Request) {
		apijson.Error(w, http.StatusNotFound, "no API route "+req.Method+" "+req.URL.Path)
	}))
}

// guard admits a request through Options.Authorize, else by bearer token.
func (a *API) guard(next http.HandlerFunc) http.Handler {
	if a.o.Authorize == nil {
		return a.tokenGuard(next)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r, ok := a.o.Authorize(w, r); ok {
			next(w, r)
		}
	})
}

func (a *API) audit(r *http.Request, action, target, detail string, ok bool) {
	if a.o.Audit != nil {
		a.o.Audit(r, action, target, detail, ok)
	}
}

// tokenGuard checks the bearer token in constant time.
func (a *API) tokenGuard(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(a.tokens) == 0 {
			apijson.Error(w, http.StatusNotFound, "the API is disabled: set an API token to enable it")
			return
		}
		got, ok := auth.BearerToken(r)
		if !ok || !auth.AnyEqual(got, a.tokens) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="jobmediator"`)
			apijson.Error(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		next(w, r)
	})
}

func (a *API) run(w http.ResponseWriter, r *http.Request) {
	key := mux.Vars(r)["key"]
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.o.BodyLimit))
	if err != nil {
		apijson.Error(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d bytes", a.o.BodyLimit))
		return
	}
	var cursor, state json.RawMessage
	if len(bytes.TrimSpace(raw)) > 0 {
		var req map[string]json.RawMessage
		if err := json.Unmarshal(raw, &req); err != nil {
			apijson.Error(w, http.StatusBadRequest, "body must be a JSON object {\"cursor\": {...}} or {\"state\": {...}}")
			return
		}
		for k := range req {
			if k != "cursor" && k != "state" {
				apijson.Error(w, http.StatusBadRequest, fmt.Sprintf("unknown field %q: use cursor or state", k))
				return
			}
		}
		cursor, state = req["cursor"], req["state"]
	}
	if a.o.RunManual == nil {
		apijson.Error(w, http.StatusServiceUnavailable, "manual runs are off")
		return
	}
	res, err := a.o.RunManual(r.Context(), key, cursor, state)
	if err != nil {
		a.audit(r, "workflow.run", key, a.x.Redactor().String(err.Error()), false)
	} else {
		detail := "run " + res.RunID
		if res.Result != nil {
			detail += " " + string(res.Result.Status)
		}
		a.audit(r, "workflow.run", key, detail, true)
	}
	switch {
	case errors.Is(err, workflow.ErrUnknownWorkflow):
		apijson.Error(w, http.StatusNotFound, err.Error())
		return
	case errors.Is(err, workflow.ErrBadInput):
		apijson.Error(w, http.StatusBadRequest, err.Error())
		return
	case errors.Is(err, workflow.ErrBusy):
		apijson.Error(w, http.StatusConflict, err.Error())
		return
	case err != nil:
		apijson.Error(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	out := map[string]any{"run_id": res.RunID, "workflow": key, "window": res.Window, "cursor_advanced": res.Advanced}
	if res.TransactionID != "" {
		out["transaction_id"] = res.TransactionID
	}
	if res.Result != nil {
		out["status"] = res.Result.Status
		if res.Result.Error != nil {
			out["error"] = res.Result.Error // redacted by the outcome mapping
		}
	}
	if len(res.Output) > 0 {
		out["output"] = res.Output
	}
	apijson.Write(w, http.StatusOK, out)
}

var runStatuses = map[store.RunStatus]bool{store.RunPending: true, store.RunRunning: true, store.RunSuccess: true, store.RunFailed: true, store.RunCrashed: true}

func (a *API) storeOK(w http.ResponseWriter) bool {
	if a.o.Store == nil {
		apijson.Error(w, http.StatusServiceUnavailable, "run history is off (no store)")
		return false
	}
	return true
}

func (a *API) runs(w http.ResponseWriter, r *http.Request) {
	if !a.storeOK(w) {
		return
	}
	q := r.URL.Query()
	f := store.RunFilter{Workflow: q.Get("workflow"), Status: store.RunStatus(q.Get("status")),
		Before: q.Get("before"), TransactionID: q.Get("transaction"), ParentID: q.Get("parent")}
	if f.Status != "" && !runStatuses[f.Status] {
		apijson.Error(w, http.StatusBadRequest, fmt.Sprintf("status %q is not one of pending, running, success, failed, crashed", f.Status))
		return
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			apijson.Error(w, http.StatusBadRequest, fmt.Sprintf("limit %q must be a number from 1 to 1000", s))
			return
		}
		f.Limit = n
	}
	runs, err := a.o.Store.ListRuns(r.Context(), f)
	if errors.Is(err, store.ErrNotFound) {
		apijson.Error(w, http.StatusBadRequest, "before names no run")
		return
	}
	if err != nil {
		apijson.Error(w, http.StatusServiceUnavailable, "reading run history: "+err.Error())
		return
	}
	for _, run := range runs {
		a.scrub(run)
	}
	if runs == nil {
		runs = []*store.Run{}
	}
	apijson.Write(w, http.StatusOK, map[string]any{"runs": runs})
}

// scrub applies the daemon's redactor once more on the way out: stored
// runs are already redacted, and this keeps it so if a record predates a
// newly configured sensitive key.
func (a *API) scrub(run *store.Run) {
	red := a.x.Redactor()
	run.Input, run.Output = red.JSON(run.Input), red.JSON(run.Output)
	run.Error = red.String(run.Error)
	for i := range run.Steps {
		run.Steps[i].Output = red.JSON(run.Steps[i].Output)
		run.Steps[i].Error = red.String(run.Steps[i].Error)
	}
}

func (a *API) getRun(w http.ResponseWriter, r *http.Request) {
	if !a.storeOK(w) {
		return
	}
	id := mux.Vars(r)["id"]
	run, err := a.o.Store.GetRun(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		apijson.Error(w, http.StatusNotFound, "no run "+id)
		return
	}
	if err != nil {
		apijson.Error(w, http.StatusServiceUnavailable, "reading run history: "+err.Error())
		return
	}
	a.scrub(run)
	logs, err := a.o.Store.Logs(r.Context(), id)
	if err != nil {
		apijson.Error(w, http.StatusServiceUnavailable, "reading run logs: "+err.Error())
		return
	}
	for i := range logs {
		logs[i].Message = a.x.Redactor().String(logs[i].Message)
	}
	if logs == nil {
		logs = []store.LogLine{}
	}
	apijson.Write(w, http.StatusOK, map[string]any{"run": run, "logs": logs})
}

// cursorView is one cursor as the API shows it.
type cursorView struct {
	Key     string          `json:"key"`
	Version int64           `json:"version"`
	Updated time.Time       `json:"updated"`
	Value   json.RawMessage `json:"value"`
}

func (a *API) cursors(w http.ResponseWriter, r *http.Request) {
	if !a.storeOK(w) {
		return
	}
	wf := a.x.Project().Workflow(mux.Vars(r)["workflow"])
	if wf == nil {
		apijson.Error(w, http.StatusNotFound, "no workflow "+mux.Vars(r)["workflow"])
		return
	}
	out := map[string]cursorView{}
	keys := map[string]string{}
	if a.o.CursorKeys != nil {
		keys = a.o.CursorKeys(wf.Key)
	}
	for name, key := range keys {
		c, err := a.o.Store.GetCursor(r.Context(), key)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			apijson.Error(w, http.StatusServiceUnavailable, "reading cursor "+key+": "+err.Error())
			return
		}
		out[name] = cursorView{Key: c.Key, Version: c.Version, Updated: c.Updated, Value: a.x.Redactor().JSON(c.Value)}
	}
	apijson.Write(w, http.StatusOK, map[string]any{"workflow": wf.Key, "cursors": out})
}

// deadView is a dead letter as the API lists it. The payload (the
// request's data, often personal data) stays in the store; the run history
// holds a redacted copy.
type deadView struct {
	ID          string    `json:"id"`
	Workflow    string    `json:"workflow"`
	Kind        string    `json:"kind"`
	Attempts    int       `json:"attempts"`
	MaxAttempts int       `json:"maxAttempts"`
	LastError   string    `json:"lastError,omitempty"`
	Created     time.Time `json:"created"`
	Died        time.Time `json:"died"`
}

func (a *API) dead(w http.ResponseWriter, r *http.Request) {
	if !a.storeOK(w) {
		return
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			apijson.Error(w, http.StatusBadRequest, "limit must be a number from 1 to 1000")
			return
		}
		limit = n
	}
	msgs, err := a.o.Store.ListDead(r.Context(), limit)
	if err != nil {
		apijson.Error(w, http.StatusServiceUnavailable, "reading dead letters: "+err.Error())
		return
	}
	out := []deadView{}
	for _, m := range msgs {
		out = append(out, deadView{ID: m.ID, Workflow: m.Workflow, Kind: string(m.Kind), Attempts: m.Attempts,
			MaxAttempts: m.MaxAttempts, LastError: a.x.Redactor().String(m.LastError), Created: m.Created, Died: m.Updated})
	}
	apijson.Write(w, http.StatusOK, map[string]any{"dead": out})
}

func (a *API) requeue(w http.ResponseWriter, r *http.Request) {
	if !a.storeOK(w) {
		return
	}
	id := mux.Vars(r)["id"]
	err := a.o.Store.Requeue(r.Context(), id)
	a.audit(r, "dead.retry", id, "", err == nil)
	switch {
	case errors.Is(err, store.ErrNotFound):
		apijson.Error(w, http.StatusNotFound, "no message "+id)
	case errors.Is(err, store.ErrConflict):
		apijson.Error(w, http.StatusConflict, err.Error())
	case err != nil:
		apijson.Error(w, http.StatusServiceUnavailable, "requeueing: "+err.Error())
	default:
		a.x.Logger().WithField("message", id).Info("dead letter requeued by an operator")
		apijson.Write(w, http.StatusOK, map[string]any{"requeued": id})
	}
}

// servePprof is net/http/pprof behind the API guard: /debug/pprof/ lists
// the profiles, /debug/pprof/profile?seconds=N is a CPU profile, heap,
// allocs, goroutine, block, mutex, trace, cmdline and symbol as usual.
func servePprof(w http.ResponseWriter, r *http.Request) {
	switch strings.TrimPrefix(r.URL.Path, "/debug/pprof/") {
	case "cmdline":
		pprof.Cmdline(w, r)
	case "profile":
		pprof.Profile(w, r)
	case "symbol":
		pprof.Symbol(w, r)
	case "trace":
		pprof.Trace(w, r)
	default:
		pprof.Index(w, r)
	}
}
