package mediator

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func goodResponse() Response {
	ts := time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)
	return Response{
		URN:    "urn:mediator:jobmediator",
		Status: StatusSuccessful,
		Response: ClientResponse{Status: 200, Headers: map[string]string{"content-type": "application/json"},
			Body: `{"ok":true,"xml":"<a>&</a>"}`, Timestamp: ts},
		Orchestrations: []Orchestration{{Name: "GET dhis2",
			Request:  &OrchRequest{Method: "GET", Path: "/api/me", Timestamp: ts},
			Response: &OrchResponse{Status: 200, Timestamp: ts.Add(time.Second)}}},
		Properties: map[string]string{"workflow": "w"},
	}
}

func TestResponseValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Response)
		want   string
	}{
		{"status 0", func(r *Response) { r.Response.Status = 0 }, "not an HTTP status"},
		{"status 600", func(r *Response) { r.Response.Status = 600 }, "not an HTTP status"},
		{"no timestamp", func(r *Response) { r.Response.Timestamp = time.Time{} }, "response.timestamp is required"},
		{"typo status", func(r *Response) { r.Status = "Success" }, `status "Success"`},
		{"error without message", func(r *Response) { r.Error = &Error{Stack: "x"} }, "error.message is required"},
		{"unnamed orchestration", func(r *Response) { r.Orchestrations[0].Name = "" }, "name is required"},
		{"orchestration request without timestamp", func(r *Response) { r.Orchestrations[0].Request.Timestamp = time.Time{} }, "request.timestamp is required"},
		{"orchestration response without timestamp", func(r *Response) { r.Orchestrations[0].Response.Timestamp = time.Time{} }, "response.timestamp is required"},
		{"dotted orchestration header", func(r *Response) { r.Orchestrations[0].Request.Headers = map[string]string{"x.y": "1"} }, "has a dot"},
		{"orchestration error without message", func(r *Response) { r.Orchestrations[0].Error = &Error{} }, "error.message is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := goodResponse()
			tc.mutate(&r)
			err := r.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	r := goodResponse()
	if err := r.Validate(); err != nil {
		t.Fatalf("good response: %v", err)
	}
	r.Status = "" // core derives it
	r.Orchestrations = append(r.Orchestrations, Orchestration{Name: "no request at all", Error: &Error{Message: "ECONNREFUSED"}})
	if err := r.Validate(); err != nil {
		t.Fatalf("response without status: %v", err)
	}
	var nilResp *Response
	if err := nilResp.Validate(); err == nil {
		t.Error("nil response validated")
	}
}

func TestWriteResponse(t *testing.T) {
	rec := httptest.NewRecorder()
	rec.Header().Set("Content-Encoding", "br") // a middleware's leftover
	r := goodResponse()
	r.Response.Status = 201
	r.Response.Headers = nil
	if err := WriteResponse(rec, r); err != nil {
		t.Fatal(err)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json+openhim" {
		t.Errorf("Content-Type = %q", ct)
	}
	if ce := rec.Header().Get("Content-Encoding"); ce != "" {
		t.Errorf("Content-Encoding = %q, want none", ce)
	}
	if rec.Code != 201 {
		t.Errorf("status = %d", rec.Code)
	}
	body := rec.Body.String()
	if !strings.Contains(body, `<a>&</a>`) {
		t.Errorf("body escaped HTML: %s", body)
	}
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	resp := got["response"].(map[string]any)
	if h, ok := resp["headers"].(map[string]any); !ok || len(h) != 0 {
		t.Errorf("nil headers sent as %v, want {}", resp["headers"])
	}
	if resp["timestamp"] != "2024-01-01T10:00:00Z" || got["x-mediator-urn"] != "urn:mediator:jobmediator" {
		t.Errorf("envelope = %s", body)
	}
	if _, isStr := resp["body"].(string); !isStr {
		t.Error("response.body is not a string")
	}

	bad := httptest.NewRecorder()
	r.Response.Timestamp = time.Time{}
	if err := WriteResponse(bad, r); err == nil || !strings.Contains(err.Error(), "not sent") {
		t.Fatalf("invalid response: err = %v", err)
	}
	if bad.Body.Len() != 0 || bad.Header().Get("Content-Type") != "" {
		t.Error("an invalid response was written")
	}
}
