package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// SMTP is how to reach a mail server: JM_SMTP_URL parsed.
//
//	smtp://user:pass@host:587    STARTTLS (required when a password is given)
//	smtps://user:pass@host:465   TLS from the first byte
//
// A password with special characters is URL-encoded (p%40ss for p@ss).
type SMTP struct {
	Host     string
	Port     int
	Username string
	Password string
	Implicit bool // smtps://
	// RootCAs verifies the server's certificate; nil uses the system pool.
	RootCAs *x509.CertPool
	// LocalName is sent with EHLO; default this host's name.
	LocalName string
	Timeout   time.Duration
}

// ParseSMTPURL reads JM_SMTP_URL. Errors never repeat the URL (it holds a
// password).
func ParseSMTPURL(raw string) (SMTP, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return SMTP{}, errors.New("not a URL")
	}
	var c SMTP
	switch u.Scheme {
	case "smtp":
		c.Port = 587
	case "smtps":
		c.Port, c.Implicit = 465, true
	default:
		return SMTP{}, fmt.Errorf("scheme %q is not smtp or smtps", u.Scheme)
	}
	c.Host = u.Hostname()
	if c.Host == "" {
		return SMTP{}, errors.New("no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return SMTP{}, errors.New("port is not a number from 1 to 65535")
		}
		c.Port = n
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
	}
	if c.Username != "" && c.Password == "" {
		return SMTP{}, errors.New("a user name but no password")
	}
	return c, nil
}

// LoadCA reads a PEM bundle into a pool.
func LoadCA(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return p, nil
}

// Email sends each message as a plain-text mail.
type Email struct {
	Server SMTP
	From   string
	To     []string
	Retry  Retry
}

// NewEmail checks the addresses.
func NewEmail(server SMTP, from string, to []string) (*Email, error) {
	if _, err := mail.ParseAddress(from); err != nil {
		return nil, fmt.Errorf("sender %q is not a mail address", from)
	}
	if len(to) == 0 {
		return nil, errors.New("no recipients")
	}
	for _, a := range to {
		if _, err := mail.ParseAddress(a); err != nil {
			return nil, fmt.Errorf("recipient %q is not a mail address", a)
		}
	}
	return &Email{Server: server, From: from, To: append([]string(nil), to...), Retry: DefaultRetry}, nil
}

// Kind implements Sink.
func (e *Email) Kind() string { return "email" }

// Target implements Sink: recipients and server, no password.
func (e *Email) Target() string {
	return fmt.Sprintf("%s via %s", strings.Join(e.To, ", "), net.JoinHostPort(e.Server.Host, strconv.Itoa(e.Server.Port)))
}

// Send implements Sink. A 4xx reply or a broken connection is retried; a
// 5xx reply (bad login, refused sender or recipient) is final.
func (e *Email) Send(ctx context.Context, m Message) error {
	data := e.compose(m)
	return e.Retry.deliver(ctx, func(ctx context.Context) error {
		err := e.send(ctx, data)
		var tp *textproto.Error
		if errors.As(err, &tp) && tp.Code >= 500 {
			return Permanent(err)
		}
		return err
	})
}

func (e *Email) send(ctx context.Context, data []byte) error {
	s := e.Server
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	addr := net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	d := &net.Dialer{Timeout: timeout}
	tlsConf := &tls.Config{ServerName: s.Host, RootCAs: s.RootCAs, MinVersion: tls.VersionTLS12}
	var conn net.Conn
	var err error
	if s.Implicit {
		conn, err = (&tls.Dialer{NetDialer: d, Config: tlsConf}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return fmt.Errorf("smtp %s: %w", addr, err)
	}
	// One deadline for the whole conversation: a server that stops
	// answering must not hold the outbox for ever.
	_ = conn.SetDeadline(time.Now().Add(timeout))
	c, err := smtp.NewClient(conn, s.Host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp %s: %w", addr, err)
	}
	defer c.Close()
	local := s.LocalName
	if local == "" {
		local, _ = os.Hostname()
		if local == "" {
			local = "localhost"
		}
	}
	if err := c.Hello(local); err != nil {
		return fmt.Errorf("smtp %s: EHLO: %w", addr, err)
	}
	if !s.Implicit {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(tlsConf); err != nil {
				return fmt.Errorf("smtp %s: STARTTLS: %w", addr, err)
			}
		} else if s.Username != "" {
			return Permanent(fmt.Errorf("smtp %s does not offer STARTTLS: refusing to send the password in clear (use smtps:// or a server with STARTTLS)", addr))
		}
	}
	if s.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, s.Host)); err != nil {
			return fmt.Errorf("smtp %s: AUTH: %w", addr, err)
		}
	}
	if err := c.Mail(bareAddress(e.From)); err != nil {
		return fmt.Errorf("smtp %s: MAIL FROM: %w", addr, err)
	}
	for _, to := range e.To {
		if err := c.Rcpt(bareAddress(to)); err != nil {
			return fmt.Errorf("smtp %s: RCPT TO %s: %w", addr, to, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp %s: DATA: %w", addr, err)
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("smtp %s: DATA: %w", addr, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp %s: end of DATA: %w", addr, err)
	}
	return c.Quit()
}

func bareAddress(a string) string {
	if p, err := mail.ParseAddress(a); err == nil {
		return p.Address
	}
	return a
}

// Subject is the mail subject of a message.
func Subject(m Message) string {
	var tag string
	switch m.Status {
	case Firing:
		tag = "FAILING"
	case Resolved:
		tag = "RESOLVED"
	default:
		tag = "TEST"
	}
	s := "[" + m.Mediator + "] " + tag
	if m.Workflow != "" {
		s += " " + m.Workflow
	}
	s += ": " + string(m.Event)
	if m.Status == Firing && m.Count > 1 {
		s += fmt.Sprintf(" (%d times)", m.Count)
	}
	return s
}

// Body is the plain-text content of a message.
func Body(m Message) string {
	var b strings.Builder
	b.WriteString(m.Summary + "\n\n")
	line := func(label, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-12s %s\n", label+":", v)
		}
	}
	line("Workflow", m.Workflow)
	line("Event", string(m.Event))
	line("Status", string(m.Status))
	if m.Status != Testing {
		line("Count", strconv.Itoa(m.Count))
		line("Total", strconv.Itoa(m.Total))
		line("First", m.FirstAt.UTC().Format(time.RFC3339))
		line("Last", m.LastAt.UTC().Format(time.RFC3339))
	}
	line("First error", m.FirstError)
	if m.LastError != m.FirstError {
		line("Last error", m.LastError)
	}
	line("Last run", m.LastRunID)
	line("Runs", m.RunsURL)
	if m.Excerpt != "" {
		b.WriteString("\nPayload excerpt (redacted):\n" + m.Excerpt + "\n")
	}
	b.WriteString("\n-- \n" + m.Mediator + ". One message per workflow and event: storms are digested, and a \"resolved\" message follows recovery.\n")
	return b.String()
}

// headerSafe drops line breaks, so nothing in a workflow name or error can
// add a header.
var headerSafe = strings.NewReplacer("\r", " ", "\n", " ")

func (e *Email) compose(m Message) []byte {
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, headerSafe.Replace(v)) }
	h("From", e.From)
	h("To", strings.Join(e.To, ", "))
	h("Subject", mime.QEncoding.Encode("utf-8", Subject(m)))
	h("Date", m.SentAt.Format(time.RFC1123Z))
	host := e.Server.Host
	h("Message-ID", "<"+m.ID+"@"+host+">")
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "quoted-printable")
	h("X-JobMediator-Event", string(m.Event))
	h("X-JobMediator-Status", string(m.Status))
	if m.Workflow != "" {
		h("X-JobMediator-Workflow", m.Workflow)
	}
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	// Into a bytes.Buffer: these writes cannot fail.
	_, _ = qp.Write([]byte(strings.ReplaceAll(Body(m), "\n", "\r\n")))
	_ = qp.Close()
	return b.Bytes()
}
