// Package tlsreload serves HTTPS from certificate files that may change
// under a running mediator: a renewed certificate (cert-manager, certbot,
// a rotated client CA) is picked up on SIGHUP or when the files change,
// for new handshakes only, so open connections carry on undisturbed.
//
// With a client CA the listener asks every client for a certificate and
// verifies any it gets against that CA (a certificate signed by anyone
// else fails the handshake). It does not demand one at the handshake:
// health checks and Prometheus carry none. Workflow endpoints demand one
// with ClientVerified, which is how OpenHIM core authenticates itself on a
// route with `secured: true`.
package tlsreload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
)

// Files are the PEM files TLS is served from.
type Files struct {
	Cert, Key string
	ClientCA  string // optional: client certificates must be signed by it
}

// Reloader holds the current certificate and client CA pool.
type Reloader struct {
	files Files
	log   logrus.FieldLogger

	mu     sync.RWMutex
	cert   *tls.Certificate
	pool   *x509.CertPool
	digest [32]byte // of the files' contents, to see changes
}

// New loads the files; an error means HTTPS cannot start.
func New(f Files, log logrus.FieldLogger) (*Reloader, error) {
	if f.Cert == "" || f.Key == "" {
		return nil, errors.New("TLS needs both a certificate (TLS_CERT_FILE/--tls-cert) and a key (TLS_KEY_FILE/--tls-key)")
	}
	if log == nil {
		l := logrus.New()
		l.SetOutput(nopWriter{})
		log = l
	}
	r := &Reloader{files: f, log: log}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }

// RequiresClientCerts reports whether a client CA is configured.
func (r *Reloader) RequiresClientCerts() bool { return r.files.ClientCA != "" }

// read returns the files' contents and their digest.
func (r *Reloader) read() (cert, key, ca []byte, digest [32]byte, err error) {
	if cert, err = os.ReadFile(r.files.Cert); err != nil {
		return nil, nil, nil, digest, fmt.Errorf("TLS certificate: %w", err)
	}
	if key, err = os.ReadFile(r.files.Key); err != nil {
		return nil, nil, nil, digest, fmt.Errorf("TLS key: %w", err)
	}
	if r.files.ClientCA != "" {
		if ca, err = os.ReadFile(r.files.ClientCA); err != nil {
			return nil, nil, nil, digest, fmt.Errorf("TLS client CA: %w", err)
		}
	}
	digest = sha256.Sum256(bytes.Join([][]byte{cert, key, ca}, []byte{0}))
	return cert, key, ca, digest, nil
}

// Reload reads the files again. On any error the previous certificate
// stays in use (a half-written renewal must not take HTTPS down).
func (r *Reloader) Reload() error {
	certPEM, keyPEM, caPEM, digest, err := r.read()
	if err != nil {
		return err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// Never echo the key file's content.
		return fmt.Errorf("TLS certificate %s and key %s do not form a pair: %v", r.files.Cert, r.files.Key, errors.Unwrap(err))
	}
	if cert.Leaf == nil && len(cert.Certificate) > 0 {
		cert.Leaf, _ = x509.ParseCertificate(cert.Certificate[0])
	}
	var pool *x509.CertPool
	if r.files.ClientCA != "" {
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return fmt.Errorf("TLS client CA %s holds no PEM certificate", r.files.ClientCA)
		}
	}
	r.mu.Lock()
	changed := r.digest != digest
	r.cert, r.pool, r.digest = &cert, pool, digest
	r.mu.Unlock()
	if changed && cert.Leaf != nil {
		r.log.WithFields(logrus.Fields{"subject": cert.Leaf.Subject.String(), "not_after": cert.Leaf.NotAfter.UTC().Format(time.RFC3339)}).Info("TLS certificate loaded")
	}
	return nil
}

// Config is the listener's TLS configuration; every handshake reads the
// current certificate and CA pool.
func (r *Reloader) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			r.mu.RLock()
			cert, pool := r.cert, r.pool
			r.mu.RUnlock()
			c := &tls.Config{
				MinVersion:   tls.VersionTLS12,
				NextProtos:   []string{"http/1.1"},
				Certificates: []tls.Certificate{*cert},
			}
			if pool != nil {
				c.ClientCAs = pool
				c.ClientAuth = tls.VerifyClientCertIfGiven
			}
			return c, nil
		},
	}
}

// Current is the certificate now served.
func (r *Reloader) Current() *x509.Certificate {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.cert.Leaf
}

// Start reloads on SIGHUP and when the files' contents change (checked
// every interval; default 5s), until ctx ends; the channel closes then.
// The signal handler is installed before Start returns, so a SIGHUP sent
// afterwards can never take the default action (ending the process).
func (r *Reloader) Start(ctx context.Context, interval time.Duration) <-chan struct{} {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer signal.Stop(hup)
		r.watch(ctx, interval, hup)
	}()
	return done
}

func (r *Reloader) watch(ctx context.Context, interval time.Duration, hup <-chan os.Signal) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := r.Reload(); err != nil {
				r.log.WithError(err).Error("SIGHUP: TLS files not reloaded; still serving the previous certificate")
			}
		case <-t.C:
			_, _, _, digest, err := r.read()
			r.mu.RLock()
			same := digest == r.digest
			r.mu.RUnlock()
			if err != nil || same {
				continue // a file mid-rename: try again next tick
			}
			if err := r.Reload(); err != nil {
				r.log.WithError(err).Warn("TLS files changed but do not load yet; still serving the previous certificate")
			}
		}
	}
}

// ClientVerified reports whether the request came over TLS with a client
// certificate that verified against the client CA.
func ClientVerified(req *http.Request) bool {
	return req.TLS != nil && len(req.TLS.VerifiedChains) > 0
}
