package http_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/bench"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/runtime"
)

// BenchmarkPost is the job of examples/hello-upstream (one language-http 7
// post of state.data to a loopback upstream), run as a routed request runs
// it: one step on a warm pool, with credentials, redaction and the call
// recorder. The sub-benchmark "fn" runs fn(s => s) on the same adaptor: the
// difference is what one post costs.
func BenchmarkPost(b *testing.B) {
	up := httptest.NewServer(bench.UpstreamHandler())
	defer up.Close()
	conf := map[string]any{"baseUrl": up.URL, "username": "demo", "password": "demo-secret"}
	in := []byte(`{"data":{"resourceType":"Patient","id":"p-1","name":[{"family":"Doe","given":["Jane"]}],"gender":"female","birthDate":"1990-01-01"}}`)
	// "go": the same POST made from Go through the call recorder, no job:
	// post minus go is what the job and the adaptor add to the call itself
	b.Run("go", func(b *testing.B) {
		body := in[len(`{"data":`) : len(in)-1]
		b.ReportAllocs()
		for b.Loop() {
			red := redact.New()
			red.AddSecretsFrom(conf)
			c := recorder.NewClient(nil, recorder.NewRecorder(red))
			req, _ := http.NewRequest(http.MethodPost, up.URL+"/records", nil)
			req.SetBasicAuth("demo", "demo-secret")
			req.Header.Set("Content-Type", "application/json")
			if _, err := c.Do(context.Background(), "POST /records", req, body); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, bc := range []struct{ name, body string }{
		{"post", "post('/records', $.data);"},
		{"fn", "fn(s => s);"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := runtime.New(runtime.Options{})
			job := &config.Job{Key: "step", Adaptor: "@openfn/language-http@7", Body: bc.body, Credential: "cred"}
			run := func() {
				red := redact.New()
				res := e.RunJob(context.Background(), job, config.CompatLightning, in, runtime.RunRequest{
					HTTP: recorder.NewClient(nil, recorder.NewRecorder(red)), Redactor: red,
					Credential: func(k string) (map[string]any, bool) { return conf, k == "cred" },
				})
				if res.Status != runtime.StatusSuccess {
					b.Fatalf("%+v", res.Error)
				}
			}
			run()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				run()
			}
		})
	}
}
