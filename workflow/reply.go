package workflow

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"

	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/jsonvalue"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/mediator"
	"github.com/jobmediator/jobmediator/runtime"
)

// outcome maps a run result onto the client reply and transaction status.
//
// The mapping (architecture.md, "Status mapping is explicit"):
//   - success → 200 (or the response mode's status), Successful;
//   - an upstream refused the data (4xx) or the job rejected it (a thrown
//     error, a TypeError) → 4xx, Completed, no `error`: a retry cannot help,
//     so OpenHIM must not auto-retry (ecosystem.md §2 #1);
//   - upstream 5xx/429, timeouts and connection failures → 502/504, Failed,
//     with `error` so OpenHIM's auto-retry (and our own queue) may act;
//   - the job itself is broken (syntax, ReferenceError, its own code still
//     running at the deadline, state too large) → 500, Failed, without
//     `error`: it needs a person, not a retry. (A deadline that cuts off a
//     call to an upstream is a transport timeout, above.)
func outcome(res *runtime.Result, wf *config.Workflow, runID string, exchanges []recorder.Exchange, red *redact.Redactor) Reply {
	if res.Status == runtime.StatusSuccess {
		return successReply(res, wf, exchanges, red)
	}
	e := res.Error
	if e == nil {
		e = &runtime.Error{Name: "Error", Message: "the run failed without an error message"}
	}
	e.Message = red.String(e.Message)
	switch {
	case e.Transient():
		status := http.StatusBadGateway
		if e.Code == "ETIMEDOUT" {
			status = http.StatusGatewayTimeout
		}
		rp := ErrorReply(status, runID, wf.Key, e, mediator.StatusFailed, red)
		rp.Err = &mediator.Error{Message: e.Message}
		return rp
	case e.StatusCode >= 400 && e.StatusCode < 500:
		status := e.StatusCode
		// An upstream 401/403 means our credential is wrong, not the
		// client's: answering 401 would send them hunting for the wrong bug.
		if status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusProxyAuthRequired {
			status = http.StatusBadGateway
		}
		return ErrorReply(status, runID, wf.Key, e, mediator.StatusCompleted, red)
	case e.Severity == "fail" || e.Severity == "":
		return ErrorReply(http.StatusUnprocessableEntity, runID, wf.Key, e, mediator.StatusCompleted, red)
	default: // crash, kill
		return ErrorReply(http.StatusInternalServerError, runID, wf.Key, e, mediator.StatusFailed, red)
	}
}

// ErrorReply describes a failed run. The error's details can hold an
// upstream's response (which may echo our credentials), so the whole body
// goes through the run's redactor.
func ErrorReply(status int, runID, workflow string, e *runtime.Error, envStatus string, red *redact.Redactor) Reply {
	body, _ := json.Marshal(map[string]any{"error": e, "run_id": runID, "workflow": workflow})
	if red != nil {
		body = red.JSON(body)
	}
	return Reply{Status: status, Body: body, ContentType: "application/json", EnvStatus: envStatus}
}

// successReply scrubs known secret values (credential fields) from what the
// client gets, but keeps the job's data keys as they are: the answer is the
// job's product, and a field named "token" may be exactly what it is for.
func successReply(res *runtime.Result, wf *config.Workflow, exchanges []recorder.Exchange, red *redact.Redactor) Reply {
	rp := Reply{Status: http.StatusOK, ContentType: "application/json", EnvStatus: mediator.StatusSuccessful}
	// The state is read as text, not decoded into maps: the answer keeps
	// the job's key order, and a multi-megabyte state costs milliseconds.
	switch wf.Options.Response {
	case config.ResponseNoContent:
		rp.Status = http.StatusNoContent
	case config.ResponseState:
		// The legacy profile keeps configuration in final state; it never
		// leaves the mediator.
		state := jsonvalue.WithoutKey(res.State, "configuration")
		if len(state) == 0 {
			state = json.RawMessage("null")
		}
		rp.Body = []byte(red.String(string(state)))
	case config.ResponseUpstream:
		for i := len(exchanges) - 1; i >= 0; i-- {
			if r := exchanges[i].Response; r != nil {
				rp.Status = r.Status
				rp.Body = []byte(r.Body)
				if ct := r.Header.Get("Content-Type"); ct != "" {
					rp.ContentType = ct
				}
				break
			}
		}
	default: // data
		data, ok := jsonvalue.Field(res.State, "data")
		if !ok {
			data = json.RawMessage("null")
		}
		var s string
		if len(data) > 0 && data[0] == '"' && json.Unmarshal(data, &s) == nil &&
			!strings.HasPrefix(strings.TrimSpace(s), "{") && !strings.HasPrefix(strings.TrimSpace(s), "[") {
			rp.ContentType = "text/plain; charset=utf-8"
			rp.Body = []byte(red.String(s))
		} else {
			rp.Body = []byte(red.String(string(data)))
		}
	}
	return rp
}

// Reply is what the client (through OpenHIM) gets.
type Reply struct {
	Status      int
	Body        []byte
	ContentType string
	EnvStatus   string          // the transaction status OpenHIM records
	Err         *mediator.Error // sets the envelope's error (auto-retry) only for transient failures
}

// Envelope builds the OpenHIM mediator response for a reply.
func (x *Executor) Envelope(rp Reply, wf *config.Workflow, runID string, res *runtime.Result, exchanges []recorder.Exchange, tx mediator.TxContext) *mediator.Response {
	env := &mediator.Response{
		URN:    x.o.URN,
		Status: rp.EnvStatus,
		Response: mediator.ClientResponse{
			Status: rp.Status, Headers: map[string]string{"content-type": rp.ContentType},
			Body: string(rp.Body), Timestamp: x.o.Now().UTC(),
		},
		Error:      rp.Err,
		Properties: properties(wf, runID, res, tx),
	}
	for _, ex := range exchanges {
		env.Orchestrations = append(env.Orchestrations, mediator.FromExchange(ex))
	}
	return env
}

func properties(wf *config.Workflow, runID string, res *runtime.Result, tx mediator.TxContext) map[string]string {
	p := map[string]string{"workflow": wf.Key, "run_id": runID}
	if tx.Rerun() {
		p["rerun_of"] = tx.ParentID
	}
	if res == nil {
		return p
	}
	p["run_status"] = string(res.Status)
	var steps []string
	for _, s := range res.Steps {
		steps = append(steps, s.ID+": "+string(s.Status))
	}
	sort.Strings(steps)
	if len(steps) > 0 {
		p["steps"] = strings.Join(steps, ", ")
	}
	if res.Error != nil {
		p["error"] = res.Error.Message
	}
	return p
}

// Write sends the reply as an envelope for routed requests and plainly
// otherwise (openhim.md §5.5). With env nil, the envelope is built from the
// reply and props (answers that never ran a workflow).
func (x *Executor) Write(w http.ResponseWriter, tx mediator.TxContext, rp Reply, env *mediator.Response, props map[string]string) {
	if !tx.Routed() {
		if rp.ContentType != "" {
			w.Header().Set("Content-Type", rp.ContentType)
		}
		w.WriteHeader(rp.Status)
		w.Write(rp.Body)
		return
	}
	if env == nil {
		env = &mediator.Response{URN: x.o.URN, Status: rp.EnvStatus, Error: rp.Err, Properties: props,
			Response: mediator.ClientResponse{Status: rp.Status, Headers: map[string]string{"content-type": rp.ContentType},
				Body: string(rp.Body), Timestamp: x.o.Now().UTC()}}
	}
	b, ok := mediator.AppendResponse(make([]byte, 0, 512+len(env.Response.Body)), env, true)
	if !ok { // a timestamp encoding/json refuses: it says why
		var err error
		if b, err = json.Marshal(env); err != nil {
			http.Error(w, "encoding mediator response: "+err.Error(), http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set("Content-Type", mediator.ContentType)
	// The outer status is only recorded in core's own orchestration; the
	// client gets response.status.
	w.WriteHeader(rp.Status)
	w.Write(b)
}

// Reject answers a request that never reached a workflow.
func (x *Executor) Reject(w http.ResponseWriter, r *http.Request, status int, msg string) {
	tx := mediator.TxFromRequest(r)
	body, _ := json.Marshal(map[string]any{"error": map[string]any{"message": msg, "status": status}})
	x.Write(w, tx, Reply{Status: status, Body: body, ContentType: "application/json", EnvStatus: mediator.StatusCompleted}, nil, nil)
}
