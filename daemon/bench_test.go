package daemon

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/jobmediator/jobmediator/bench"
	"github.com/jobmediator/jobmediator/config"
)

// BenchmarkRoutedTransaction is one routed request of the example project
// (examples/hello-upstream: one job, one upstream POST, embedded store)
// through the daemon's whole handler, in process: allocs/op and B/op of
// the routed path (make bench measures it through the binary).
func BenchmarkRoutedTransaction(b *testing.B) {
	up := httptest.NewServer(bench.UpstreamHandler())
	defer up.Close()
	dir := b.TempDir()
	creds := filepath.Join(dir, "credentials.yaml")
	if err := os.WriteFile(creds, []byte("upstream:\n  baseUrl: "+up.URL+"\n  username: demo\n  password: demo-secret\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	s := config.DefaultSettings()
	s.ProjectPath = "../examples/hello-upstream"
	s.CredentialsPath = creds
	s.DataDir = filepath.Join(dir, "data")
	s.LogLevel = "warn"
	// jobs in the daemon: this measures the routed path itself; the worker
	// processes' share shows in make bench, which runs the real binary
	s.Isolation = config.IsolationNone
	d, err := New(s, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	defer d.store.Close()
	body := []byte(`{"resourceType":"Patient","id":"p-1","name":[{"family":"Doe","given":["Jane"]}],"gender":"female","birthDate":"1990-01-01"}`)
	h := d.Handler()
	call := func() {
		req := httptest.NewRequest(http.MethodPost, "/hello", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
	for i := 0; i < 20; i++ { // warm the VM pool and connections
		call()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		call()
	}
}
