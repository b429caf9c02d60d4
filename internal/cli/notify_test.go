package cli

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/jobmediator/jobmediator/notify"
)

// notify-test reaches every sink, says which failed, and exits 1 then.
func TestNotifyTest(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if !notify.Verify("cli-secret", b, r.Header.Get(notify.SignatureHeader)) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
	}))
	defer hook.Close()
	env := map[string]string{
		"JM_PROJECT":               "../../examples/hello-upstream",
		"JM_NOTIFY_WEBHOOK_URL":    hook.URL + "/hooks/tok3n",
		"JM_NOTIFY_WEBHOOK_SECRET": "cli-secret",
	}
	code, out, errs := runCLI(t, env, "notify-test")
	if code != 0 || !strings.Contains(out, "sent    webhook "+hook.URL+"/…") || len(bodies) != 1 || !strings.Contains(bodies[0], `"status":"test"`) {
		t.Fatalf("exit %d\nstdout %s\nstderr %s\ndelivered %v", code, out, errs, bodies)
	}
	if strings.Contains(out, "tok3n") {
		t.Errorf("the webhook's path (its token) is printed: %s", out)
	}

	env["JM_NOTIFY_WEBHOOK_SECRET"] = "wrong-secret" // the receiver refuses: 401 is final
	if code, out, _ := runCLI(t, env, "notify-test"); code != 1 || !strings.Contains(out, "FAILED  webhook") || !strings.Contains(out, "401") {
		t.Fatalf("a refusing sink: exit %d, %s", code, out)
	}

	if code, _, errs := runCLI(t, map[string]string{"JM_PROJECT": "../../examples/hello-upstream"}, "notify-test"); code != 2 || !strings.Contains(errs, "no notification sink") {
		t.Fatalf("no sinks: exit %d, %s", code, errs)
	}
}
