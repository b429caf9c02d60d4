package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSecuritySettings(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(cert, []byte("x"), 0o600)
	os.WriteFile(key, []byte("x"), 0o600)
	s, errs := SettingsFromEnv(envFrom(map[string]string{
		"TLS_CERT_FILE": cert, "TLS_KEY_FILE": key, "TLS_CLIENT_CA_FILE": cert,
		"JM_PUBLIC_URL":            "https://jm.example.org",
		"JM_NOTIFY_WEBHOOK_URL":    "https://hooks.example.org/T0KEN",
		"JM_NOTIFY_WEBHOOK_SECRET": " spaced secret ",
		"JM_SMTP_URL":              "smtp://alerts:smtp-Pass@mail.example.org:587",
		"JM_NOTIFY_EMAIL_FROM":     "jm@example.org",
		"JM_NOTIFY_EMAIL_TO":       "a@example.org, b@example.org",
		"JM_NOTIFY_WINDOW":         "30s",
		"JM_NOTIFY_REPEAT":         "2h",
		"JM_PROJECT":               "p",
	}))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if s.TLSCertFile != cert || s.TLSClientCAFile != cert || s.NotifyWebhookSecret != " spaced secret " ||
		strings.Join(s.NotifyEmailTo, "|") != "a@example.org|b@example.org" || s.NotifyWindow != 30*time.Second || s.NotifyRepeat != 2*time.Hour {
		t.Fatalf("settings = %+v", s)
	}
	if errs := s.Validate(); len(errs) > 0 {
		t.Fatalf("valid settings refused: %v", errs)
	}
	r := s.Redacted()
	for k, v := range r {
		if str, ok := v.(string); ok && (strings.Contains(str, "T0KEN") || strings.Contains(str, "smtp-Pass") || strings.Contains(str, "spaced secret")) {
			t.Errorf("%s shows a secret: %s", k, str)
		}
	}
	if r["notify_webhook"] != "***" || r["smtp"] != "***" {
		t.Errorf("redacted = %v", r)
	}

	for _, c := range []struct {
		mut  func(*Settings)
		want string
	}{
		{func(s *Settings) { s.TLSKeyFile = "" }, "both a certificate and its key"},
		{func(s *Settings) { s.TLSCertFile, s.TLSKeyFile = "", "" }, "client certificates need HTTPS"},
		{func(s *Settings) { s.TLSCertFile = filepath.Join(dir, "missing.crt") }, "cannot be read"},
		{func(s *Settings) { s.PublicURL = "jm.example.org" }, "not an http(s) URL"},
	} {
		bad := s
		c.mut(&bad)
		errs := bad.Validate()
		if len(errs) == 0 || !strings.Contains(errs[0].Error(), c.want) {
			t.Errorf("want %q, got %v", c.want, errs)
		}
	}
	if _, errs := SettingsFromEnv(envFrom(map[string]string{"JM_NOTIFY_WINDOW": "soon"})); len(errs) != 1 || !strings.Contains(errs[0].Error(), "JM_NOTIFY_WINDOW") {
		t.Errorf("bad window: %v", errs)
	}
}
