package primero

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
)

// The v1 API contract (v1.go): login answers 201 and a session cookie,
// records need the cookie, /api/cases is a bare array of CouchDB-shaped
// records filtered by scope, and create/update take {"child": …}.
func TestV1API(t *testing.T) {
	s := startServer(t, Options{Now: fixedClock()})
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	do := func(method, path, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	if code, _ := do("GET", "/api/cases", ""); code != 401 {
		t.Fatalf("no session: %d", code)
	}
	if code, b := do("POST", "/api/login", `{"user_name":"openfn","password":"wrong"}`); code != 401 || !strings.Contains(string(b), "Invalid User name or password.") {
		t.Fatalf("bad login: %d %s", code, b)
	}
	code, b := do("POST", "/api/login", `{"user_name":"openfn","password":"openfn-password"}`)
	if code != 201 || !strings.Contains(string(b), `"session"`) {
		t.Fatalf("login: %d %s", code, b)
	}
	code, b = do("POST", "/api/cases", `{"child":{"name":"Sok Dara","case_id":"c-1","risk_level":"high"}}`)
	var created map[string]any
	_ = json.Unmarshal(b, &created)
	if code != 201 || created["_id"] == nil || created["couchrest-type"] != "Child" || created["name"] != "Sok Dara" {
		t.Fatalf("create: %d %s", code, b)
	}
	do("POST", "/api/cases", `{"child":{"name":"Other","case_id":"c-2","risk_level":"low"}}`)
	code, b = do("GET", "/api/cases?scope%5Brisk_level%5D=list%7C%7Chigh", "")
	var list []map[string]any
	if err := json.Unmarshal(b, &list); err != nil || code != 200 || len(list) != 1 || list[0]["case_id"] != "c-1" {
		t.Fatalf("list: %d %s", code, b)
	}
	code, b = do("PATCH", "/api/cases/"+created["_id"].(string), `{"child":{"risk_level":"medium"}}`)
	var upd map[string]any
	_ = json.Unmarshal(b, &upd)
	if code != 200 || upd["risk_level"] != "medium" || upd["_rev"] == created["_rev"] {
		t.Fatalf("update: %d %s", code, b)
	}
	if code, _ := do("PATCH", "/api/cases/nope", `{"child":{}}`); code != 404 {
		t.Fatalf("unknown record: %d", code)
	}
	// the v2 API sees the same store
	rec, ok := s.Case(created["_id"].(string))
	if !ok || rec["risk_level"] != "medium" {
		t.Fatalf("v2 view: %v", rec)
	}
}
