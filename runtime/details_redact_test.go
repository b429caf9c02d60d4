package runtime

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/config"
)

// A failed http@5 request keeps the request it sent in the error's
// details; a sign-in body carries the password. Neither the Result's error
// nor errors[stepId] in state may show it.
func TestFailedRequestDetailsAreRedacted(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"errors":["Invalid login credentials"]}`, http.StatusUnauthorized)
	}))
	defer up.Close()
	const pw = "oscar-sign-in-secret"
	job := &config.Job{Key: "signin", Adaptor: "@openfn/language-http@5.0.4", Credential: "oscar",
		Body: "post('/api/v1/admin_auth/sign_in', { body: { email: state.configuration.username, password: state.configuration.password } });"}
	for _, compat := range []config.Compat{config.CompatLightning, config.CompatLegacy} {
		res := New(Options{}).RunJob(context.Background(), job, compat, json.RawMessage(`{}`), RunRequest{
			Credential: func(string) (map[string]any, bool) {
				return map[string]any{"baseUrl": up.URL, "username": "openfn@oscar.org", "password": pw}, true
			},
			HTTP: recorder.NewClient(up.Client(), recorder.NewRecorder(nil)),
		})
		if res.Status == StatusSuccess || res.Error == nil {
			t.Fatalf("%s: sign-in with a 401 must fail", compat)
		}
		b, _ := json.Marshal(res.Error)
		if strings.Contains(string(b)+string(res.State), pw) {
			t.Fatalf("%s: password leaked:\nerror: %s\nstate: %s", compat, b, res.State)
		}
		if res.Error.StatusCode != 401 {
			t.Fatalf("%s: status code lost: %+v", compat, res.Error)
		}
	}
}
