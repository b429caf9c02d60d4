package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/jobmediator/jobmediator/internal/version"
)

// SignatureHeader carries "sha256=<hex of HMAC-SHA256 over the raw body>"
// keyed with the webhook's secret, as GitHub signs its webhooks.
const SignatureHeader = "X-JobMediator-Signature"

// Sign returns the SignatureHeader value for body.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a SignatureHeader value in constant time.
func Verify(secret string, body []byte, header string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(header))
}

// Webhook POSTs each message as JSON.
type Webhook struct {
	URL    string
	Secret string // signs the body; "" sends unsigned
	Client *http.Client
	Retry  Retry
}

// NewWebhook checks the URL.
func NewWebhook(raw, secret string) (*Webhook, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The URL may hold a token (Slack-style): never echo it.
		return nil, fmt.Errorf("webhook URL is not an http(s) URL with a host")
	}
	return &Webhook{URL: raw, Secret: secret, Client: &http.Client{Timeout: 30 * time.Second}, Retry: DefaultRetry}, nil
}

// Kind implements Sink.
func (w *Webhook) Kind() string { return "webhook" }

// Target is scheme and host only: chat webhooks carry their token in the
// path.
func (w *Webhook) Target() string {
	u, err := url.Parse(w.URL)
	if err != nil {
		return "webhook"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// Send implements Sink: 2xx is delivered; 429, 5xx and network errors are
// retried with backoff; other answers are final.
func (w *Webhook) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return Permanent(err)
	}
	return w.Retry.deliver(ctx, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
		if err != nil {
			return Permanent(fmt.Errorf("webhook %s: %v", w.Target(), err))
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "jobmediator/"+version.String())
		req.Header.Set("X-JobMediator-Event", string(m.Event))
		req.Header.Set("X-JobMediator-Delivery", m.ID)
		if w.Secret != "" {
			req.Header.Set(SignatureHeader, Sign(w.Secret, body))
		}
		resp, err := w.Client.Do(req)
		if err != nil {
			// url.Error repeats the URL (and its token): say only the host.
			return fmt.Errorf("webhook %s: %s", w.Target(), cause(err))
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // drain for reuse; best effort
		resp.Body.Close()
		switch {
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			return nil
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			return fmt.Errorf("webhook %s answered %d", w.Target(), resp.StatusCode)
		}
		return Permanent(fmt.Errorf("webhook %s answered %d", w.Target(), resp.StatusCode))
	})
}

// cause is an error without the url.Error wrapper.
func cause(err error) string {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err.Error()
	}
	return err.Error()
}
