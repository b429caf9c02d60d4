package mediator

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type testCert struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	tlsCert tls.Certificate
	pemFile string
}

// makeCert issues a certificate signed by parent (self-signed when nil).
func makeCert(t *testing.T, dir, name string, parent *testCert, isCA bool, cn string, dns []string, ips []net.IP) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    dns, IPAddresses: ips,
		BasicConstraintsValid: true, IsCA: isCA,
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	f := filepath.Join(dir, name+".pem")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	chain := [][]byte{der}
	if parent != nil {
		chain = append(chain, parent.cert.Raw)
	}
	return &testCert{cert: cert, key: key, tlsCert: tls.Certificate{Certificate: chain, PrivateKey: key}, pemFile: f}
}

func tlsCore(t *testing.T, leaf *testCert) string {
	t.Helper()
	core := newFakeCore(t)
	srv := httptest.NewUnstartedServer(core)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.tlsCert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // rejected handshakes are the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestTLSModes(t *testing.T) {
	dir := t.TempDir()
	loopback := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
	ca := makeCert(t, dir, "ca", nil, true, "Test CA", nil, nil)
	sanLeaf := makeCert(t, dir, "san", ca, false, "core", []string{"localhost"}, loopback)
	// Like core's default certificate: self-signed, CN=localhost, no SAN.
	cnOnly := makeCert(t, dir, "cnonly", nil, true, "localhost", nil, nil)
	other := makeCert(t, dir, "other", nil, true, "Other CA", nil, nil)

	sanURL := tlsCore(t, sanLeaf)
	cnURL := tlsCore(t, cnOnly)
	cnURLByName := strings.Replace(cnURL, "127.0.0.1", "localhost", 1)
	fp := sha256.Sum256(cnOnly.cert.Raw)
	pin := hex.EncodeToString(fp[:])

	tests := []struct {
		name   string
		url    string
		mode   TLSMode
		ca     string
		pin    string
		wantOK bool
	}{
		{"self-signed rejected by default", sanURL, "", "", "", false},
		{"cn-only rejected by default", cnURL, TLSVerify, "", "", false},
		{"trust self-signed accepts", cnURL, TLSInsecure, "", "", true},
		{"CA file accepts a SAN cert", sanURL, TLSVerify, ca.pemFile, "", true},
		{"wrong CA file rejects", sanURL, TLSVerify, other.pemFile, "", false},
		{"CA file + cn-only cert, host equals CN", cnURLByName, TLSVerify, cnOnly.pemFile, "", true},
		{"CA file + cn-only cert, host differs from CN", cnURL, TLSVerify, cnOnly.pemFile, "", false},
		{"pinned CA ignores the hostname", cnURL, TLSPinned, cnOnly.pemFile, "", true},
		{"pinned to the wrong CA rejects", cnURL, TLSPinned, other.pemFile, "", false},
		{"pinned fingerprint accepts", cnURL, TLSPinned, "", pin, true},
		{"pinned fingerprint with colons", cnURL, TLSPinned, "", strings.ToUpper(pin[:2]) + ":" + pin[2:], true},
		{"wrong fingerprint rejects", sanURL, TLSPinned, "", pin, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(ClientOptions{APIURL: tc.url, Username: rootEmail, Password: rootPassword,
				TLS: tc.mode, CAFile: tc.ca, PinSHA256: tc.pin, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.About(context.Background())
			if tc.wantOK && err != nil {
				t.Fatalf("want success, got %v", err)
			}
			if !tc.wantOK {
				if err == nil {
					t.Fatal("want a TLS failure, got success")
				}
				if !strings.Contains(err.Error(), "cannot reach core") {
					t.Errorf("error does not say core was unreachable: %v", err)
				}
				assertNoSecrets(t, err.Error())
			}
		})
	}
}

func TestParseTLSMode(t *testing.T) {
	for in, want := range map[string]TLSMode{"": TLSVerify, "Verify": TLSVerify, "pinned": TLSPinned,
		"trust-self-signed": TLSInsecure, "insecure": TLSInsecure} {
		got, err := ParseTLSMode(in)
		if err != nil || got != want {
			t.Errorf("ParseTLSMode(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseTLSMode("yes"); err == nil {
		t.Error("ParseTLSMode accepted yes")
	}
}

func TestCAFileWithoutPEM(t *testing.T) {
	f := filepath.Join(t.TempDir(), "empty.pem")
	_ = os.WriteFile(f, []byte("not a cert"), 0o644)
	_, err := NewClient(ClientOptions{APIURL: "https://core:8080", Username: "u", Password: "p", CAFile: f})
	if err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("err = %v", err)
	}
}
