package console

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jobmediator/jobmediator/internal/apijson"

	"github.com/jobmediator/jobmediator/store"
)

// runQuery is the runs filter shared by the runs page and the exports.
// Workflow, status, transaction and time range go to the store; trigger
// and text in logs are checked here, run by run.
type runQuery struct {
	Workflow, Status, Trigger, Transaction, Text string
	Since, Until                                 string // as typed (datetime-local or RFC 3339)
	Before                                       string
	Limit                                        int
	since, until                                 time.Time
}

const (
	pageSize = 50
	// maxScan bounds how many runs a trigger or log-text filter reads for
	// one page, so a rare match cannot make a page read the whole history.
	maxScan = 5000
)

func parseRunQuery(q url.Values) (runQuery, error) {
	rq := runQuery{Workflow: q.Get("workflow"), Status: q.Get("status"), Trigger: q.Get("trigger"),
		Transaction: strings.TrimSpace(q.Get("transaction")), Text: strings.TrimSpace(q.Get("q")),
		Since: q.Get("since"), Until: q.Get("until"), Before: q.Get("before"), Limit: pageSize}
	if rq.Status != "" && !runStatuses[rq.Status] {
		return rq, fmt.Errorf("status %q is not one of pending, running, success, failed, crashed", rq.Status)
	}
	var err error
	if rq.since, err = parseTime(rq.Since); err != nil {
		return rq, fmt.Errorf("since: %v", err)
	}
	if rq.until, err = parseTime(rq.Until); err != nil {
		return rq, fmt.Errorf("until: %v", err)
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return rq, fmt.Errorf("limit %q must be a number from 1 to 1000", s)
		}
		rq.Limit = n
	}
	return rq, nil
}

// parseTime reads RFC 3339 or the browser's datetime-local (taken as UTC).
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date and time (2026-01-31T08:00)", s)
}

// Values is the query as URL parameters (without paging).
func (rq runQuery) Values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"workflow": rq.Workflow, "status": rq.Status, "trigger": rq.Trigger,
		"transaction": rq.Transaction, "q": rq.Text, "since": rq.Since, "until": rq.Until} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

func (rq runQuery) filter() store.RunFilter {
	return store.RunFilter{Workflow: rq.Workflow, Status: store.RunStatus(rq.Status), TransactionID: rq.Transaction,
		Since: rq.since, Until: rq.until}
}

// scan walks matching runs newest first, from rq.Before, calling fn until
// it returns false. Runs come as stored: fn scrubs what it shows. It reports whether the history was read to its end and
// how many runs the local filters looked at.
func (c *Console) scan(ctx context.Context, rq runQuery, scanLimit int, fn func(*store.Run) (bool, error)) (done bool, scanned int, err error) {
	f := rq.filter()
	f.Before, f.Limit = rq.Before, 200
	for {
		runs, err := c.o.Store.ListRuns(ctx, f)
		if err != nil {
			return false, scanned, err
		}
		for _, run := range runs {
			scanned++
			ok, err := c.matches(ctx, rq, run)
			if err != nil {
				return false, scanned, err
			}
			if ok {
				more, err := fn(run)
				if err != nil || !more {
					return false, scanned, err
				}
			}
			if scanLimit > 0 && scanned >= scanLimit {
				return false, scanned, nil
			}
		}
		if len(runs) < f.Limit {
			return true, scanned, nil
		}
		f.Before = runs[len(runs)-1].ID
	}
}

func (c *Console) matches(ctx context.Context, rq runQuery, run *store.Run) (bool, error) {
	if rq.Trigger != "" && run.Trigger != rq.Trigger {
		return false, nil
	}
	if rq.Text == "" {
		return true, nil
	}
	lines, err := c.o.Store.Logs(ctx, run.ID)
	if err != nil {
		return false, err
	}
	needle := strings.ToLower(rq.Text)
	for _, l := range lines {
		if strings.Contains(strings.ToLower(l.Message), needle) {
			return true, nil
		}
	}
	return false, nil
}

// scrub applies the redactor once more on the way out (a record may
// predate a newly configured secret).
func (c *Console) scrub(run *store.Run) {
	red := c.o.Redactor
	run.Input, run.Output = red.JSON(run.Input), red.JSON(run.Output)
	run.Error = red.String(run.Error)
	for i := range run.Steps {
		run.Steps[i].Output = red.JSON(run.Steps[i].Output)
		run.Steps[i].Error = red.String(run.Steps[i].Error)
	}
}

// export streams the runs matching the query as CSV or NDJSON, page by
// page from the store, flushing as it goes (never the whole set in memory).
func (c *Console) export(w http.ResponseWriter, r *http.Request) {
	c.streamExport(w, r, "runs", func(ctx context.Context, run *store.Run, emit func(row []string, obj any) error) error {
		return emit([]string{run.ID, run.Workflow, run.Trigger, string(run.Status), ts(run.Started), ts(run.Finished),
			run.TransactionID, strconv.Itoa(run.Orchestrations), run.Error}, run)
	}, []string{"id", "workflow", "trigger", "status", "started", "finished", "transaction_id", "orchestrations", "error"})
}

// exportLogs streams the log lines of the matching runs.
func (c *Console) exportLogs(w http.ResponseWriter, r *http.Request) {
	type line struct {
		Run      string `json:"run"`
		Workflow string `json:"workflow"`
		store.LogLine
	}
	c.streamExport(w, r, "logs", func(ctx context.Context, run *store.Run, emit func(row []string, obj any) error) error {
		lines, err := c.o.Store.Logs(ctx, run.ID)
		if err != nil {
			return err
		}
		for _, l := range lines {
			l.Message = c.o.Redactor.String(l.Message)
			if err := emit([]string{run.ID, run.Workflow, ts(l.Time), l.Level, l.Step, l.Message}, line{run.ID, run.Workflow, l}); err != nil {
				return err
			}
		}
		return nil
	}, []string{"run", "workflow", "time", "level", "step", "message"})
}

func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func (c *Console) streamExport(w http.ResponseWriter, r *http.Request, what string,
	each func(ctx context.Context, run *store.Run, emit func(row []string, obj any) error) error, header []string) {
	q := r.URL.Query()
	if what == "runs" && q.Get("what") == "logs" {
		c.exportLogs(w, r)
		return
	}
	format := q.Get("format")
	if format == "" {
		format = "csv"
	}
	if format != "csv" && format != "ndjson" {
		apijson.Error(w, http.StatusBadRequest, "format must be csv or ndjson")
		return
	}
	rq, err := parseRunQuery(q)
	if err != nil {
		apijson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	rq.Before = ""
	name := fmt.Sprintf("jobmediator-%s-%s.%s", what, c.now().Format("20060102-150405"), format)
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/x-ndjson")
	}
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	flusher, _ := w.(http.Flusher)
	cw := csv.NewWriter(w)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if format == "csv" {
		cw.Write(header)
	}
	emit := func(row []string, obj any) error {
		if format == "csv" {
			for i, cell := range row {
				row[i] = csvSafe(cell)
			}
			return cw.Write(row)
		}
		return enc.Encode(obj)
	}
	n := 0
	_, _, err = c.scan(r.Context(), rq, 0, func(run *store.Run) (bool, error) {
		c.scrub(run)
		if err := each(r.Context(), run, emit); err != nil {
			return false, err
		}
		n++
		if n%100 == 0 {
			cw.Flush()
			if flusher != nil {
				flusher.Flush()
			}
		}
		return true, nil
	})
	cw.Flush()
	if err != nil && !errors.Is(err, context.Canceled) {
		// Headers are gone; the truncated body ends with the reason.
		c.o.Logger.WithError(err).Warn("console: export cut short")
		if format == "ndjson" {
			enc.Encode(map[string]any{"error": c.o.Redactor.String(err.Error())})
		} else {
			cw.Write([]string{"#error", c.o.Redactor.String(err.Error())})
			cw.Flush()
		}
	}
}

// csvSafe defuses cells a spreadsheet would run as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

var runStatuses = map[string]bool{"pending": true, "running": true, "success": true, "failed": true, "crashed": true}
