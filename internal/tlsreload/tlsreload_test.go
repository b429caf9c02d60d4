package tlsreload

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/internal/testpki"
)

type pki struct {
	ca, other         *testpki.CA
	server            *testpki.Leaf
	core, stranger    *testpki.Leaf
	cert, key, caFile string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	p := &pki{}
	var err error
	p.ca, err = testpki.NewCA("mediator CA")
	must(err)
	p.other, err = testpki.NewCA("stranger CA")
	must(err)
	p.server, err = p.ca.Server("jobmediator", "127.0.0.1")
	must(err)
	p.core, err = p.ca.Client("openhim-core")
	must(err)
	p.stranger, err = p.other.Client("openhim-core") // same name, wrong signer
	must(err)
	dir := t.TempDir()
	p.cert, p.key, err = p.server.Write(dir, "server")
	must(err)
	p.caFile, err = p.ca.Write(dir, "clients")
	must(err)
	return p
}

// serve starts HTTPS on loopback with r; the handler says whether the
// client was verified.
func serve(t *testing.T, r *Reloader) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if ClientVerified(req) {
			io.WriteString(w, "verified "+req.TLS.VerifiedChains[0][0].Subject.CommonName)
			return
		}
		io.WriteString(w, "anonymous")
	})}
	go srv.Serve(tls.NewListener(ln, r.Config()))
	t.Cleanup(func() { srv.Close() })
	return "https://" + ln.Addr().String() + "/"
}

func client(roots *x509.CertPool, cert *testpki.Leaf) *http.Client {
	c := &tls.Config{RootCAs: roots}
	if cert != nil {
		// Present the certificate whatever CAs the server names (Go's
		// default would quietly withhold a certificate from another CA;
		// other clients send it).
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert.TLS, nil }
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: c}}
}

func get(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// Real handshakes: core's certificate verifies, no certificate is
// anonymous, a certificate from another CA fails the handshake, and a
// client that does not trust our CA refuses us.
func TestClientCertificates(t *testing.T) {
	p := newPKI(t)
	r, err := New(Files{Cert: p.cert, Key: p.key, ClientCA: p.caFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, r)
	cases := []struct {
		name    string
		roots   *x509.CertPool
		cert    *testpki.Leaf
		want    string
		wantErr string
	}{
		{"core's certificate", p.ca.Pool(), p.core, "verified openhim-core", ""},
		{"no certificate", p.ca.Pool(), nil, "anonymous", ""},
		{"untrusted client", p.ca.Pool(), p.stranger, "", "certificate"},
		{"client that does not trust us", p.other.Pool(), p.core, "", "certificate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := get(client(c.roots, c.cert), url)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("got %q, err %v; want an error about %q", got, err, c.wantErr)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %q, err %v; want %q", got, err, c.want)
			}
		})
	}
}

// A renewed certificate is served to new connections after a file change
// or SIGHUP, while an open connection carries on.
func TestReloadKeepsConnections(t *testing.T) {
	p := newPKI(t)
	r, err := New(Files{Cert: p.cert, Key: p.key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, r)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watching := r.Start(ctx, 20*time.Millisecond)

	both := p.ca.Pool()
	both.AddCert(p.other.Cert)
	c := client(both, nil)
	if _, err := get(c, url); err != nil {
		t.Fatal(err)
	}

	// Renew: the same files now hold a certificate from another CA.
	renewed, err := p.other.Server("jobmediator-renewed", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	// A half-written renewal (new cert, old key) must not replace the
	// working pair.
	os.WriteFile(p.cert, renewed.CertPEM, 0o600)
	if err := r.Reload(); err == nil || !strings.Contains(err.Error(), "do not form a pair") {
		t.Fatalf("reload of a half-written renewal: %v", err)
	}
	if got := r.Current().Subject.CommonName; got != "jobmediator" {
		t.Fatalf("half-written renewal loaded: serving %q", got)
	}
	os.WriteFile(p.key, renewed.KeyPEM, 0o600)
	deadline := time.Now().Add(10 * time.Second)
	for r.Current().Subject.CommonName != "jobmediator-renewed" {
		if time.Now().After(deadline) {
			t.Fatal("file change not picked up")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The kept-alive connection from before is reused and still works.
	var reused bool
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !reused {
		t.Fatal("the open connection was dropped by the reload")
	}
	// A new connection sees the renewed certificate.
	conn, err := tls.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(url, "https://"), "/"), &tls.Config{RootCAs: both})
	if err != nil {
		t.Fatal(err)
	}
	if cn := conn.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "jobmediator-renewed" {
		t.Fatalf("new connection got %q", cn)
	}
	conn.Close()

	// SIGHUP reloads too (here back to the first certificate). Polling
	// stops first, so only the signal can reload.
	cancel()
	<-watching
	os.WriteFile(p.cert, p.server.CertPEM, 0o600)
	os.WriteFile(p.key, p.server.KeyPEM, 0o600)
	if got := r.Current().Subject.CommonName; got != "jobmediator-renewed" {
		t.Fatalf("reloaded without being told: %q", got)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	r.Start(ctx2, time.Hour)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for r.Current().Subject.CommonName != "jobmediator" {
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP did not reload")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBadFiles(t *testing.T) {
	p := newPKI(t)
	cases := []struct {
		name string
		f    Files
		want string
	}{
		{"no key", Files{Cert: p.cert}, "TLS_KEY_FILE"},
		{"missing cert", Files{Cert: p.cert + ".nope", Key: p.key}, "TLS certificate"},
		{"cert is not the key's", Files{Cert: p.caFile, Key: p.key}, "do not form a pair"},
		{"CA file without PEM", Files{Cert: p.cert, Key: p.key, ClientCA: p.key}, "no PEM certificate"},
	}
	for _, c := range cases {
		_, err := New(c.f, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", c.name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Errorf("%s: error shows the key: %v", c.name, err)
		}
	}
}
