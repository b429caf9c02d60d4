// Package apijson writes the JSON answers of the operator API, which both
// channels/api (bearer tokens) and the console (sessions) serve, so the
// two speak one error shape: {"error":{"message","status"}}.
package apijson

import (
	"encoding/json"
	"net/http"
)

// Write answers status with v as JSON, never cached.
func Write(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"message":"encoding the answer failed","status":500}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
}

// Error answers status with the API's error document.
func Error(w http.ResponseWriter, status int, msg string) {
	Write(w, status, map[string]any{"error": map[string]any{"message": msg, "status": status}})
}
