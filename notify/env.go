package notify

import (
	"errors"
	"fmt"
	"strings"
)

// GlobalConfig is the sinks every message goes to, from the settings
// (JM_NOTIFY_WEBHOOK_URL, JM_NOTIFY_WEBHOOK_SECRET, JM_SMTP_URL,
// JM_SMTP_CA_FILE, JM_NOTIFY_EMAIL_FROM, JM_NOTIFY_EMAIL_TO).
type GlobalConfig struct {
	WebhookURL, WebhookSecret string
	SMTPURL, SMTPCAFile       string
	EmailFrom                 string
	EmailTo                   []string
}

// Build makes the global sinks, and the mail server per-workflow email
// recipients go through (nil when JM_SMTP_URL is unset). Errors never
// repeat a URL or secret.
func (g GlobalConfig) Build() (sinks []Sink, server *SMTP, err error) {
	if g.WebhookURL != "" {
		w, err := NewWebhook(g.WebhookURL, g.WebhookSecret)
		if err != nil {
			return nil, nil, fmt.Errorf("JM_NOTIFY_WEBHOOK_URL: %v", err)
		}
		sinks = append(sinks, w)
	} else if g.WebhookSecret != "" {
		return nil, nil, errors.New("JM_NOTIFY_WEBHOOK_SECRET is set but JM_NOTIFY_WEBHOOK_URL is not")
	}
	if g.SMTPURL != "" {
		s, err := ParseSMTPURL(g.SMTPURL)
		if err != nil {
			return nil, nil, fmt.Errorf("JM_SMTP_URL: %v", err)
		}
		if g.SMTPCAFile != "" {
			if s.RootCAs, err = LoadCA(g.SMTPCAFile); err != nil {
				return nil, nil, fmt.Errorf("JM_SMTP_CA_FILE: %v", err)
			}
		}
		server = &s
		if strings.TrimSpace(g.EmailFrom) == "" {
			return nil, nil, errors.New("JM_SMTP_URL is set but JM_NOTIFY_EMAIL_FROM is not: mail needs a sender")
		}
		if len(g.EmailTo) > 0 {
			e, err := NewEmail(s, g.EmailFrom, g.EmailTo)
			if err != nil {
				return nil, nil, fmt.Errorf("JM_NOTIFY_EMAIL_FROM/JM_NOTIFY_EMAIL_TO: %v", err)
			}
			sinks = append(sinks, e)
		}
	} else if len(g.EmailTo) > 0 {
		return nil, nil, errors.New("JM_NOTIFY_EMAIL_TO is set but JM_SMTP_URL is not: set the mail server as smtp://user:pass@host:587")
	}
	return sinks, server, nil
}
