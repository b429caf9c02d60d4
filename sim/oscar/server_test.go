package oscar

import (
	"context"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSignIn(t *testing.T) {
	s := startServer(t, Options{})
	tests := []struct {
		name, path string
		body       any
		status     int
	}{
		{"ok", "/api/v1/admin_auth/sign_in", map[string]any{"email": "openfn@oscar.org", "password": "oscar-password"}, 200},
		{"alias spelling", "/api/v1/admin_auths/sign_in", map[string]any{"email": "openfn@oscar.org", "password": "oscar-password"}, 200},
		{"trailing slash", "/api/v1/admin_auth/sign_in/", map[string]any{"email": "openfn@oscar.org", "password": "oscar-password"}, 200},
		{"wrong password", "/api/v1/admin_auth/sign_in", map[string]any{"email": "openfn@oscar.org", "password": "nope"}, 401},
		{"unknown user", "/api/v1/admin_auth/sign_in", map[string]any{"email": "x@y.z", "password": "oscar-password"}, 401},
		{"empty body", "/api/v1/admin_auth/sign_in", nil, 401},
		{"bad json", "/api/v1/admin_auth/sign_in", "{", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, s, "POST", tc.path, nil, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			switch tc.status {
			case 200:
				for _, h := range []string{"access-token", "client", "uid", "token-type", "expiry"} {
					if r.header.Get(h) == "" {
						t.Errorf("missing header %s", h)
					}
				}
				if r.header.Get("uid") != "openfn@oscar.org" || r.header.Get("token-type") != "Bearer" {
					t.Errorf("headers %v", r.header)
				}
				exp, _ := strconv.ParseInt(r.header.Get("expiry"), 10, 64)
				if exp != t0.Add(14*24*time.Hour).Unix() {
					t.Errorf("expiry %d", exp)
				}
				if !strings.Contains(r.header.Get("Set-Cookie"), "_oscar_session=") {
					t.Errorf("no session cookie")
				}
				d := r.body["data"].(map[string]any)
				if d["email"] != "openfn@oscar.org" || d["uid"] != "openfn@oscar.org" {
					t.Errorf("body %s", r.raw)
				}
			case 401:
				if !reflect.DeepEqual(r.body["errors"], []any{"Invalid login credentials. Please try again."}) || r.body["success"] != false {
					t.Errorf("body %s", r.raw)
				}
			}
		})
	}
}

func TestProtectedAuth(t *testing.T) {
	s := startServer(t, Options{TokenTTL: time.Hour})
	good := signIn(t, s)
	other := signIn(t, s) // a second device stays valid alongside the first
	with := func(k, v string) map[string]string {
		h := map[string]string{}
		for a, b := range good {
			h[a] = b
		}
		if v == "" {
			delete(h, k)
		} else {
			h[k] = v
		}
		return h
	}
	tests := []struct {
		name    string
		h       map[string]string
		advance time.Duration
		status  int
	}{
		{"valid", good, 0, 200},
		{"second device", other, 0, 200},
		{"no token", with("access-token", ""), 0, 401},
		{"no client", with("client", ""), 0, 401},
		{"no uid", with("uid", ""), 0, 401},
		{"wrong uid", with("uid", "else@oscar.org"), 0, 401},
		{"token of another client", with("client", other["client"]), 0, 401},
		{"basic auth only", map[string]string{"Authorization": good["Authorization"]}, 0, 401},
		{"expired", good, 2 * time.Hour, 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s.AdvanceClock(tc.advance)
			r := call(t, s, "GET", "/api/v1/organizations/clients", tc.h, nil)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			if tc.status == 401 && !reflect.DeepEqual(r.body["errors"], []any{"You need to sign in or sign up before continuing."}) {
				t.Fatalf("body %s", r.raw)
			}
		})
	}
}

func TestDeviceLimit(t *testing.T) {
	s := startServer(t, Options{})
	first := signIn(t, s)
	for i := 0; i < maxDevices; i++ {
		signIn(t, s)
	}
	if r := call(t, s, "GET", "/api/v1/organizations/clients", first, nil); r.status != 401 {
		t.Fatalf("oldest device not evicted: %d", r.status)
	}
}

func TestFaultsLatencyAndRedaction(t *testing.T) {
	s := startServer(t, Options{})
	h := signIn(t, s)
	s.FailNext(1, 502)
	r := call(t, s, "POST", "/api/v1/organizations/clients/upsert/", h, referralPayload("case-0000001", "u1", "Long term foster care"))
	if r.status != 502 || !strings.Contains(string(r.raw), "<html>") {
		t.Fatalf("fault: %d %s", r.status, r.raw)
	}
	if len(s.Referrals()) != 0 {
		t.Fatal("faulted request was processed")
	}
	s.FailNext(1, 500)
	if r := call(t, s, "GET", "/api/v1/organizations/clients", h, nil); r.status != 500 || r.body["error"] != "Internal Server Error" {
		t.Fatalf("500 fault: %d %s", r.status, r.raw)
	}
	if r := call(t, s, "GET", "/api/v1/organizations/clients", h, nil); r.status != 200 {
		t.Fatalf("after faults: %d", r.status)
	}

	s.SetLatency(2 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL()+"/api/v1/organizations", nil)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("expected client timeout")
	}
	s.SetLatency(0)

	for _, rec := range s.Requests() {
		all := string(rec.Body) + rec.RawQuery
		for k, vs := range rec.Header {
			all += k + strings.Join(vs, "")
		}
		for _, secret := range []string{"oscar-password", h["access-token"], "b3NjYXItcGFzc3dvcmQ"} {
			if strings.Contains(all, secret) {
				t.Fatalf("secret %q leaked in %+v", secret, rec)
			}
		}
	}
	if got := s.Requests()[0]; got.Method != "POST" || got.Path != "/api/v1/admin_auth/sign_in" {
		t.Fatalf("first request %+v", got)
	}
}

func TestNotFound(t *testing.T) {
	s := startServer(t, Options{})
	h := signIn(t, s)
	for _, p := range []string{"/api/v1/nothing", "/api/v1/organizations/clients/other", "/"} {
		r := call(t, s, "GET", p, h, nil)
		if r.status != 404 || r.body["error"] != "Not Found" {
			t.Fatalf("%s: %d %s", p, r.status, r.raw)
		}
	}
	if r := call(t, s, "GET", "/api/v1/organizations/clients/upsert", h, nil); r.status != 404 {
		t.Fatalf("GET upsert: %d", r.status)
	}
}
