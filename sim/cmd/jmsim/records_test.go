package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRecordsHandler(t *testing.T) {
	h := recordsHandler()
	for _, tc := range []struct {
		method, body string
		status       int
		contains     string
	}{
		{"POST", `{"name":"Ana"}`, 201, `"id":1`},
		{"POST", `{"name":`, 400, "not JSON"},
		{"GET", "", 200, `"name":"Ana"`},
		{"DELETE", "", 405, ""},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(tc.method, "/records", strings.NewReader(tc.body)))
		if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.contains) {
			t.Errorf("%s %s: %d %s", tc.method, tc.body, w.Code, w.Body)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/nope", nil))
	if w.Code != 404 {
		t.Errorf("unknown path: %d", w.Code)
	}
}
