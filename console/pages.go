package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/store"
)

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if p := c.authenticate(r); p != nil && p.Session != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther) //nolint:gosec // G710: safeNext only lets through paths under /console
		return
	}
	c.render(w, r, http.StatusOK, "login", view{Title: "Log in", Data: map[string]string{"Next": r.URL.Query().Get("next")}})
}

// safeNext keeps the post-login redirect inside the console.
func safeNext(next string) string {
	if strings.HasPrefix(next, "/console/") && !strings.HasPrefix(next, "//") && !strings.Contains(next, `\`) {
		return next
	}
	return "/console/"
}

func (c *Console) loginPost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	username, password := strings.TrimSpace(r.PostFormValue("username")), r.PostFormValue("password")
	next := r.PostFormValue("next")
	cookie, s, err := c.login(r.Context(), r, username, password)
	var th errThrottled
	switch {
	case errors.As(err, &th):
		w.Header().Set("Retry-After", fmt.Sprint(int(th.wait.Seconds())+1))
		c.audit(r.Context(), &principal{User: username, Addr: clientAddr(r)}, "login", username, "throttled", false)
		c.render(w, r, http.StatusTooManyRequests, "login", view{Title: "Log in", Error: "Too many failed logins. Wait a few minutes and try again.", Data: map[string]string{"Next": next}})
	case errors.Is(err, errBadLogin):
		c.audit(r.Context(), &principal{User: username, Addr: clientAddr(r)}, "login", username, "wrong username or password", false)
		c.render(w, r, http.StatusUnauthorized, "login", view{Title: "Log in", Error: "Wrong username or password.", Data: map[string]string{"Next": next}})
	case err != nil:
		c.o.Logger.WithError(err).Error("console: login failed")
		c.render(w, r, http.StatusServiceUnavailable, "login", view{Title: "Log in", Error: "The store is not answering; try again shortly.", Data: map[string]string{"Next": next}})
	default:
		c.setSessionCookie(w, r, cookie, s.Expires)
		c.audit(r.Context(), &principal{User: s.Username, Addr: s.Addr}, "login", s.Username, "", true)
		http.Redirect(w, r, safeNext(next), http.StatusSeeOther)
	}
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	p := who(r)
	if p.Session != nil {
		if err := c.o.Store.DeleteSession(r.Context(), p.Session.ID); err != nil {
			c.fail(w, r, http.StatusServiceUnavailable, "Logging out failed: the store is not answering.")
			return
		}
	}
	c.setSessionCookie(w, r, "", time.Time{})
	c.audit(r.Context(), p, "logout", p.User, "", true)
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}

// ---- dashboard ----

type hourBucket struct {
	Hour                                                                     time.Time
	Success, Failed, Crashed, Other                                          int
	Total                                                                    int
	YSuccess, YFailed, YCrashed, YOther, HSuccess, HFailed, HCrashed, HOther float64
	X                                                                        float64
}

type failing struct {
	Workflow  string
	Failed    int
	LastError string
	LastRun   string
	LastAt    time.Time
}

type tick struct {
	Workflow string
	At       time.Time
}

type dashData struct {
	Hours     []hourBucket
	Max       int
	Total     map[string]int
	Failing   []failing
	Queue     store.QueueCounts
	QueueErr  string
	Dead      []*store.Message
	OpenHIM   any
	Ticks     []tick
	Scanned   int
	Truncated bool
}

// dashboardHours is how far back the chart reaches.
const dashboardHours = 24

// runStats is the dashboard's picture of the last 24 hours of runs.
type runStats struct {
	Hours     []hourBucket
	Max       int
	Total     map[string]int
	Failing   []failing
	Scanned   int
	Truncated bool
	at        time.Time
	newest    string // the newest run when counted
}

// statsTTL bounds how long the dashboard reuses its run statistics while
// no new run has arrived: every open dashboard reloads when something
// changes, and reading a day of runs for each would load a busy store.
const statsTTL = time.Minute

// maxStatsScan bounds the runs the dashboard reads for one picture.
const maxStatsScan = 20000

func (c *Console) stats(ctx context.Context) (*runStats, error) {
	now := c.now()
	newest, err := c.newestRun(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	cached := c.cachedStats
	c.mu.Unlock()
	if cached != nil && cached.newest == newest && now.Sub(cached.at) < statsTTL &&
		now.Truncate(time.Hour).Equal(cached.Hours[len(cached.Hours)-1].Hour) {
		return cached, nil
	}
	start := now.Truncate(time.Hour).Add(-(dashboardHours - 1) * time.Hour)
	d := &runStats{Total: map[string]int{}, at: now, newest: newest}
	idx := map[int64]int{}
	for i := 0; i < dashboardHours; i++ {
		h := start.Add(time.Duration(i) * time.Hour)
		idx[h.Unix()] = i
		d.Hours = append(d.Hours, hourBucket{Hour: h})
	}
	fails := map[string]*failing{}
	done, scanned, err := c.scan(ctx, runQuery{since: start}, maxStatsScan, func(run *store.Run) (bool, error) {
		i, ok := idx[run.Started.UTC().Truncate(time.Hour).Unix()]
		if !ok {
			return true, nil
		}
		b := &d.Hours[i]
		switch run.Status {
		case store.RunSuccess:
			b.Success++
		case store.RunFailed:
			b.Failed++
		case store.RunCrashed:
			b.Crashed++
		default:
			b.Other++
		}
		b.Total++
		d.Total[string(run.Status)]++
		if run.Status == store.RunFailed || run.Status == store.RunCrashed {
			f := fails[run.Workflow]
			if f == nil {
				f = &failing{Workflow: run.Workflow, LastError: c.o.Redactor.String(run.Error), LastRun: run.ID, LastAt: run.Started}
				fails[run.Workflow] = f
			}
			f.Failed++
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	d.Scanned, d.Truncated = scanned, !done
	for _, b := range d.Hours {
		d.Max = max(d.Max, b.Total)
	}
	layoutChart(d.Hours, d.Max)
	for _, f := range fails {
		d.Failing = append(d.Failing, *f)
	}
	sort.Slice(d.Failing, func(i, j int) bool { return d.Failing[i].Failed > d.Failing[j].Failed })
	c.mu.Lock()
	c.cachedStats = d
	c.mu.Unlock()
	return d, nil
}

func (c *Console) dashboard(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	st, err := c.stats(ctx)
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "Reading run history failed: "+c.o.Redactor.String(err.Error()))
		return
	}
	d := dashData{Hours: st.Hours, Max: st.Max, Total: st.Total, Failing: st.Failing, Scanned: st.Scanned, Truncated: st.Truncated}
	if d.Queue, err = c.o.Store.CountQueue(ctx); err != nil {
		d.QueueErr = c.o.Redactor.String(err.Error())
	}
	if dead, err := c.o.Store.ListDead(ctx, 5); err == nil {
		for _, m := range dead {
			m.LastError = c.o.Redactor.String(m.LastError)
		}
		d.Dead = dead
	}
	if c.o.OpenHIM != nil {
		st := c.o.OpenHIM()
		st.LastError = c.o.Redactor.String(st.LastError)
		st.CoreURL = c.o.Redactor.URL(st.CoreURL)
		d.OpenHIM = st
	}
	for _, wf := range c.o.Project.Workflows {
		for _, t := range c.o.NextTicks(wf.Key, 1) {
			d.Ticks = append(d.Ticks, tick{wf.Key, t})
		}
	}
	sort.Slice(d.Ticks, func(i, j int) bool { return d.Ticks[i].At.Before(d.Ticks[j].At) })
	c.render(w, r, http.StatusOK, "dashboard", view{Title: "Dashboard", Nav: "dashboard", Live: true, Data: d})
}

// Chart geometry (SVG user units): 24 bars in a 720×200 plot.
const (
	chartH    = 200.0
	barW      = 24.0
	barStride = 30.0
)

// layoutChart stacks each hour's bar: success at the bottom, then failed,
// crashed, other.
func layoutChart(hours []hourBucket, maxTotal int) {
	scale := 0.0
	if maxTotal > 0 {
		scale = chartH / float64(maxTotal)
	}
	for i := range hours {
		b := &hours[i]
		b.X = float64(i) * barStride
		y := chartH
		stack := func(n int) (float64, float64) {
			h := float64(n) * scale
			y -= h
			return y, h
		}
		b.YSuccess, b.HSuccess = stack(b.Success)
		b.YFailed, b.HFailed = stack(b.Failed)
		b.YCrashed, b.HCrashed = stack(b.Crashed)
		b.YOther, b.HOther = stack(b.Other)
	}
}

// ---- runs ----

type runsData struct {
	Query      runQuery
	Runs       []*store.Run
	Next       template.URL // encoded query, built by url.Values
	Scanned    int
	Workflows  []string
	Triggers   []string
	Statuses   []string
	ExportBase template.URL
	Partial    bool
}

func (c *Console) runsPage(w http.ResponseWriter, r *http.Request) {
	rq, err := parseRunQuery(r.URL.Query())
	d := runsData{Query: rq, Workflows: c.workflowKeys(), Statuses: []string{"success", "failed", "crashed", "running", "pending"},
		Triggers: c.triggerNames()}
	d.ExportBase = template.URL(rq.Values().Encode()) //nolint:gosec // G203: url.Values.Encode escapes every key and value
	if err != nil {
		c.render(w, r, http.StatusBadRequest, "runs", view{Title: "Runs", Nav: "runs", Error: err.Error(), Data: d})
		return
	}
	done, scanned, err := c.scan(r.Context(), rq, maxScan, func(run *store.Run) (bool, error) {
		c.scrub(run)
		d.Runs = append(d.Runs, run)
		return len(d.Runs) < rq.Limit, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		c.render(w, r, http.StatusBadRequest, "runs", view{Title: "Runs", Nav: "runs", Error: "The page you asked for starts at a run that no longer exists.", Data: d})
		return
	}
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "Reading run history failed: "+c.o.Redactor.String(err.Error()))
		return
	}
	d.Scanned = scanned
	if len(d.Runs) == rq.Limit && !done {
		v := rq.Values()
		v.Set("before", d.Runs[len(d.Runs)-1].ID)
		d.Next = template.URL(v.Encode()) //nolint:gosec // G203: url.Values.Encode escapes every key and value
	}
	d.Partial = !done && len(d.Runs) < rq.Limit
	c.render(w, r, http.StatusOK, "runs", view{Title: "Runs", Nav: "runs", Live: rq.Before == "", Data: d})
}

// triggerNames are the values a run's trigger takes: a request's (and its
// retries') trigger key from the project, else cron, polling or manual.
func (c *Console) triggerNames() []string {
	seen := map[string]bool{"cron": true, "polling": true, "manual": true}
	out := []string{"cron", "polling", "manual"}
	for _, wf := range c.o.Project.Workflows {
		for _, tr := range wf.Triggers {
			if tr.Type != config.TriggerCron && !seen[tr.Key] {
				seen[tr.Key] = true
				out = append(out, tr.Key)
			}
		}
	}
	sort.Strings(out)
	return out
}

func (c *Console) workflowKeys() []string {
	var out []string
	for _, wf := range c.o.Project.Workflows {
		out = append(out, wf.Key)
	}
	return out
}

type runData struct {
	Run            *store.Run
	Logs           []store.LogLine
	Orchestrations []store.Orchestration
	TxLink         string
	Related        []*store.Run
	Retryable      bool
	Message        *store.Message
}

func (c *Console) runPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := mux.Vars(r)["id"]
	run, err := c.o.Store.GetRun(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		c.fail(w, r, http.StatusNotFound, "There is no run "+id+" (it may have been culled by the retention settings).")
		return
	}
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "Reading the run failed: "+c.o.Redactor.String(err.Error()))
		return
	}
	c.scrub(run)
	d := runData{Run: run, Retryable: run.Status == store.RunFailed || run.Status == store.RunCrashed}
	if d.Logs, err = c.o.Store.Logs(ctx, id); err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "Reading the run's log failed: "+c.o.Redactor.String(err.Error()))
		return
	}
	for i := range d.Logs {
		d.Logs[i].Message = c.o.Redactor.String(d.Logs[i].Message)
	}
	if d.Orchestrations, err = c.o.Store.Orchestrations(ctx, id); err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "Reading the run's orchestrations failed: "+c.o.Redactor.String(err.Error()))
		return
	}
	for i := range d.Orchestrations {
		o := &d.Orchestrations[i]
		o.URL, o.Error = c.o.Redactor.URL(o.URL), c.o.Redactor.String(o.Error)
		o.RequestBody, o.ResponseBody = c.o.Redactor.String(o.RequestBody), c.o.Redactor.String(o.ResponseBody)
		o.RequestHeaders, o.ResponseHeaders = c.o.Redactor.HeaderMap(o.RequestHeaders), c.o.Redactor.HeaderMap(o.ResponseHeaders)
	}
	if run.TransactionID != "" {
		if c.o.OpenHIMConsoleURL != "" {
			d.TxLink = strings.TrimRight(c.o.OpenHIMConsoleURL, "/") + "/#!/transactions/" + url.PathEscape(run.TransactionID)
		}
		// Reruns in OpenHIM carry the original as their parent.
		d.Related, _ = c.o.Store.ListRuns(ctx, store.RunFilter{ParentID: run.TransactionID, Limit: 20})
		for _, rr := range d.Related {
			c.scrub(rr)
		}
	}
	if run.MessageID != "" {
		if m, err := c.o.Store.GetMessage(ctx, run.MessageID); err == nil {
			m.Payload = nil
			m.LastError = c.o.Redactor.String(m.LastError)
			d.Message = m
		}
	}
	c.render(w, r, http.StatusOK, "run", view{Title: "Run " + id, Nav: "runs", Data: d})
}

// retryRun runs a failed run again: a dead letter behind it goes back to
// the queue (its original payload is replayed); otherwise the workflow runs
// now with the run's recorded input as its initial state.
func (c *Console) retryRun(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := mux.Vars(r)["id"]
	run, err := c.o.Store.GetRun(ctx, id)
	if err != nil {
		c.fail(w, r, http.StatusNotFound, "There is no run "+id+".")
		return
	}
	if run.MessageID != "" {
		if m, err := c.o.Store.GetMessage(ctx, run.MessageID); err == nil && m.Status == store.MsgDead {
			err := c.o.Store.Requeue(ctx, m.ID)
			c.audit(ctx, who(r), "run.retry", id, "dead letter "+m.ID+" requeued", err == nil)
			if err != nil {
				c.fail(w, r, http.StatusConflict, "Requeueing failed: "+c.o.Redactor.String(err.Error()))
				return
			}
			redirect(w, r, "/console/runs?workflow="+url.QueryEscape(run.Workflow), "Retry of run "+id+" queued; the new run appears here when it finishes.")
			return
		}
	}
	var state json.RawMessage
	if len(run.Input) > 0 {
		state = run.Input
	}
	c.startRun(w, r, run.Workflow, state, "run.retry", id)
}

// startRun runs a workflow from the console: it waits up to ManualWait and
// shows the run, or sends the browser to the live runs list if it takes
// longer. The run goes on regardless of the browser.
func (c *Console) startRun(w http.ResponseWriter, r *http.Request, workflow string, state json.RawMessage, action, target string) {
	if c.o.Ops == nil {
		c.fail(w, r, http.StatusServiceUnavailable, "Running workflows is not available here.")
		return
	}
	p := who(r)
	type result struct {
		out RunOutcome
		err error
	}
	done := make(chan result, 1)
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		ctx := context.WithoutCancel(r.Context())
		out, err := c.o.Ops.RunNow(ctx, workflow, state)
		detail := "workflow " + workflow
		if err == nil {
			detail += ": run " + out.RunID + " " + out.Status
		} else {
			detail += ": " + err.Error()
		}
		c.audit(ctx, p, action, target, detail, err == nil)
		done <- result{out, err}
	}()
	select {
	case res := <-done:
		if res.err != nil {
			c.fail(w, r, http.StatusConflict, "The run did not start: "+c.o.Redactor.String(res.err.Error()))
			return
		}
		redirect(w, r, "/console/runs/"+url.PathEscape(res.out.RunID), "Run finished: "+res.out.Status+".")
	case <-time.After(c.o.ManualWait):
		redirect(w, r, "/console/runs?workflow="+url.QueryEscape(workflow), "The run is still going; it appears here when it finishes.")
	}
}

// ---- workflows ----

type wfSummary struct {
	WF     *config.Workflow
	Paused bool
	Next   []time.Time
	Last   *store.Run
}

func (c *Console) workflowsPage(w http.ResponseWriter, r *http.Request) {
	var list []wfSummary
	for _, wf := range c.o.Project.Workflows {
		s := wfSummary{WF: wf, Paused: c.Paused(wf.Key), Next: c.o.NextTicks(wf.Key, 1)}
		if runs, err := c.o.Store.ListRuns(r.Context(), store.RunFilter{Workflow: wf.Key, Limit: 1}); err == nil && len(runs) > 0 {
			s.Last = runs[0]
		}
		list = append(list, s)
	}
	c.render(w, r, http.StatusOK, "workflows", view{Title: "Workflows", Nav: "workflows", Data: list})
}

type wfData struct {
	wfSummary
	Steps   []stepView
	Edges   []*config.Edge
	Cursors map[string]*store.Cursor
	Input   string
	Runs    []*store.Run
}

type stepView struct {
	Job     *config.Job
	X, Y    float64
	Targets []string
}

func (c *Console) workflowPage(w http.ResponseWriter, r *http.Request) {
	wf := c.o.Project.Workflow(mux.Vars(r)["key"])
	if wf == nil {
		c.fail(w, r, http.StatusNotFound, "There is no workflow "+mux.Vars(r)["key"]+" in this project.")
		return
	}
	d := wfData{wfSummary: wfSummary{WF: wf, Paused: c.Paused(wf.Key), Next: c.o.NextTicks(wf.Key, 5)},
		Edges: wf.Edges, Cursors: map[string]*store.Cursor{}, Input: "{\n  \"data\": {}\n}"}
	for i, j := range wf.Jobs {
		sv := stepView{Job: j, X: 10, Y: float64(i)*60 + 10}
		for _, e := range wf.Edges {
			if e.SourceJob == j.Key {
				sv.Targets = append(sv.Targets, e.TargetJob)
			}
		}
		d.Steps = append(d.Steps, sv)
	}
	for name, key := range c.o.CursorKeys(wf.Key) {
		if cur, err := c.o.Store.GetCursor(r.Context(), key); err == nil {
			cur.Value = c.o.Redactor.JSON(cur.Value)
			d.Cursors[name] = cur
		}
	}
	d.Runs, _ = c.o.Store.ListRuns(r.Context(), store.RunFilter{Workflow: wf.Key, Limit: 10})
	for _, run := range d.Runs {
		c.scrub(run)
	}
	c.render(w, r, http.StatusOK, "workflow", view{Title: "Workflow " + wf.Key, Nav: "workflows", Data: d})
}

// maxInput bounds the run-now input editor's body.
const maxInput = 1 << 20

func (c *Console) runWorkflow(w http.ResponseWriter, r *http.Request) {
	wf := c.o.Project.Workflow(mux.Vars(r)["key"])
	if wf == nil {
		c.fail(w, r, http.StatusNotFound, "There is no workflow "+mux.Vars(r)["key"]+".")
		return
	}
	var state json.RawMessage
	if in := strings.TrimSpace(r.PostFormValue("input")); in != "" {
		if len(in) > maxInput {
			c.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("The input is larger than %d bytes.", maxInput))
			return
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(in), &obj); err != nil {
			c.fail(w, r, http.StatusBadRequest, "The input must be a JSON object (the initial state, e.g. {\"data\": {...}}): "+err.Error())
			return
		}
		state = json.RawMessage(in)
	}
	if c.Paused(wf.Key) {
		c.fail(w, r, http.StatusConflict, "Workflow "+wf.Key+" is paused; enable it first.")
		return
	}
	c.startRun(w, r, wf.Key, state, "workflow.run", wf.Key)
}

func (c *Console) pauseWorkflow(pause bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		wf := c.o.Project.Workflow(mux.Vars(r)["key"])
		if wf == nil {
			c.fail(w, r, http.StatusNotFound, "There is no workflow "+mux.Vars(r)["key"]+".")
			return
		}
		err := c.paused.set(r.Context(), wf.Key, pause, c.now())
		action := "workflow.enable"
		if pause {
			action = "workflow.pause"
		}
		c.audit(r.Context(), who(r), action, wf.Key, "", err == nil)
		if err != nil {
			c.fail(w, r, http.StatusServiceUnavailable, "Saving the switch failed: "+c.o.Redactor.String(err.Error()))
			return
		}
		msg := "Workflow enabled."
		if pause {
			msg = "Workflow paused: its triggers are refused until it is enabled again."
		}
		redirect(w, r, "/console/workflows/"+url.PathEscape(wf.Key), msg)
	}
}

// ---- dead letters ----

type deadData struct {
	Dead      []*store.Message
	Workflow  string
	Text      string
	Workflows []string
}

// maxDead is how many dead letters the page and a bulk retry look at.
const maxDead = 1000

func (c *Console) deadMatching(ctx context.Context, workflow, text string) ([]*store.Message, error) {
	msgs, err := c.o.Store.ListDead(ctx, maxDead)
	if err != nil {
		return nil, err
	}
	var out []*store.Message
	for _, m := range msgs {
		m.Payload = nil // personal data stays in the store
		m.LastError = c.o.Redactor.String(m.LastError)
		if workflow != "" && m.Workflow != workflow {
			continue
		}
		if text != "" && !strings.Contains(strings.ToLower(m.LastError), strings.ToLower(text)) {
			continue
		}
		out = append(out, m)
	}
	return out, nil
}

func (c *Console) deadPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := deadData{Workflow: q.Get("workflow"), Text: q.Get("q"), Workflows: c.workflowKeys()}
	var err error
	if d.Dead, err = c.deadMatching(r.Context(), d.Workflow, d.Text); err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "Reading dead letters failed: "+c.o.Redactor.String(err.Error()))
		return
	}
	c.render(w, r, http.StatusOK, "dead", view{Title: "Dead letters", Nav: "dead", Live: true, Data: d})
}

func (c *Console) retryDead(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	err := c.o.Store.Requeue(r.Context(), id)
	c.audit(r.Context(), who(r), "dead.retry", id, "", err == nil)
	switch {
	case errors.Is(err, store.ErrNotFound):
		c.fail(w, r, http.StatusNotFound, "There is no message "+id+".")
	case err != nil:
		c.fail(w, r, http.StatusConflict, "Requeueing failed: "+c.o.Redactor.String(err.Error()))
	default:
		redirect(w, r, "/console/dead", "Message "+id+" is back in the queue.")
	}
}

func (c *Console) retryDeadBulk(w http.ResponseWriter, r *http.Request) {
	workflow, text := r.PostFormValue("workflow"), r.PostFormValue("q")
	msgs, err := c.deadMatching(r.Context(), workflow, text)
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "Reading dead letters failed: "+c.o.Redactor.String(err.Error()))
		return
	}
	n, failed := 0, 0
	for _, m := range msgs {
		if err := c.o.Store.Requeue(r.Context(), m.ID); err != nil {
			failed++
			continue
		}
		n++
	}
	c.audit(r.Context(), who(r), "dead.retry_bulk", workflow,
		fmt.Sprintf("filter workflow=%q text=%q: %d requeued, %d failed", workflow, text, n, failed), failed == 0)
	redirect(w, r, "/console/dead", fmt.Sprintf("%d dead letters are back in the queue (%d could not be requeued).", n, failed))
}

// ---- audit, users, settings ----

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request) {
	before := r.URL.Query().Get("before")
	entries, err := c.o.Store.ListAudit(r.Context(), store.AuditFilter{Limit: 100, Before: before})
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "Reading the audit log failed: "+c.o.Redactor.String(err.Error()))
		return
	}
	next := ""
	if len(entries) == 100 {
		next = entries[len(entries)-1].ID
	}
	c.render(w, r, http.StatusOK, "audit", view{Title: "Audit log", Nav: "audit", Data: map[string]any{"Entries": entries, "Next": next}})
}

func (c *Console) usersPage(w http.ResponseWriter, r *http.Request) {
	users, err := c.o.Store.ListUsers(r.Context())
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "Reading users failed: "+c.o.Redactor.String(err.Error()))
		return
	}
	c.render(w, r, http.StatusOK, "users", view{Title: "Users", Nav: "users", Data: users})
}

func (c *Console) createUserForm(w http.ResponseWriter, r *http.Request) {
	err := c.createUser(r, r.PostFormValue("username"), r.PostFormValue("password"), store.Role(r.PostFormValue("role")))
	if err != nil {
		c.fail(w, r, http.StatusBadRequest, "The user was not added: "+err.Error())
		return
	}
	redirect(w, r, "/console/users", "User "+r.PostFormValue("username")+" added.")
}

func (c *Console) createUser(r *http.Request, username, password string, role store.Role) error {
	username = strings.TrimSpace(username)
	err := func() error {
		if !role.Valid() {
			return fmt.Errorf("role %q: admin, operator or viewer", role)
		}
		hash, err := HashPassword(password, c.o.BcryptCost)
		if err != nil {
			return err
		}
		now := c.now()
		err = c.o.Store.CreateUser(r.Context(), &store.User{Username: username, PasswordHash: hash, Role: role, Created: now, Updated: now})
		if errors.Is(err, store.ErrDuplicate) {
			return fmt.Errorf("user %s exists already", username)
		}
		if errors.Is(err, store.ErrInvalid) {
			return errors.New(strings.TrimPrefix(err.Error(), store.ErrInvalid.Error()+": "))
		}
		return err
	}()
	c.audit(r.Context(), who(r), "user.create", username, "role "+string(role), err == nil)
	return err
}

func (c *Console) deleteUser(r *http.Request, name string) error {
	p := who(r)
	err := func() error {
		if name == p.User {
			return errors.New("you cannot remove yourself")
		}
		return c.o.Store.DeleteUser(r.Context(), name)
	}()
	c.audit(r.Context(), p, "user.delete", name, "", err == nil)
	return err
}

func (c *Console) deleteUserForm(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	if err := c.deleteUser(r, name); err != nil {
		c.fail(w, r, http.StatusBadRequest, "The user was not removed: "+err.Error())
		return
	}
	redirect(w, r, "/console/users", "User "+name+" removed.")
}

// passwordForm changes a password: your own (any role, with the current
// one), or anyone's (admin). Every session of that user ends.
func (c *Console) passwordForm(w http.ResponseWriter, r *http.Request) {
	p, name := who(r), mux.Vars(r)["name"]
	err := func() error {
		if name != p.User && !p.can(store.RoleAdmin) {
			return errors.New("only an admin may change another user's password")
		}
		u, err := c.o.Store.GetUser(r.Context(), name)
		if err != nil {
			return fmt.Errorf("no user %s", name)
		}
		if name == p.User {
			if bcryptCheck(u.PasswordHash, r.PostFormValue("current")) != nil {
				return errors.New("the current password is wrong")
			}
		}
		hash, err := HashPassword(r.PostFormValue("password"), c.o.BcryptCost)
		if err != nil {
			return err
		}
		u.PasswordHash, u.Updated = hash, c.now()
		if err := c.o.Store.UpdateUser(r.Context(), u); err != nil {
			return err
		}
		_, err = c.o.Store.DeleteUserSessions(r.Context(), name)
		return err
	}()
	c.audit(r.Context(), p, "user.password", name, "", err == nil)
	if err != nil {
		c.fail(w, r, http.StatusBadRequest, "The password was not changed: "+err.Error())
		return
	}
	if name == p.User {
		c.setSessionCookie(w, r, "", time.Time{})
		redirect(w, r, "/console/login", "Password changed; log in again.")
		return
	}
	redirect(w, r, "/console/users", "Password of "+name+" changed; their sessions ended.")
}

type sectionView struct {
	Key, Title string
	HTML       any
	Err        string
}

func (c *Console) settingsPage(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	secs := append([]Section(nil), c.sections...)
	c.mu.Unlock()
	csrf := ""
	if p := who(r); p.Session != nil {
		csrf = p.Session.CSRF
	}
	var views []sectionView
	for _, s := range secs {
		html, err := s.Render(r.Context(), csrf)
		v := sectionView{Key: s.Key, Title: s.Title, HTML: trustedHTML(html)}
		if err != nil {
			v.Err = c.o.Redactor.String(err.Error())
		}
		views = append(views, v)
	}
	c.render(w, r, http.StatusOK, "settings", view{Title: "Settings", Nav: "settings",
		Data: map[string]any{"Settings": c.o.Settings, "Sections": views}})
}

func (c *Console) settingsPost(w http.ResponseWriter, r *http.Request) {
	key := mux.Vars(r)["key"]
	c.mu.Lock()
	var sec *Section
	for i := range c.sections {
		if c.sections[i].Key == key {
			sec = &c.sections[i]
		}
	}
	c.mu.Unlock()
	if sec == nil || sec.Post == nil {
		c.fail(w, r, http.StatusNotFound, "There is no settings section "+key+".")
		return
	}
	msg, err := sec.Post(r)
	detail := msg
	if err != nil {
		detail = err.Error()
	}
	c.audit(r.Context(), who(r), "settings."+key, key, detail, err == nil)
	if err != nil {
		c.fail(w, r, http.StatusBadRequest, c.o.Redactor.String(err.Error()))
		return
	}
	redirect(w, r, "/console/settings", msg)
}
