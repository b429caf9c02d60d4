package mediator

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// TLSMode is how the client checks core's certificate (openhim.md §1.6).
type TLSMode string

const (
	// TLSVerify (the default, also ""): the chain must lead to a system CA
	// or one from CAFile, and the hostname must match. Core's default
	// certificate (CN=localhost, no subjectAltName) fails this in Go even
	// when trusted, with one exception: when CAFile is given and the
	// certificate has no SANs at all, its CN is matched against the host,
	// as Go did before 1.15. For any other host name, give core a
	// certificate with a SAN, or use TLSPinned or TLSInsecure.
	TLSVerify TLSMode = "verify"
	// TLSPinned: the chain must lead to a CA in CAFile (or, without CAFile,
	// the certificate must match PinSHA256), and the hostname is not
	// checked. This is the safe way to use core's SAN-less default
	// certificate: pass that certificate as CAFile.
	TLSPinned TLSMode = "pinned"
	// TLSInsecure skips verification (TRUST_SELF_SIGNED=true in the
	// ecosystem's mediators). Traffic is encrypted but not authenticated.
	TLSInsecure TLSMode = "insecure"
	// TLSInsecureSkipVerify is TLSInsecure under Go's name for it.
	TLSInsecureSkipVerify = TLSInsecure
)

// ParseTLSMode accepts the mode names plus the ecosystem's spellings
// ("trust-self-signed", "skip-verify").
func ParseTLSMode(s string) (TLSMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "verify", "strict":
		return TLSVerify, nil
	case "pinned", "pin", "ca":
		return TLSPinned, nil
	case "insecure", "insecureskipverify", "insecure-skip-verify", "skip-verify", "trust-self-signed", "trustselfsigned":
		return TLSInsecure, nil
	}
	return "", fmt.Errorf("openhim: TLS mode must be verify, pinned or insecure, got %q", s)
}

// host is the API URL's host name: the client only ever talks to that host,
// and ConnectionState.ServerName is empty when it is an IP address.
func buildTLSConfig(mode TLSMode, caFile, pin, host string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	var pool *x509.CertPool
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("openhim: reading CA file: %w", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("openhim: CA file %s holds no PEM certificate", caFile)
		}
	}
	var pinBytes []byte
	if pin != "" {
		b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(pin), ":", ""))
		if err != nil || len(b) != sha256.Size {
			return nil, errors.New("openhim: TLS pin must be the hex SHA-256 of the server certificate (64 hex digits, colons allowed)")
		}
		pinBytes = b
	}
	switch mode {
	case "", TLSVerify:
		if pinBytes != nil {
			return nil, errors.New("openhim: a certificate pin needs TLS mode pinned")
		}
		if pool == nil {
			return tc, nil // system roots, standard checks
		}
		// Add the bundle to the system roots, as the option promises.
		roots, err := x509.SystemCertPool()
		if err != nil || roots == nil {
			roots = x509.NewCertPool()
		}
		pem, _ := os.ReadFile(caFile)
		roots.AppendCertsFromPEM(pem)
		tc.InsecureSkipVerify = true // replaced by VerifyConnection below
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			leaf, err := verifyChain(cs, roots)
			if err != nil {
				return err
			}
			if err := leaf.VerifyHostname(host); err == nil {
				return nil
			} else if len(leaf.DNSNames) == 0 && len(leaf.IPAddresses) == 0 && leaf.Subject.CommonName != "" &&
				strings.EqualFold(leaf.Subject.CommonName, host) {
				// Legacy CN-only certificate from an explicitly trusted
				// bundle (core's default certificate).
				return nil
			} else {
				return err
			}
		}
		return tc, nil
	case TLSPinned:
		if pool == nil && pinBytes == nil {
			return nil, errors.New("openhim: TLS mode pinned needs a CA file or a certificate pin")
		}
		tc.InsecureSkipVerify = true // replaced by VerifyConnection below
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("openhim: core presented no certificate")
			}
			if pinBytes != nil {
				sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
				if !bytes.Equal(sum[:], pinBytes) {
					return errors.New("openhim: core's certificate does not match the configured pin")
				}
			}
			if pool != nil {
				if _, err := verifyChain(cs, pool); err != nil {
					return err
				}
			}
			return nil
		}
		return tc, nil
	case TLSInsecure:
		tc.InsecureSkipVerify = true
		return tc, nil
	}
	return nil, fmt.Errorf("openhim: unknown TLS mode %q (verify, pinned or insecure)", mode)
}

// verifyChain checks the presented chain against roots without a hostname.
func verifyChain(cs tls.ConnectionState, roots *x509.CertPool) (*x509.Certificate, error) {
	if len(cs.PeerCertificates) == 0 {
		return nil, errors.New("openhim: core presented no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	leaf := cs.PeerCertificates[0]
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err != nil {
		return nil, fmt.Errorf("openhim: core's certificate is not trusted: %w", err)
	}
	return leaf, nil
}
