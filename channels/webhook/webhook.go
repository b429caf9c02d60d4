// Package webhook serves the workflows started by a request: routed by
// OpenHIM core (answered with the application/json+openhim envelope, one
// orchestration per outbound call) or called directly (answered plainly).
// It decodes the request into the input state, checks route auth and
// criteria, and either runs the workflow now through the workflow.Executor
// or, for async workflows, stores the work in channels/queue and answers
// 202. A transient failure of a synchronous run is queued for a retry.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/gorilla/mux"
	"github.com/sirupsen/logrus"

	"github.com/jobmediator/jobmediator/channels/auth"
	"github.com/jobmediator/jobmediator/channels/queue"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/jsoncheck"
	"github.com/jobmediator/jobmediator/internal/jsonvalue"
	"github.com/jobmediator/jobmediator/internal/service"
	"github.com/jobmediator/jobmediator/mediator"
	"github.com/jobmediator/jobmediator/store"
	"github.com/jobmediator/jobmediator/workflow"
)

// Options configure the webhook endpoints.
type Options struct {
	BodyLimit int64 // bytes; 0 means 10 MiB
	// Completer finishes async routed transactions run in memory (no
	// store); nil answers async requests synchronously.
	Completer workflow.Completer
	// RouteAuth, when set, is who may call the workflow endpoints (Basic
	// auth); OpenHIM sends the route's username/password.
	RouteAuth []config.RouteUser
	// ClientCerts is set when HTTPS asks for client certificates
	// (TLS_CLIENT_CA_FILE): a verified one is OpenHIM core on a secured
	// route, and a request without one needs the workflow's inbox.
	ClientCerts bool
	// Credential resolves the credentials the workflows' `inbox:` entries
	// name, at request time (the OpenHIM console may rotate them).
	Credential func(name string) (map[string]any, bool)
}

// Webhook serves every webhook-triggered workflow of a project on its path.
type Webhook struct {
	x      *workflow.Executor
	q      *queue.Queue
	o      Options
	guards map[string]func(http.HandlerFunc) http.Handler // by workflow key
	wg     sync.WaitGroup                                 // async runs in flight (in memory, without a store)
}

// New prepares the endpoints; q stores async work and retries.
func New(x *workflow.Executor, q *queue.Queue, o Options) *Webhook {
	if o.BodyLimit <= 0 {
		o.BodyLimit = 10 << 20
	}
	h := &Webhook{x: x, q: q, o: o, guards: map[string]func(http.HandlerFunc) http.Handler{}}
	for _, wf := range h.Webhooks() {
		h.guards[wf.Key] = auth.Guard(h.policy(wf), x.Reject)
	}
	return h
}

// policy is who may call wf's endpoint: OpenHIM core (route auth, client
// certificate), the workflow's inbox methods, at its rate limit.
func (h *Webhook) policy(wf *config.Workflow) auth.Policy {
	p := auth.Policy{RouteUsers: h.o.RouteAuth, ClientCerts: h.o.ClientCerts, Credential: h.o.Credential, BodyLimit: h.o.BodyLimit}
	for _, m := range wf.Options.Inbox {
		p.Methods = append(p.Methods, auth.Method{Type: m.Type, Credential: m.Credential, TimestampHeader: m.TimestampHeader, Tolerance: m.Tolerance})
	}
	if rl := wf.Options.RateLimit; rl.Requests > 0 {
		p.Limit = auth.NewLimiter(rl.Requests, rl.Per, rl.Burst)
	}
	return p
}

// Webhooks lists the workflows served over HTTP, in project order.
func (h *Webhook) Webhooks() []*config.Workflow {
	var out []*config.Workflow
	for _, wf := range h.x.Project().Workflows {
		if wf.ServedOverHTTP() {
			out = append(out, wf)
		}
	}
	return out
}

// Register adds one route per webhook workflow, plus JSON (or envelope)
// answers for unknown paths and wrong methods. Routes registered before
// (the schedule's polling and rerun routes) win over these.
func (h *Webhook) Register(r *mux.Router) {
	for _, wf := range h.Webhooks() {
		wf := wf
		methods := wf.Options.Methods
		if len(methods) == 0 {
			methods = []string{http.MethodPost}
		}
		r.Handle(wf.Options.Path, h.guards[wf.Key](func(w http.ResponseWriter, req *http.Request) {
			h.serve(w, req, wf)
		})).Methods(methods...)
	}
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		h.x.Reject(w, req, http.StatusNotFound, "no workflow is served at "+req.URL.Path)
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		h.x.Reject(w, req, http.StatusMethodNotAllowed, "method "+req.Method+" is not allowed on "+req.URL.Path)
	})
}

// Wait blocks until asynchronous runs finish or ctx ends.
func (h *Webhook) Wait(ctx context.Context) error {
	return service.WaitGroup(ctx, &h.wg)
}

// serve handles one request for wf.
func (h *Webhook) serve(w http.ResponseWriter, r *http.Request, wf *config.Workflow) {
	tx := mediator.TxFromRequest(r)
	log := h.x.Logger().WithFields(logrus.Fields{"workflow": wf.Key, "transaction": tx.TransactionID})
	if tx.Rerun() {
		log = log.WithFields(logrus.Fields{"parent": tx.ParentID, "task": tx.TaskID})
		log.Info("rerun from OpenHIM")
	}
	if !h.x.Enabled(wf) {
		h.x.Reject(w, r, http.StatusServiceUnavailable, "workflow "+wf.Key+" is disabled")
		return
	}
	runID := h.x.NewID()
	input, status, err := h.inputState(w, r, tx, runID)
	if err != nil {
		log.WithError(err).Warn("request rejected")
		if status == http.StatusRequestEntityTooLarge {
			w.Header().Set("Connection", "close")
		}
		h.x.Reject(w, r, status, err.Error())
		if status == http.StatusRequestEntityTooLarge {
			DrainRejected(w, r, h.o.BodyLimit)
		}
		return
	}
	if tr := workflow.HTTPTrigger(wf); tr != nil && tr.Type == config.TriggerCriteria {
		if ok, err := matchesCriteria(tr.Criteria, input); err != nil || !ok {
			msg := "message does not match the criteria of trigger " + tr.Key
			if err != nil {
				msg = err.Error()
			}
			h.x.Reject(w, r, http.StatusUnprocessableEntity, msg)
			return
		}
	}
	async := (wf.Options.Async || wf.Options.Response == config.ResponseWorkOrder)
	if async && (h.o.Completer != nil || !tx.Routed()) {
		h.serveAsync(w, r, wf, tx, runID, input, log)
		return
	}
	out, err := h.x.Run(r.Context(), workflow.Webhook(wf), workflow.Input{State: input, Tx: tx, RunID: runID, Log: log})
	if err != nil {
		h.x.Reject(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	if out.Transient() {
		h.q.RetryLater(context.WithoutCancel(r.Context()), wf, tx, input, log)
	}
	h.x.Write(w, tx, out.Reply, out.Envelope, nil)
}

// serveAsync answers at once and finishes in the background; routed
// transactions are completed with PUT /transactions/:id.
func (h *Webhook) serveAsync(w http.ResponseWriter, r *http.Request, wf *config.Workflow, tx mediator.TxContext, runID string, input json.RawMessage, log *logrus.Entry) {
	body, _ := json.Marshal(map[string]string{"work_order_id": runID, "run_id": runID})
	accepted := workflow.Reply{Status: http.StatusAccepted, Body: body, ContentType: "application/json", EnvStatus: mediator.StatusProcessing}
	props := map[string]string{"workflow": wf.Key, "run_id": runID, "mode": "async"}
	if h.q.Durable() {
		// Durable: the work is in the store before we say "accepted", so a
		// restart finishes it instead of leaving the transaction Processing.
		dup, err := h.q.EnqueueOnce(r.Context(), store.KindAsync, runID, wf,
			queue.Item{Trigger: workflow.Webhook(wf).Kind, Input: input, Tx: tx, Complete: true}, h.x.Now(), tx.TransactionID)
		switch {
		case dup != nil && !sameRequest(dup.Item.Input, input):
			// Never drop a different message silently, and never run it
			// under a transaction that already has a run: one OpenHIM
			// transaction records one request and one outcome.
			log.WithField("run", dup.ID).Warn("async request reuses a transaction id with a different body")
			h.x.Reject(w, r, http.StatusConflict, fmt.Sprintf("transaction %s was already accepted with a different request (run %s); send this one as a new transaction", tx.TransactionID, dup.ID))
			return
		case dup != nil:
			// A redelivery of the same request: the same answer, the same run.
			body, _ = json.Marshal(map[string]string{"work_order_id": dup.ID, "run_id": dup.ID})
			accepted.Body = body
			props["run_id"] = dup.ID
		case err != nil:
			log.WithError(err).Error("could not queue async work")
			h.x.Reject(w, r, http.StatusServiceUnavailable, "could not accept the request: the store is unavailable")
			return
		}
		h.x.Write(w, tx, accepted, nil, props)
		return
	}
	h.x.Write(w, tx, accepted, nil, props)
	h.wg.Add(1)
	go func() { //nolint:gosec // G118: an async run outlives the request by design (it answered 202); the daemon waits for it through h.wg
		defer h.wg.Done()
		// The caller's context ends with the 202; the run gets its own.
		ctx := context.Background()
		out, err := h.x.Run(ctx, workflow.Webhook(wf), workflow.Input{State: input, Tx: tx, RunID: runID, Log: log})
		if err != nil || !tx.Routed() || h.o.Completer == nil {
			return
		}
		if err := h.o.Completer.UpdateTransaction(ctx, tx.TransactionID, mediator.Completion(out.Envelope)); err != nil {
			log.WithError(err).Error("could not complete the OpenHIM transaction")
		}
	}()
}

// sameRequest reports whether two input states carry the same request:
// body, method, path and query (headers and the openhim block differ
// between deliveries by design).
func sameRequest(a, b json.RawMessage) bool {
	type req struct {
		Data    json.RawMessage `json:"data"`
		Request struct {
			Method string          `json:"method"`
			Path   string          `json:"path"`
			Query  json.RawMessage `json:"query"`
		} `json:"request"`
	}
	var ra, rb req
	if json.Unmarshal(a, &ra) != nil || json.Unmarshal(b, &rb) != nil {
		return false
	}
	return bytes.Equal(ra.Data, rb.Data) && ra.Request.Method == rb.Request.Method &&
		ra.Request.Path == rb.Request.Path && bytes.Equal(ra.Request.Query, rb.Request.Query)
}

// requestDoc is state.request (appendInputState writes it as
// encoding/json would).
type requestDoc struct {
	Headers map[string]string `json:"headers"`
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Query   map[string]any    `json:"query"`
}

// inputState builds {data, request, openhim} from the request. It returns
// the HTTP status to answer with when the request is unacceptable.
func (h *Webhook) inputState(w http.ResponseWriter, r *http.Request, tx mediator.TxContext, runID string) (json.RawMessage, int, error) {
	body, status, err := ReadBody(w, r, h.o.BodyLimit)
	if err != nil {
		return nil, status, err
	}
	data, status, err := decodeBody(r.Header.Get("Content-Type"), body)
	if err != nil {
		return nil, status, err
	}
	query := map[string]any{}
	for k, vs := range r.URL.Query() {
		if len(vs) == 1 {
			query[k] = vs[0]
		} else {
			query[k] = vs
		}
	}
	headers := map[string]string{}
	for k, vs := range r.Header {
		lk := strings.ToLower(k)
		// Credentials of the caller never enter state: state is stored in
		// run history and visible to every job.
		if h.x.Redactor().SensitiveKey(lk) {
			continue
		}
		headers[lk] = strings.Join(vs, ", ")
	}
	state, err := appendInputState(make([]byte, 0, 512+len(body)), data, tx, runID,
		requestDoc{Headers: headers, Method: r.Method, Path: r.URL.Path, Query: query})
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("encoding input state: %v", err)
	}
	return state, 0, nil
}

// appendInputState writes the inputDoc of data, workflow.OpenHIMState(tx,
// runID) and req as encoding/json does without HTML escaping (struct
// fields in order, map keys sorted), which it was encoded with before: no
// reflection, no sorting through interfaces, no state.openhim map, and the
// body (compact valid JSON already) not scanned a second time, on every
// request. HTML escaping stays off: it would turn each < > & of the body
// into six bytes, and a body under BODY_SIZE_LIMIT must fit the state cap.
// TestInputStateEncoding holds it to encoding/json's bytes.
func appendInputState(b []byte, data any, tx mediator.TxContext, runID string, req requestDoc) ([]byte, error) {
	b = append(b, `{"data":`...)
	var err error
	if b, err = appendAny(b, data); err != nil {
		return nil, err
	}
	b = append(b, `,"openhim":`...)
	b = workflow.AppendOpenHIMState(b, tx, runID)
	b = append(b, `,"request":{"headers":`...)
	if req.Headers == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '{')
		var keys [16]string
		for i, k := range sortedKeys(req.Headers, keys[:0]) {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(jsonvalue.AppendString(b, k, false), ':')
			b = jsonvalue.AppendString(b, req.Headers[k], false)
		}
		b = append(b, '}')
	}
	b = append(b, `,"method":`...)
	b = jsonvalue.AppendString(b, req.Method, false)
	b = append(b, `,"path":`...)
	b = jsonvalue.AppendString(b, req.Path, false)
	b = append(b, `,"query":`...)
	if b, err = appendObject(b, req.Query); err != nil {
		return nil, err
	}
	return append(b, "}}"...), nil
}

func appendObject(b []byte, m map[string]any) ([]byte, error) {
	if m == nil {
		return append(b, "null"...), nil
	}
	b = append(b, '{')
	var keys [16]string
	for i, k := range sortedKeys(m, keys[:0]) {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(jsonvalue.AppendString(b, k, false), ':')
		var err error
		if b, err = appendAny(b, m[k]); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// sortedKeys appends m's keys to keys, sorted as encoding/json sorts them.
func sortedKeys[V any](m map[string]V, keys []string) []string {
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// appendAny writes the values input states hold by hand (the body, query
// values, state.openhim's strings and flag) and anything else through
// encoding/json.
func appendAny(b []byte, v any) ([]byte, error) {
	switch t := v.(type) {
	case json.RawMessage:
		if len(t) > 0 { // compact valid JSON (decodeBody)
			return append(b, t...), nil
		}
	case string:
		return jsonvalue.AppendString(b, t, false), nil
	case bool:
		return strconv.AppendBool(b, t), nil
	case []string:
		if t != nil {
			b = append(b, '[')
			for i, s := range t {
				if i > 0 {
					b = append(b, ',')
				}
				b = jsonvalue.AppendString(b, s, false)
			}
			return append(b, ']'), nil
		}
	case map[string]any:
		return appendObject(b, t)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...), nil
}

// DrainRejected sends the 413 already written and then reads what the
// client is still sending into nothing (never into memory), up to four
// times the limit: a client that writes its whole body before it reads the
// answer (OpenHIM core among them) would otherwise see the connection reset
// instead of the 413. Bigger bodies are cut off; the read timeout bounds the
// time it takes.
func DrainRejected(w http.ResponseWriter, r *http.Request, limit int64) {
	if r.ContentLength <= limit || r.ContentLength > 4*limit {
		return
	}
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, r.ContentLength))
}

// ReadBody reads a request body of at most limit bytes. A declared length
// over the limit is refused with 413 before anything is read; a body that
// turns out longer is cut off at the limit (413); one that does not arrive
// within the server's read timeout gets 408.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, int, error) {
	tooLarge := func() error {
		return fmt.Errorf("request body is larger than the limit of %d bytes (BODY_SIZE_LIMIT=%s)", limit, config.FormatByteSize(limit))
	}
	if r.ContentLength > limit {
		return nil, http.StatusRequestEntityTooLarge, tooLarge()
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		var ne net.Error
		switch {
		case errors.As(err, &mbe):
			return nil, http.StatusRequestEntityTooLarge, tooLarge()
		case errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
			return nil, http.StatusRequestTimeout, errors.New("the request body did not arrive within the read timeout (READ_TIMEOUT)")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, http.StatusBadRequest, fmt.Errorf("the request body ended after %d bytes, before its declared Content-Length of %d", len(body), r.ContentLength)
		}
		return nil, http.StatusBadRequest, fmt.Errorf("reading request body: %v", err)
	}
	return body, 0, nil
}

// decodeBody turns the body into state.data: parsed JSON for JSON media
// types, the raw string for text-like ones, {} when empty.
func decodeBody(contentType string, body []byte) (any, int, error) {
	if len(strings.TrimSpace(string(body))) == 0 {
		return map[string]any{}, 0, nil
	}
	mt := "application/octet-stream"
	if contentType != "" {
		parsed, params, err := mime.ParseMediaType(contentType)
		if err != nil {
			return nil, http.StatusUnsupportedMediaType, fmt.Errorf("invalid Content-Type %q: %v", contentType, err)
		}
		mt = parsed
		if cs := strings.ToLower(params["charset"]); cs != "" && cs != "utf-8" && cs != "us-ascii" {
			return nil, http.StatusUnsupportedMediaType, fmt.Errorf("charset %q is not supported: send UTF-8", cs)
		}
	}
	isJSON := mt == "application/json" || strings.HasSuffix(mt, "+json")
	isText := strings.HasPrefix(mt, "text/") || mt == "application/xml" || strings.HasSuffix(mt, "+xml") ||
		mt == "application/x-www-form-urlencoded" || mt == "application/hl7-v2"
	if isJSON || isText {
		// State is JSON text: a body that is not UTF-8 cannot enter it
		// unchanged, and must not be changed silently.
		if err := jsoncheck.UTF8(body); err != nil {
			return nil, http.StatusBadRequest, err
		}
	}
	switch {
	case isJSON:
		// Valid JSON goes into state as it is (compacted), in linear
		// time: decoding a 500,000-key object into a map and encoding it
		// again would sort its keys and cost seconds. The depth limit and
		// the grammar are checked in the same pass.
		if jsonvalue.ValidNested(body, jsoncheck.MaxDepth) {
			return json.RawMessage(jsonvalue.Compact(body)), 0, nil
		}
		if err := jsoncheck.Depth(body, jsoncheck.MaxDepth); err != nil {
			return nil, http.StatusBadRequest, err
		}
		// Not valid: the decoder says why.
		var v any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("request body is not valid JSON: %v", err)
		}
		if dec.More() {
			return nil, http.StatusBadRequest, errors.New("request body is not valid JSON: more than one value")
		}
		return v, 0, nil
	case isText:
		return string(body), 0, nil
	}
	return nil, http.StatusUnsupportedMediaType,
		fmt.Errorf("Content-Type %q is not supported: send JSON (application/json, application/fhir+json) or text", mt)
}
