package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// JM_CONSOLE_ADDR moves the console off the mediator's port; off removes it.
func TestConsoleListenAddress(t *testing.T) {
	const token = "listen-test-token"
	consolePort := freePort(t)
	p := start(t, map[string]string{"JM_PROJECT": "../examples/hello-upstream", "JM_API_TOKEN": token,
		"JM_ADMIN_PASSWORD": "listen-admin-pw", "JM_CONSOLE_ADDR": fmt.Sprintf("127.0.0.1:%d", consolePort)})
	consoleURL := fmt.Sprintf("http://127.0.0.1:%d", consolePort)
	if !strings.Contains(p.Logs(), fmt.Sprintf(`"console":"http://127.0.0.1:%d/console/"`, consolePort)) {
		t.Fatalf("the log does not name the console's own address:\n%s", p.Logs())
	}
	if strings.Contains(p.Logs(), "listen-admin-pw") || strings.Contains(p.Logs(), "password ") {
		t.Fatalf("the admin password from JM_ADMIN_PASSWORD was printed:\n%s", p.Logs())
	}
	if code, _ := get(t, p.URL()+"/console/login", ""); code != http.StatusNotFound {
		t.Fatalf("the console still answers on the mediator's port: %d", code)
	}
	if code, body := get(t, consoleURL+"/console/login", ""); code != 200 || !strings.Contains(body, `name="password"`) {
		t.Fatalf("console port /console/login = %d", code)
	}
	// Its API routes answer on both: automation keeps using the main port.
	for _, base := range []string{p.URL(), consoleURL} {
		if code, body := get(t, base+"/api/users", token); code != 200 || !strings.Contains(body, `"username":"admin"`) {
			t.Fatalf("%s/api/users = %d %s", base, code, body)
		}
	}

	off := start(t, map[string]string{"JM_PROJECT": "../examples/hello-upstream", "JM_API_TOKEN": token, "JM_CONSOLE_ADDR": "off"})
	if code, _ := get(t, off.URL()+"/console/login", ""); code != http.StatusNotFound {
		t.Fatalf("JM_CONSOLE_ADDR=off still serves the console: %d", code)
	}
	if strings.Contains(off.Logs(), "first-run admin") {
		t.Fatal("JM_CONSOLE_ADDR=off still made an admin")
	}
	if code, _ := get(t, off.URL()+"/api/runs", token); code != 200 {
		t.Fatalf("the operator API with the console off = %d", code)
	}
	if code, _ := get(t, off.URL()+"/api/users", token); code != http.StatusNotFound {
		t.Fatalf("/api/users with the console off = %d", code)
	}
}
