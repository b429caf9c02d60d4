package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestDeclarativeRunsInDaemon: under the default isolation, the example's
// declarative job (post('/records', $.data)) runs in the daemon without a
// VM — the daemon's metrics count every run as native — and answers and
// records as before; the same workflow with a scripted job runs in a
// worker process (nothing counted) with the same result for the client.
func TestDeclarativeRunsInDaemon(t *testing.T) {
	for _, c := range []struct {
		project    string
		wantNative string
	}{
		{"../examples/hello-upstream", `jobmediator_declarative_steps{way="native"} 5`},
		{"../bench/scripted-upstream", `jobmediator_declarative_steps{way="native"} 0`},
	} {
		t.Run(c.project, func(t *testing.T) {
			up := newRecords(t)
			p := start(t, map[string]string{
				"JM_PROJECT":     c.project,
				"JM_CREDENTIALS": exampleCredentials(t, up.srv.URL, "e2e-declarative-pw"),
			})
			for i := 0; i < 5; i++ {
				resp, err := http.Post(p.URL()+"/hello", "application/json", strings.NewReader(`{"name":"Ana","n":1.0}`))
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !strings.Contains(string(b), `"stored":true`) {
					t.Fatalf("run %d: %d %s", i, resp.StatusCode, b)
				}
			}
			if up.count() != 5 {
				t.Fatalf("upstream got %d records, want 5", up.count())
			}
			up.mu.Lock()
			if up.got[0]["name"] != "Ana" || up.auth[0] != "Basic "+b64("demo:e2e-declarative-pw") {
				t.Errorf("upstream got %v with %q", up.got[0], up.auth[0])
			}
			up.mu.Unlock()
			resp, err := http.Get(p.URL() + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			scrape, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(scrape), c.wantNative) {
				t.Fatalf("/metrics lacks %s:\n%s", c.wantNative, grepLines(string(scrape), "declarative"))
			}
			for _, secret := range []string{"e2e-declarative-pw", b64("demo:e2e-declarative-pw"), b64("e2e-declarative-pw")} {
				if strings.Contains(string(scrape), secret) || strings.Contains(p.Logs(), secret) {
					t.Fatalf("the credential's password leaked into /metrics or the log (%s)", secret)
				}
			}
		})
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
