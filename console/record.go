package console

import (
	"context"
	"net/http"
	"strings"

	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/store"
)

// RecordOrchestrations keeps a finished run's outbound calls (already
// redacted by the recorder; the store redacts again) so the run page can
// show each request and response. Call it after the run is in the history.
func (c *Console) RecordOrchestrations(ctx context.Context, runID string, ex []recorder.Exchange) {
	if runID == "" || len(ex) == 0 {
		return
	}
	if err := c.o.Store.PutOrchestrations(context.WithoutCancel(ctx), runID, Orchestrations(ex)); err != nil {
		c.o.Logger.WithError(err).WithField("run", runID).Warn("console: could not record the run's orchestrations")
	}
}

// Orchestrations turns recorded exchanges into what the store keeps.
func Orchestrations(ex []recorder.Exchange) []store.Orchestration {
	out := make([]store.Orchestration, 0, len(ex))
	for _, e := range ex {
		o := store.Orchestration{Name: e.Name, Step: e.Step, Method: e.Request.Method, URL: e.Request.URL,
			RequestHeaders: flatten(e.Request.Header), RequestBody: e.Request.Body, RequestTime: e.Request.Time, Error: e.Error}
		if e.Response != nil {
			o.Status, o.ResponseHeaders, o.ResponseBody, o.ResponseTime = e.Response.Status, flatten(e.Response.Header), e.Response.Body, e.Response.Time
		}
		out = append(out, o)
	}
	return out
}

func flatten(h http.Header) map[string]string {
	if len(h) == 0 {
		return nil
	}
	m := make(map[string]string, len(h))
	for k, v := range h {
		m[k] = strings.Join(v, ", ")
	}
	return m
}
