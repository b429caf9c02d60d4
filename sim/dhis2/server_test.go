package dhis2

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNewRejectsBadVersion(t *testing.T) {
	for _, v := range []string{"2.35", "2.43", "40", "2.4", "v2.40", "2.40.x"} {
		s := New(Options{Version: v})
		if err := s.Start(); err == nil {
			s.Close()
			t.Errorf("version %q: Start succeeded, want error", v)
		}
	}
}

func TestSystemInfoVersion(t *testing.T) {
	for _, tc := range []struct{ opt, want string }{
		{"", "2.40.0"}, {"2.36", "2.36.0"}, {"2.39.2", "2.39.2"}, {"2.41", "2.41.0"},
	} {
		s := startSim(t, Options{Version: tc.opt})
		r := get(t, s, "/api/system/info")
		if r.code != 200 || at(r.body, "version") != tc.want {
			t.Errorf("version %q: got %d %v, want %s", tc.opt, r.code, at(r.body, "version"), tc.want)
		}
		if at(r.body, "serverDate") != "2024-06-15T10:30:00.000" {
			t.Errorf("serverDate = %v", at(r.body, "serverDate"))
		}
	}
}

func TestAuth(t *testing.T) {
	s := startSim(t, Options{
		Users:       []User{{Username: "admin", Password: "district"}, {Username: "viewer", Password: "Viewer123"}},
		Authorities: map[string][]string{"viewer": {"F_VIEW"}},
		Tokens:      []string{"d2pat_abcdefghijklmnopqrstuvwxyz0123451234567890"},
	})
	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"no header", "", 401},
		{"wrong password", basic("admin", "nope"), 401},
		{"unknown user", basic("ghost", "district"), 401},
		{"garbage basic", "Basic !!!", 401},
		{"unknown scheme", "Bearer x", 401},
		{"basic ok", adminAuth, 200},
		{"token ok", "ApiToken d2pat_abcdefghijklmnopqrstuvwxyz0123451234567890", 200},
		{"token unknown", "ApiToken d2pat_nope", 401},
	} {
		r := call(t, s, "GET", "/api/system/info", nil, tc.auth)
		if r.code != tc.want {
			t.Errorf("%s: HTTP %d, want %d", tc.name, r.code, tc.want)
			continue
		}
		if tc.want == 401 {
			b := r.obj(t)
			if b["httpStatus"] != "Unauthorized" || num(b["httpStatusCode"]) != 401 || b["status"] != "ERROR" || b["message"] == nil {
				t.Errorf("%s: 401 body = %s", tc.name, r.raw)
			}
			if r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: no WWW-Authenticate", tc.name)
			}
		}
	}

	// 403: metadata read without authority has the docs' WebMessage shape.
	r := call(t, s, "GET", "/api/dataElements", nil, basic("viewer", "Viewer123"))
	if r.code != 403 {
		t.Fatalf("viewer metadata: HTTP %d", r.code)
	}
	want := sharedJSON(t, "docs-webmessage-error-403.json")
	assertShape(t, "403", want, r.body)
	if at(r.body, "message") != at(want, "message") {
		t.Errorf("403 message = %v", at(r.body, "message"))
	}
	// 403 for writes without F_DATAVALUE_ADD, nothing stored.
	r = call(t, s, "POST", "/api/dataValueSets", dvs(mortality("f7n9E0hX8qk", "202401", "3")), basic("viewer", "Viewer123"))
	if r.code != 403 || at(r.body, "httpStatus") != "Forbidden" {
		t.Errorf("viewer import: HTTP %d %s", r.code, r.raw)
	}
	if len(s.DataValues()) != 0 {
		t.Error("forbidden import stored values")
	}
	r = call(t, s, "GET", "/api/me/authorization/F_DATAVALUE_ADD", nil, basic("viewer", "Viewer123"))
	if string(r.raw) != "false\n" {
		t.Errorf("me/authorization = %q", r.raw)
	}
}

func TestTokensNeed237(t *testing.T) {
	s := startSim(t, Options{Version: "2.36", Tokens: []string{"d2pat_tok1234567890"}})
	if r := call(t, s, "GET", "/api/system/info", nil, "ApiToken d2pat_tok1234567890"); r.code != 401 {
		t.Errorf("2.36 token: HTTP %d, want 401", r.code)
	}
}

func TestCreateAPIToken(t *testing.T) {
	s := startSim(t, Options{})
	r := post(t, s, "/api/apiToken", map[string]any{})
	if r.code != 201 {
		t.Fatalf("HTTP %d %s", r.code, r.raw)
	}
	assertShape(t, "apiToken", sharedJSON(t, "docs-apitoken-create-response.json"), r.body)
	key, _ := at(r.body, "response", "key").(string)
	if !strings.HasPrefix(key, "d2pat_") {
		t.Fatalf("key %q", key)
	}
	if r := call(t, s, "GET", "/api/me", nil, "ApiToken "+key); r.code != 200 {
		t.Errorf("new token rejected: %d", r.code)
	}
	// The token never appears in recorded requests.
	for _, rec := range s.Requests() {
		if strings.Contains(rec.Header.Get("Authorization"), key) {
			t.Error("token recorded in clear")
		}
	}
}

func TestVersionedPaths(t *testing.T) {
	s := startSim(t, Options{Version: "2.40"})
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/api/40/system/info", 200}, {"/api/37/system/info", 200}, {"/api/41/system/info", 404},
		{"/api/system/info.json", 200}, {"/api/nope", 404}, {"/other", 404},
	} {
		if r := get(t, s, tc.path); r.code != tc.want {
			t.Errorf("%s: HTTP %d, want %d", tc.path, r.code, tc.want)
		} else if tc.want == 404 && at(r.body, "httpStatusCode") == nil {
			t.Errorf("%s: 404 without WebMessage: %s", tc.path, r.raw)
		}
	}
}

func TestFailNext(t *testing.T) {
	s := startSim(t, Options{})
	s.FailNext(2, 503)
	for i := 0; i < 2; i++ {
		r := get(t, s, "/api/system/info")
		if r.code != 503 || r.header.Get("Retry-After") != "1" || !strings.Contains(string(r.raw), "<html>") {
			t.Errorf("fault %d: HTTP %d %q", i, r.code, r.raw)
		}
	}
	if r := get(t, s, "/api/system/info"); r.code != 200 {
		t.Errorf("after faults: HTTP %d", r.code)
	}
	s.FailNext(1, 500)
	r := get(t, s, "/api/system/info")
	if r.code != 500 || at(r.body, "httpStatus") != "Internal Server Error" || at(r.body, "status") != "ERROR" {
		t.Errorf("500: %d %s", r.code, r.raw)
	}
	s.FailNext(1, 429)
	if r := get(t, s, "/api/system/info"); r.code != 429 || r.header.Get("Retry-After") == "" {
		t.Errorf("429: %d", r.code)
	}
}

func TestFailNextMalformedBody(t *testing.T) {
	s := startSim(t, Options{})
	s.FailNextWithBody(1, 200, `{"broken":`)
	req, _ := http.NewRequest("GET", s.URL()+"/api/system/info", nil)
	req.Header.Set("Authorization", adminAuth)
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	buf := make([]byte, 64)
	n, _ := res.Body.Read(buf)
	if string(buf[:n]) != `{"broken":` {
		t.Errorf("body %q", buf[:n])
	}
	// A failed request is not processed: the data import below is the
	// first to reach the store.
	s.FailNext(1, 502)
	if r := post(t, s, "/api/dataValueSets", dvs(mortality("f7n9E0hX8qk", "202401", "3"))); r.code != 502 {
		t.Fatalf("HTTP %d", r.code)
	}
	if len(s.DataValues()) != 0 {
		t.Error("faulted request was processed")
	}
}

func TestLatencyTimesOutClient(t *testing.T) {
	s := startSim(t, Options{})
	s.SetLatency(2 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL()+"/api/system/info", nil)
	req.Header.Set("Authorization", adminAuth)
	_, err := client.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want deadline exceeded", err)
	}
	s.SetLatency(0)
	if r := get(t, s, "/api/system/info"); r.code != 200 {
		t.Errorf("after latency: %d", r.code)
	}
}

func TestRequestsRedactSecrets(t *testing.T) {
	s := startSim(t, Options{Tokens: []string{"d2pat_secretsecretsecret"}})
	call(t, s, "GET", "/api/system/info?password=district", nil, adminAuth)
	call(t, s, "POST", "/api/dataValueSets", `{"dataValues":[],"password":"district"}`, "ApiToken d2pat_secretsecretsecret")
	recs := s.Requests()
	if len(recs) != 2 {
		t.Fatalf("%d requests recorded", len(recs))
	}
	if recs[0].Method != "GET" || recs[0].Path != "/api/system/info" || recs[1].Method != "POST" {
		t.Errorf("recorded %+v", recs)
	}
	for _, r := range recs {
		all := r.Header.Get("Authorization") + r.Query.Encode() + string(r.Body)
		for _, secret := range []string{"district", "ZGlzdHJpY3Q", "YWRtaW46ZGlzdHJpY3Q", "d2pat_secretsecretsecret"} {
			if strings.Contains(all, secret) {
				t.Errorf("secret %q leaked in %q", secret, all)
			}
		}
	}
	if got := recs[0].Header.Get("Authorization"); got != "Basic ***" {
		t.Errorf("auth header recorded as %q", got)
	}
}

func TestSystemID(t *testing.T) {
	s := startSim(t, Options{})
	r := get(t, s, "/api/system/id?limit=3")
	codes, _ := at(r.body, "codes").([]any)
	if len(codes) != 3 {
		t.Fatalf("codes %v", r.body)
	}
	for _, c := range codes {
		if !validUID(c.(string)) {
			t.Errorf("invalid uid %v", c)
		}
	}
	if r := get(t, s, "/api/system/id?limit=20000"); r.code != 409 {
		t.Errorf("limit too big: %d", r.code)
	}
}

func TestBadRequests(t *testing.T) {
	s := startSim(t, Options{})
	for _, tc := range []struct {
		name, method, path, body, ctype string
		want                            int
	}{
		{"malformed json", "POST", "/api/dataValueSets", `{"dataValues":[`, "application/json", 400},
		{"empty body", "POST", "/api/dataValueSets", ``, "application/json", 400},
		{"xml content type", "POST", "/api/dataValueSets", `<dataValueSet/>`, "application/xml", 415},
		{"dataValues not array", "POST", "/api/dataValueSets", `{"dataValues":{}}`, "application/json", 400},
		{"bad strategy", "POST", "/api/dataValueSets?importStrategy=MERGE", `{"dataValues":[]}`, "application/json", 409},
		{"bad idScheme", "POST", "/api/dataValueSets?idScheme=SHORTNAME", `{"dataValues":[]}`, "application/json", 409},
		{"bad dryRun", "POST", "/api/dataValueSets?dryRun=maybe", `{"dataValues":[]}`, "application/json", 409},
		{"tracker bad mode", "POST", "/api/tracker?importMode=MAYBE", `{}`, "application/json", 400},
		{"tracker bad async", "POST", "/api/tracker?async=yes", `{}`, "application/json", 400},
		{"tracker malformed", "POST", "/api/tracker?async=false", `{"trackedEntities":[`, "application/json", 400},
		{"tracker list type", "POST", "/api/tracker?async=false", `{"trackedEntities":{}}`, "application/json", 400},
		{"tracker bad date", "POST", "/api/tracker?async=false", `{"enrollments":[{"enrolledAt":"yesterday"}]}`, "application/json", 400},
		{"method", "DELETE", "/api/dataValueSets", ``, "", 405},
	} {
		req, _ := http.NewRequest(tc.method, s.URL()+tc.path, strings.NewReader(tc.body))
		if tc.ctype != "" {
			req.Header.Set("Content-Type", tc.ctype)
		}
		req.Header.Set("Authorization", adminAuth)
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("%s: HTTP %d, want %d", tc.name, res.StatusCode, tc.want)
		}
	}
	if len(s.DataValues())+len(s.TrackedEntities())+len(s.Enrollments()) != 0 {
		t.Error("bad requests stored data")
	}
}

func TestErrorsDoNotEchoCredentials(t *testing.T) {
	s := startSim(t, Options{})
	for _, auth := range []string{basic("admin", "wrongSecret99"), "ApiToken d2pat_wrongTokenValue123"} {
		r := call(t, s, "GET", "/api/system/info", nil, auth)
		if strings.Contains(string(r.raw), "wrongSecret99") || strings.Contains(string(r.raw), "wrongTokenValue123") {
			t.Errorf("credential echoed: %s", r.raw)
		}
	}
}

func TestMe(t *testing.T) {
	s := startSim(t, Options{})
	r := get(t, s, "/api/me")
	if r.code != 200 || at(r.body, "username") != "admin" || at(r.body, "authorities", 0) != "ALL" {
		t.Errorf("%s", r.raw)
	}
	if r := get(t, s, "/api/me/authorization/F_DATAVALUE_ADD"); string(r.raw) != "true\n" {
		t.Errorf("%s", r.raw)
	}
}
