package primero

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 8, 2, 10, 0, 0, 0, time.UTC)

func fixedClock() func() time.Time { return func() time.Time { return t0 } }

func startServer(t *testing.T, o Options) *Server {
	t.Helper()
	if o.Now == nil {
		o.Now = fixedClock()
	}
	s := New(o)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

type resp struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// call sends a request; auth is a full Authorization header value or "".
func call(t *testing.T, s *Server, method, path, auth string, body any) resp {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode, header: res.Header, raw: raw}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

var defAuth = basic("openfn", "openfn-password")

func login(t *testing.T, s *Server) string {
	t.Helper()
	r := call(t, s, "POST", "/api/v2/tokens", "", map[string]any{"user": map[string]any{"user_name": "openfn", "password": "openfn-password"}})
	if r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.raw)
	}
	return "Bearer " + r.body["token"].(string)
}

func firstError(t *testing.T, r resp) map[string]any {
	t.Helper()
	errs, ok := r.body["errors"].([]any)
	if !ok || len(errs) == 0 {
		t.Fatalf("no errors array in %d %s", r.status, r.raw)
	}
	return errs[0].(map[string]any)
}

func dataList(t *testing.T, r resp) []any {
	t.Helper()
	d, ok := r.body["data"].([]any)
	if !ok {
		t.Fatalf("data is not an array: %d %s", r.status, r.raw)
	}
	return d
}

func dataObj(t *testing.T, r resp) map[string]any {
	t.Helper()
	d, ok := r.body["data"].(map[string]any)
	if !ok {
		t.Fatalf("data is not an object: %d %s", r.status, r.raw)
	}
	return d
}
