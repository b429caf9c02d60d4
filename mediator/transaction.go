package mediator

import "time"

// The OpenHIM wire types live in this package: the registration
// (registration.go), the heartbeat (HeartbeatRequest), the mediator
// response envelope (envelope.go), and the transactions a mediator records
// or finishes itself (this file). The ways in build values of these types;
// Client sends them and checks what core requires before anything leaves.

// HeartbeatRequest is the body of POST /mediators/:urn/heartbeat; Config is
// omitted unless true (ask core to send the config even if unchanged).
type HeartbeatRequest struct {
	Uptime float64 `json:"uptime"` // seconds
	Config bool    `json:"config,omitempty"`
}

// Transaction is the body of POST /transactions: a transaction the mediator
// records for work it started itself (a scheduled or manual run). Core's
// 201 does not return the id, so the mediator sets ID (NewObjectID).
type Transaction struct {
	ID        string             `json:"_id,omitempty"`
	Status    string             `json:"status"`
	ChannelID string             `json:"channelID,omitempty"`
	Request   TransactionRequest `json:"request"`
	// CanRerun lets an operator rerun it from the console; core replays
	// Request to the channel's route.
	CanRerun   bool              `json:"canRerun,omitempty"`
	Properties map[string]string `json:"properties,omitempty"`
}

// TransactionRequest is a recorded transaction's request. Body is a string,
// as core stores it; Timestamp is required (see Timestamp).
type TransactionRequest struct {
	Path      string            `json:"path,omitempty"`
	Method    string            `json:"method,omitempty"`
	Headers   map[string]string `json:"headers,omitempty"`
	Body      string            `json:"body,omitempty"`
	Timestamp string            `json:"timestamp,omitempty"`
}

// Timestamp is a transaction time as core's own: ISO 8601 in UTC with
// milliseconds.
func Timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// TransactionUpdate is the body of PUT /transactions/:id. Core applies it
// to the stored document as given: fields set here replace the stored
// ones, Push appends. An update carrying Error makes core queue an
// auto-retry.
type TransactionUpdate struct {
	Status     string            `json:"status,omitempty"`
	Response   *ClientResponse   `json:"response,omitempty"`
	Push       *TransactionPush  `json:"$push,omitempty"`
	Properties map[string]string `json:"properties,omitempty"`
	Error      *Error            `json:"error,omitempty"`
}

// TransactionPush appends orchestrations to a transaction
// ({"$push": {"orchestrations": {"$each": [...]}}}).
type TransactionPush struct {
	Orchestrations PushEach `json:"orchestrations"`
}

// PushEach is Mongo's $each: every element is appended.
type PushEach struct {
	Each []Orchestration `json:"$each"`
}

// IsZero reports whether the update would change nothing.
func (u TransactionUpdate) IsZero() bool {
	return u.Status == "" && u.Response == nil && u.Push == nil && len(u.Properties) == 0 && u.Error == nil
}

// Completion is the update that finishes a transaction with the mediator
// response of its run: final status and response, the orchestrations
// appended, the properties and the error (for OpenHIM's auto-retry).
func Completion(env *Response) TransactionUpdate {
	resp := env.Response
	u := TransactionUpdate{Status: env.Status, Response: &resp, Properties: env.Properties, Error: env.Error}
	if len(env.Orchestrations) > 0 {
		u.Push = &TransactionPush{Orchestrations: PushEach{Each: env.Orchestrations}}
	}
	return u
}
