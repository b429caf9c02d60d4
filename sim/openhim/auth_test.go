package openhim

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// fixedClock is the time of the shared token test vector.
var vectorTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func tokenHeaders(email, userSalt, password, authSalt string, ts string) map[string]string {
	return map[string]string{"auth-username": email, "auth-ts": ts, "auth-salt": authSalt,
		"auth-token": AuthToken(userSalt, password, authSalt, ts)}
}

func TestContract01_NoAuthIs401WithoutDetails(t *testing.T) {
	c := startCore(t, Options{})
	r := call(t, "GET", c.APIURL()+"/channels", nil, nil)
	if r.status != 401 || r.body != "Unauthorized" {
		t.Fatalf("got %d %q", r.status, r.body)
	}
}

func TestContract02_AuthenticateReturnsSaltAndTs(t *testing.T) {
	c := startCore(t, Options{Now: func() time.Time { return vectorTime }})
	r := call(t, "GET", c.APIURL()+"/authenticate/ROOT@openhim.org", nil, nil)
	if r.status != 200 {
		t.Fatalf("got %d %q", r.status, r.body)
	}
	m := decode(t, r.body).(map[string]any)
	want := loadJSON(t, "authenticate-token-response.json")
	if m["salt"] != want["salt"] || m["ts"] != want["ts"] {
		t.Fatalf("got %v, want %v", m, want)
	}
}

func TestContract03_AuthenticateUnknownUser404(t *testing.T) {
	c := startCore(t, Options{})
	if r := call(t, "GET", c.APIURL()+"/authenticate/nobody@example.org", nil, nil); r.status != 404 {
		t.Fatalf("got %d", r.status)
	}
}

func TestContract04_TokenAuthAccepted(t *testing.T) {
	c := startCore(t, Options{})
	ts := time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00")
	r := call(t, "GET", c.APIURL()+"/channels", nil, tokenHeaders(RootEmail, RootSalt, RootPassword, newUUID(), ts))
	if r.status != 200 {
		t.Fatalf("got %d %q", r.status, r.body)
	}
}

func TestContract05_TokenSaltChangedAfterHashing(t *testing.T) {
	c := startCore(t, Options{})
	ts := time.Now().UTC().Format(time.RFC3339)
	h := tokenHeaders(RootEmail, RootSalt, RootPassword, "salt-a", ts)
	h["auth-salt"] = "salt-b"
	if r := call(t, "GET", c.APIURL()+"/channels", nil, h); r.status != 401 || r.body != "Unauthorized" {
		t.Fatalf("got %d %q", r.status, r.body)
	}
}

func TestContract06_TokenTooOld(t *testing.T) {
	c := startCore(t, Options{})
	for _, skew := range []time.Duration{-53 * time.Second, 53 * time.Second, -11 * time.Second} {
		ts := time.Now().Add(skew).UTC().Format(time.RFC3339Nano)
		if r := call(t, "GET", c.APIURL()+"/channels", nil, tokenHeaders(RootEmail, RootSalt, RootPassword, "s", ts)); r.status != 401 {
			t.Errorf("skew %v: got %d", skew, r.status)
		}
	}
	ts := time.Now().Add(-8 * time.Second).UTC().Format(time.RFC3339Nano)
	if r := call(t, "GET", c.APIURL()+"/channels", nil, tokenHeaders(RootEmail, RootSalt, RootPassword, "s", ts)); r.status != 200 {
		t.Errorf("8s skew inside the window: got %d", r.status)
	}
}

func TestContract07_TokenHeadersMissing(t *testing.T) {
	c := startCore(t, Options{})
	ts := time.Now().UTC().Format(time.RFC3339)
	h := map[string]string{"auth-username": RootEmail, "auth-ts": ts}
	if r := call(t, "GET", c.APIURL()+"/channels", nil, h); r.status != 401 {
		t.Fatalf("got %d", r.status)
	}
	// Precedence (§1.1.5): any auth-* header means token only, even with a
	// valid Basic header alongside.
	h["Authorization"] = rootBasic
	if r := call(t, "GET", c.APIURL()+"/channels", nil, h); r.status != 401 {
		t.Fatalf("with Basic too: got %d", r.status)
	}
}

func TestContract08_TokenUnknownUser(t *testing.T) {
	c := startCore(t, Options{})
	ts := time.Now().UTC().Format(time.RFC3339)
	if r := call(t, "GET", c.APIURL()+"/channels", nil, tokenHeaders("ghost@example.org", RootSalt, RootPassword, "s", ts)); r.status != 401 {
		t.Fatalf("got %d", r.status)
	}
}

func TestContract09_BasicAuthAccepted(t *testing.T) {
	c := startCore(t, Options{})
	if r := root(t, c, "GET", "/channels", nil); r.status != 200 || r.body != "[]" {
		t.Fatalf("got %d %q", r.status, r.body)
	}
}

func TestContract10_BasicWrongPassword(t *testing.T) {
	c := startCore(t, Options{})
	for _, path := range []string{"/channels", "/about", "/mediators", "/transactions"} {
		r := call(t, "GET", c.APIURL()+path, nil, map[string]string{"Authorization": basicAuth(RootEmail, "wrong")})
		if r.status != 401 || r.body != "Unauthorized" {
			t.Errorf("%s: got %d %q", path, r.status, r.body)
		}
		if strings.Contains(r.body, "wrong") {
			t.Errorf("%s: the password leaked into the body", path)
		}
	}
}

func TestContract11_TokenUserWithBasic(t *testing.T) {
	c := startCore(t, Options{})
	c.AddUser(User{Email: "tok@example.org", Password: "tok-pass", Groups: []string{"admin"}, TokenPassport: true})
	r := call(t, "GET", c.APIURL()+"/channels", nil, map[string]string{"Authorization": basicAuth("tok@example.org", "tok-pass")})
	if r.status != 200 {
		t.Fatalf("got %d", r.status)
	}
}

func TestContract12_LocalOnlyUserHasNoTokenSalt(t *testing.T) {
	c := startCore(t, Options{})
	c.AddUser(User{Email: "local@example.org", Password: "pw", Groups: []string{"admin"}})
	if r := call(t, "GET", c.APIURL()+"/authenticate/local@example.org", nil, nil); r.status != 404 {
		t.Fatalf("authenticate: got %d", r.status)
	}
	// Basic works; token auth cannot.
	if r := call(t, "GET", c.APIURL()+"/about", nil, map[string]string{"Authorization": basicAuth("local@example.org", "pw")}); r.status != 200 {
		t.Fatalf("basic: got %d", r.status)
	}
	c.mu.Lock()
	salt := c.users["local@example.org"].salt
	c.mu.Unlock()
	ts := time.Now().UTC().Format(time.RFC3339)
	if r := call(t, "GET", c.APIURL()+"/about", nil, tokenHeaders("local@example.org", salt, "pw", "x", ts)); r.status != 401 {
		t.Fatalf("token: got %d", r.status)
	}
}

func TestContract13_BasicDisabled(t *testing.T) {
	c := startCore(t, Options{AuthTypes: []string{"token"}})
	if r := root(t, c, "GET", "/channels", nil); r.status != 401 {
		t.Fatalf("got %d", r.status)
	}
	ts := time.Now().UTC().Format(time.RFC3339)
	if r := call(t, "GET", c.APIURL()+"/channels", nil, tokenHeaders(RootEmail, RootSalt, RootPassword, "x", ts)); r.status != 200 {
		t.Fatalf("token still works: got %d", r.status)
	}
}

// TestContract14_TokenVector checks the token math against the shared
// vector, byte for byte, and that the simulator accepts both tokens at the
// vector's time.
func TestContract14_TokenVector(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(sharedTestdata, "token-auth-test-vector.txt"))
	if err != nil {
		t.Fatal(err)
	}
	field := func(name string) string {
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s*=\s*(\S+)`)
		m := re.FindStringSubmatch(string(raw))
		if m == nil {
			t.Fatalf("no %s in vector", name)
		}
		return m[1]
	}
	hashRe := regexp.MustCompile(`= ([0-9a-f]{128})`)
	hashes := hashRe.FindAllStringSubmatch(string(raw), -1)
	if len(hashes) != 3 {
		t.Fatalf("expected 3 hashes in vector, got %d", len(hashes))
	}
	salt, pw, ts := field("passport.salt"), field("user.password"), field("auth-ts")
	if got := PasswordHash(salt, pw); got != hashes[0][1] {
		t.Fatalf("passwordHash %s", got)
	}
	saltA, saltB := field("auth-salt (A)"), field("auth-salt (B)")
	if got := AuthToken(salt, pw, saltA, ts); got != hashes[1][1] {
		t.Fatalf("token A %s", got)
	}
	if got := AuthToken(salt, pw, saltB, ts); got != hashes[2][1] {
		t.Fatalf("token B %s", got)
	}
	c := startCore(t, Options{Now: func() time.Time { return vectorTime.Add(3 * time.Second) }})
	for _, s := range []string{saltA, saltB} {
		h := map[string]string{"auth-username": field("user.email"), "auth-ts": ts, "auth-salt": s,
			"auth-token": AuthToken(salt, pw, s, ts)}
		if r := call(t, "GET", c.APIURL()+"/about", nil, h); r.status != 200 {
			t.Fatalf("salt %s: got %d", s, r.status)
		}
	}
	basic := regexp.MustCompile(`Authorization: (Basic \S+)`).FindStringSubmatch(string(raw))[1]
	if r := call(t, "GET", c.APIURL()+"/about", nil, map[string]string{"Authorization": basic}); r.status != 200 {
		t.Fatalf("basic from vector: got %d", r.status)
	}
}

func TestTokenTimestampForms(t *testing.T) {
	now := time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)
	jhb, _ := time.LoadLocation("Africa/Johannesburg")
	tests := []struct {
		name, tz, ts string
		ok           bool
	}{
		{"iso Z", "UTC", "2024-01-01T10:00:00.000Z", true},
		{"iso offset", "UTC", "2024-01-01T12:00:00+02:00", true},
		{"java offset without colon", "UTC", "2024-01-01T12:00:00.000+0200", true},
		{"no zone in UTC core", "UTC", "2024-01-01T10:00:00.123456", true},
		{"no zone read in core zone", "Africa/Johannesburg", "2024-01-01T10:00:00", false},
		{"no zone local match", "Africa/Johannesburg", now.In(jhb).Format("2006-01-02T15:04:05"), true},
		{"js toString", "UTC", "Mon Jan 01 2024 12:00:05 GMT+0200 (South Africa Standard Time)", true},
		{"garbage", "UTC", "yesterday", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := startCore(t, Options{TimeZone: tt.tz, Now: func() time.Time { return now }})
			r := call(t, "GET", c.APIURL()+"/about", nil, tokenHeaders(RootEmail, RootSalt, RootPassword, "x", tt.ts))
			if (r.status == 200) != tt.ok {
				t.Fatalf("got %d", r.status)
			}
		})
	}
}

func TestLocalCookieLogin(t *testing.T) {
	c := startCore(t, Options{})
	body := loadJSON(t, "authenticate-local-request.json")
	r := call(t, "POST", c.APIURL()+"/authenticate/local", body, nil)
	if r.status != 200 || !strings.Contains(r.body, "User authenticated successfully") {
		t.Fatalf("login: %d %q", r.status, r.body)
	}
	ck := r.header.Get("Set-Cookie")
	if !strings.Contains(ck, "SameSite=None") || !strings.Contains(ck, "Secure") {
		t.Fatalf("cookie %q", ck)
	}
	cookie := strings.SplitN(ck, ";", 2)[0]
	if r := call(t, "GET", c.APIURL()+"/about", nil, map[string]string{"Cookie": cookie}); r.status != 200 {
		t.Fatalf("with cookie: %d", r.status)
	}
	call(t, "GET", c.APIURL()+"/logout", nil, map[string]string{"Cookie": cookie})
	if r := call(t, "GET", c.APIURL()+"/about", nil, map[string]string{"Cookie": cookie}); r.status != 401 {
		t.Fatalf("after logout: %d", r.status)
	}
	bad := call(t, "POST", c.APIURL()+"/authenticate/local", map[string]any{"username": RootEmail, "password": "nope"}, nil)
	if bad.status != 401 || strings.Contains(bad.body, "nope") {
		t.Fatalf("bad login: %d %q", bad.status, bad.body)
	}
}

func TestNonAdminGets403(t *testing.T) {
	c := startCore(t, Options{})
	c.AddUser(User{Email: "op@example.org", Password: "pw", Groups: []string{"operator"}})
	h := map[string]string{"Authorization": basicAuth("op@example.org", "pw")}
	for _, tc := range []struct{ method, path string }{
		{"POST", "/mediators"}, {"GET", "/mediators"}, {"POST", "/channels"}, {"POST", "/transactions"},
		{"PUT", "/mediators/urn:x/config"}, {"POST", "/mediators/urn:x/channels"},
	} {
		r := call(t, tc.method, c.APIURL()+tc.path, map[string]any{}, h)
		if r.status != 403 || !strings.Contains(r.body, "is not an admin") {
			t.Errorf("%s %s: %d %q", tc.method, tc.path, r.status, r.body)
		}
	}
}

func TestContract80_PublicHeartbeat(t *testing.T) {
	now := time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)
	clock := now
	c := startCore(t, Options{Now: func() time.Time { return clock }})
	root(t, c, "POST", "/mediators", minimalMediator("urn:a", "1.0.0"))
	root(t, c, "POST", "/mediators", minimalMediator("urn:never", "1.0.0"))
	root(t, c, "POST", "/mediators/urn:a/heartbeat", map[string]any{"uptime": 50.25})
	clock = now.Add(30 * time.Second)
	r := call(t, "GET", c.APIURL()+"/heartbeat", nil, nil)
	if r.status != 200 {
		t.Fatalf("got %d", r.status)
	}
	m := decode(t, r.body).(map[string]any)
	meds := m["mediators"].(map[string]any)
	if meds["urn:a"] != 50.25 || meds["urn:never"] != nil {
		t.Fatalf("mediators %v", meds)
	}
	if m["master"].(float64) != 30 || m["now"].(float64) != float64(clock.UnixMilli()) {
		t.Fatalf("master/now %v", m)
	}
	// The shared payload has the same shape.
	for k := range loadJSON(t, "core-heartbeat-response.json") {
		if _, ok := m[k]; !ok {
			t.Errorf("missing %s", k)
		}
	}
	clock = now.Add(61 * time.Second)
	m = decode(t, call(t, "GET", c.APIURL()+"/heartbeat", nil, nil).body).(map[string]any)
	if m["mediators"].(map[string]any)["urn:a"] != nil {
		t.Fatalf("silent >60s must be null: %v", m)
	}
}

func TestContract81_About(t *testing.T) {
	c := startCore(t, Options{TimeZone: "Africa/Johannesburg"})
	if r := call(t, "GET", c.APIURL()+"/about", nil, nil); r.status != 401 {
		t.Fatalf("unauthenticated: %d", r.status)
	}
	r := root(t, c, "GET", "/about", nil)
	want := loadJSON(t, "about-response.json")
	got := decode(t, r.body).(map[string]any)
	if r.status != 200 || got["currentCoreVersion"] != want["currentCoreVersion"] || got["serverTimezone"] != want["serverTimezone"] {
		t.Fatalf("got %d %v", r.status, got)
	}
}

func TestRequestsRecorded(t *testing.T) {
	c := startCore(t, Options{})
	root(t, c, "GET", "/about?x=1", nil)
	reqs := c.Requests()
	if len(reqs) != 1 || reqs[0].Method != "GET" || reqs[0].Path != "/about" || reqs[0].RawQuery != "x=1" ||
		reqs[0].Header.Get("Authorization") != rootBasic {
		t.Fatalf("%+v", reqs)
	}
}
