package primero

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLogin(t *testing.T) {
	s := startServer(t, Options{Users: []User{{Username: "openfn", Password: "openfn-password", Agency: "agency-x"}}})
	tests := []struct {
		name   string
		body   any
		status int
		want   string
	}{
		{"ok", map[string]any{"user": map[string]any{"user_name": "openfn", "password": "openfn-password"}}, 200, ""},
		{"wrong password", map[string]any{"user": map[string]any{"user_name": "openfn", "password": "nope"}}, 401, "Invalid User name or password."},
		{"unknown user", map[string]any{"user": map[string]any{"user_name": "ghost", "password": "openfn-password"}}, 401, "Invalid User name or password."},
		{"flat body", map[string]any{"user_name": "openfn", "password": "openfn-password"}, 401, "Invalid User name or password."},
		{"not json", "user=openfn", 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, s, "POST", "/api/v2/tokens", "", tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			if tc.status == 200 {
				if r.body["user_name"] != "openfn" || r.body["id"] == nil {
					t.Fatalf("body %s", r.raw)
				}
				tok, _ := r.body["token"].(string)
				if strings.Count(tok, ".") != 2 {
					t.Fatalf("token %q is not JWT-like", tok)
				}
				if r.header.Get("Authorization") != "Bearer "+tok {
					t.Fatalf("Authorization header %q", r.header.Get("Authorization"))
				}
			}
			if tc.want != "" && r.body["error"] != tc.want {
				t.Fatalf("error %v, want %q", r.body["error"], tc.want)
			}
		})
	}
}

func TestAuthOnUse(t *testing.T) {
	s := startServer(t, Options{TokenTTL: 30 * time.Minute})
	bearer := login(t, s)
	tests := []struct {
		name    string
		auth    string
		advance time.Duration
		status  int
		msg     string
	}{
		{"bearer", bearer, 0, 200, ""},
		{"basic", defAuth, 0, 200, ""},
		{"basic wrong", basic("openfn", "bad-password"), 0, 401, "Invalid User name or password."},
		{"basic garbage", "Basic !!!", 0, 401, "Invalid User name or password."},
		{"none", "", 0, 401, "You need to sign in or sign up before continuing."},
		{"token scheme", "Token abc", 0, 401, "You need to sign in or sign up before continuing."},
		{"tampered", bearer[:len(bearer)-3] + "AAA", 0, 401, "Signature verification failed"},
		{"not a jwt", "Bearer abc", 0, 401, "Not enough or too many segments"},
		{"expired", bearer, 31 * time.Minute, 401, "Signature has expired"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s.AdvanceClock(tc.advance)
			r := call(t, s, "GET", "/api/v2/cases", tc.auth, nil)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			if tc.msg == "" {
				return
			}
			got, _ := r.body["error"].(string)
			if got == "" {
				e := firstError(t, r)
				got, _ = e["message"].(string)
				if e["code"] != float64(401) || e["resource"] != "/api/v2/cases" {
					t.Fatalf("error shape %s", r.raw)
				}
			}
			if got != tc.msg {
				t.Fatalf("message %q, want %q", got, tc.msg)
			}
		})
	}
}

func TestFaultsAndLatency(t *testing.T) {
	s := startServer(t, Options{})
	s.FailNext(2, 503)
	for i := 0; i < 2; i++ {
		r := call(t, s, "GET", "/api/v2/cases", defAuth, nil)
		if r.status != 503 || r.header.Get("Retry-After") != "1" || !strings.Contains(string(r.raw), "nginx") {
			t.Fatalf("fault %d: %d %v %s", i, r.status, r.header, r.raw)
		}
	}
	if r := call(t, s, "GET", "/api/v2/cases", defAuth, nil); r.status != 200 {
		t.Fatalf("after faults: %d", r.status)
	}
	s.FailNext(1, 500)
	r := call(t, s, "GET", "/api/v2/cases", defAuth, nil)
	if r.status != 500 || firstError(t, r)["code"] != float64(500) {
		t.Fatalf("500 fault: %d %s", r.status, r.raw)
	}

	s.SetLatency(2 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL()+"/api/v2/cases", nil)
	req.Header.Set("Authorization", defAuth)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("expected client timeout under latency")
	}
	s.SetLatency(0)
}

func TestRequestsAreRedacted(t *testing.T) {
	s := startServer(t, Options{})
	bearer := login(t, s)
	call(t, s, "GET", "/api/v2/cases?remote=true&case_id=abc", bearer, nil)
	call(t, s, "GET", "/api/v2/cases", defAuth, nil)
	reqs := s.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests recorded", len(reqs))
	}
	token := strings.TrimPrefix(bearer, "Bearer ")
	for _, r := range reqs {
		all := string(r.Body) + r.RawQuery + strings.Join(r.Header.Values("Authorization"), "")
		for _, secret := range []string{"openfn-password", token, strings.TrimPrefix(defAuth, "Basic ")} {
			if strings.Contains(all, secret) {
				t.Fatalf("secret leaked in %+v", r)
			}
		}
	}
	if reqs[1].RawQuery != "remote=true&case_id=abc" || reqs[1].Method != "GET" || reqs[1].Path != "/api/v2/cases" {
		t.Fatalf("recorded %+v", reqs[1])
	}
	if reqs[1].Header.Get("Authorization") != "Bearer ***" {
		t.Fatalf("authorization %q", reqs[1].Header.Get("Authorization"))
	}
}

func TestParseQS(t *testing.T) {
	tests := []struct {
		raw  string
		want map[string]any
		err  string
	}{
		{"remote=true&case_id=a%20b", map[string]any{"remote": "true", "case_id": "a b"}, ""},
		{"last_updated_at=2025-01-01T00%3A00%3A00Z..", map[string]any{"last_updated_at": "2025-01-01T00:00:00Z.."}, ""},
		{"scope%5Bor%5D%5Bservice_response_types%5D%5B%5D=referral_to_oscar&scope%5Bor%5D%5Bservice_response_types%5D%5B%5D=x",
			map[string]any{"scope": map[string]any{"or": map[string]any{"service_response_types": []any{"referral_to_oscar", "x"}}}}, ""},
		{"scope[record_state]=list||true&scope[or][a]=1", map[string]any{"scope": map[string]any{"record_state": "list||true", "or": map[string]any{"a": "1"}}}, ""},
		{"ids[1]=b&ids[0]=a", map[string]any{"ids": []any{"a", "b"}}, ""},
		{"a[0][x]=1&a[0][y]=2&a[1][x]=3", map[string]any{"a": []any{map[string]any{"x": "1", "y": "2"}, map[string]any{"x": "3"}}}, ""},
		{"q=a+b&empty=", map[string]any{"q": "a b", "empty": ""}, ""},
		{"a[b]=1&a=2", nil, "both as a value and as a nested object"},
		{"a=2&a[b]=1", nil, "both as a value and as a nested object"},
		{"a[]=1&a[b]=2", nil, "used both"},
		{"a[b=1", nil, "unbalanced"},
		{"[x]=1", nil, "no name"},
		{"a=%zz", nil, "invalid %-encoding"},
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			got, err := parseQS(tc.raw)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestCatalogAndNotFound(t *testing.T) {
	s := startServer(t, Options{})
	for _, p := range []string{"/api/v2/forms", "/api/v2/lookups", "/api/v2/locations"} {
		r := call(t, s, "GET", p, defAuth, nil)
		if r.status != 200 || len(dataList(t, r)) == 0 {
			t.Fatalf("%s: %d %s", p, r.status, r.raw)
		}
	}
	r := call(t, s, "GET", "/api/v2/lookups", defAuth, nil)
	found := false
	for _, l := range dataList(t, r) {
		if l.(map[string]any)["unique_id"] == "lookup-service-response-type" {
			found = true
		}
	}
	if !found {
		t.Fatal("service response type lookup missing")
	}
	for _, p := range []string{"/api/v2/nothing", "/api/v1/cases", "/api/v2/cases/x/y/z/w"} {
		r := call(t, s, "GET", p, defAuth, nil)
		if r.status != 404 || firstError(t, r)["message"] != "Not Found" {
			t.Fatalf("%s: %d %s", p, r.status, r.raw)
		}
	}
	if r := call(t, s, "GET", "/api/v2/tokens", "", nil); r.status != 404 {
		t.Fatalf("GET tokens: %d", r.status)
	}
}
