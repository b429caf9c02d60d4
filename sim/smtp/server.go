// Package smtp is a minimal mail server (RFC 5321) for tests: EHLO/HELO,
// STARTTLS (RFC 3207), AUTH PLAIN and LOGIN (RFC 4954), MAIL, RCPT, DATA,
// RSET, NOOP and QUIT, over plain TCP with STARTTLS or over implicit TLS
// (RFC 8314). It keeps every message it accepts so a test can read what a
// real SMTP client delivered, and it refuses what a strict submission
// server refuses: AUTH before STARTTLS, MAIL before AUTH when auth is
// required, DATA without recipients.
package smtp

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strings"
	"sync"
	"time"
)

// Message is one accepted mail transaction.
type Message struct {
	From     string
	To       []string
	Data     []byte // the message as received, dot-stuffing removed
	TLS      bool   // the transaction ran over TLS (STARTTLS or implicit)
	AuthUser string // who authenticated, "" when nobody
}

// Parsed reads Data as an RFC 5322 message.
func (m Message) Parsed() (*mail.Message, error) {
	return mail.ReadMessage(bytes.NewReader(m.Data))
}

// Options configure a Server.
type Options struct {
	// TLS enables STARTTLS (or, with Implicit, TLS from the first byte).
	TLS      *tls.Config
	Implicit bool
	// Username and Password, when set, are required before MAIL.
	Username, Password string
	// Hostname greets clients; default "jmsim.smtp".
	Hostname string
}

// Server is a running test mail server.
type Server struct {
	o  Options
	ln net.Listener

	mu       sync.Mutex
	messages []Message
	arrived  chan struct{} // closed and replaced on every message
	wg       sync.WaitGroup
	closed   bool
	conns    map[net.Conn]struct{}
}

// Start listens on 127.0.0.1 on a free port.
func Start(o Options) (*Server, error) {
	if o.Hostname == "" {
		o.Hostname = "jmsim.smtp"
	}
	if o.Implicit && o.TLS == nil {
		return nil, errors.New("smtp: implicit TLS needs a TLS config")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	if o.Implicit {
		ln = tls.NewListener(ln, o.TLS)
	}
	s := &Server{o: o, ln: ln, arrived: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops listening and ends open sessions.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

// Messages returns a copy of everything accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// WaitFor blocks until at least n messages have arrived or the timeout
// passes, and returns what has arrived.
func (s *Server) WaitFor(n int, timeout time.Duration) []Message {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got, ch := len(s.messages), s.arrived
		s.mu.Unlock()
		if got >= n {
			return s.Messages()
		}
		select {
		case <-ch:
		case <-deadline.C:
			return s.Messages()
		}
	}
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.session(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

// session is one SMTP conversation.
type session struct {
	s      *Server
	c      net.Conn
	r      *bufio.Reader
	w      *bufio.Writer
	tls    bool
	helo   bool
	user   string
	from   string
	to     []string
	inMail bool
}

func (s *Server) session(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
	ss := &session{s: s, c: c, r: bufio.NewReader(c), w: bufio.NewWriter(c), tls: s.o.Implicit}
	ss.reply(220, s.o.Hostname+" ESMTP jmsim")
	for {
		line, err := ss.readLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			ss.ehlo()
		case "HELO":
			ss.helo = true
			ss.reply(250, s.o.Hostname)
		case "STARTTLS":
			if !ss.starttls() {
				return
			}
		case "AUTH":
			ss.auth(arg)
		case "MAIL":
			ss.mail(arg)
		case "RCPT":
			ss.rcpt(arg)
		case "DATA":
			if !ss.data() {
				return
			}
		case "RSET":
			ss.reset()
			ss.reply(250, "OK")
		case "NOOP":
			ss.reply(250, "OK")
		case "QUIT":
			ss.reply(221, "bye")
			return
		default:
			ss.reply(502, "command not implemented")
		}
	}
}

func (ss *session) readLine() (string, error) {
	line, err := ss.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func (ss *session) reply(code int, lines ...string) {
	for i, l := range lines {
		sep := " "
		if i < len(lines)-1 {
			sep = "-"
		}
		fmt.Fprintf(ss.w, "%d%s%s\r\n", code, sep, l)
	}
	// A client that went away sees nothing either way.
	_ = ss.w.Flush()
}

func (ss *session) ehlo() {
	ss.helo = true
	ss.reset()
	lines := []string{ss.s.o.Hostname, "8BITMIME", "SIZE 10485760"}
	if ss.s.o.TLS != nil && !ss.tls {
		lines = append(lines, "STARTTLS")
	}
	// Like a submission server, offer AUTH only over TLS (when TLS exists).
	if ss.s.o.Username != "" && (ss.tls || ss.s.o.TLS == nil) {
		lines = append(lines, "AUTH PLAIN LOGIN")
	}
	ss.reply(250, lines...)
}

func (ss *session) starttls() bool {
	if ss.s.o.TLS == nil || ss.tls {
		ss.reply(502, "STARTTLS not available")
		return true
	}
	ss.reply(220, "ready to start TLS")
	tc := tls.Server(ss.c, ss.s.o.TLS)
	if err := tc.Handshake(); err != nil {
		return false
	}
	ss.c, ss.tls = tc, true
	ss.r, ss.w = bufio.NewReader(tc), bufio.NewWriter(tc)
	// RFC 3207 §4.2: forget everything learned before TLS.
	ss.helo, ss.user = false, ""
	ss.reset()
	return true
}

func (ss *session) auth(arg string) {
	switch {
	case ss.s.o.Username == "":
		ss.reply(502, "AUTH not available")
		return
	case ss.s.o.TLS != nil && !ss.tls:
		ss.reply(538, "encryption required for requested authentication mechanism")
		return
	case ss.user != "":
		ss.reply(503, "already authenticated")
		return
	}
	mech, initial, _ := strings.Cut(arg, " ")
	var user, pass string
	switch strings.ToUpper(mech) {
	case "PLAIN":
		resp := initial
		if resp == "" {
			ss.reply(334, "")
			l, err := ss.readLine()
			if err != nil {
				return
			}
			resp = l
		}
		raw, err := base64.StdEncoding.DecodeString(resp)
		if err != nil {
			ss.reply(501, "malformed AUTH PLAIN response")
			return
		}
		parts := strings.Split(string(raw), "\x00")
		if len(parts) != 3 {
			ss.reply(501, "malformed AUTH PLAIN response")
			return
		}
		user, pass = parts[1], parts[2]
	case "LOGIN":
		ask := func(prompt string) (string, bool) {
			ss.reply(334, base64.StdEncoding.EncodeToString([]byte(prompt)))
			l, err := ss.readLine()
			if err != nil {
				return "", false
			}
			b, err := base64.StdEncoding.DecodeString(l)
			return string(b), err == nil
		}
		var ok bool
		if user, ok = ask("Username:"); !ok {
			ss.reply(501, "malformed response")
			return
		}
		if pass, ok = ask("Password:"); !ok {
			ss.reply(501, "malformed response")
			return
		}
	default:
		ss.reply(504, "unrecognized authentication type")
		return
	}
	if user != ss.s.o.Username || pass != ss.s.o.Password {
		ss.reply(535, "authentication credentials invalid")
		return
	}
	ss.user = user
	ss.reply(235, "authentication successful")
}

func (ss *session) reset() { ss.from, ss.to, ss.inMail = "", nil, false }

// path reads "FROM:<addr> [params]" or "TO:<addr>".
func path(arg, prefix string) (string, bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", false
	}
	rest := strings.TrimSpace(arg[len(prefix):])
	if !strings.HasPrefix(rest, "<") {
		return "", false
	}
	end := strings.Index(rest, ">")
	if end < 0 {
		return "", false
	}
	return rest[1:end], true
}

func (ss *session) mail(arg string) {
	switch {
	case !ss.helo:
		ss.reply(503, "send EHLO first")
		return
	case ss.s.o.Username != "" && ss.user == "":
		ss.reply(530, "authentication required")
		return
	case ss.inMail:
		ss.reply(503, "nested MAIL command")
		return
	}
	from, ok := path(arg, "FROM:")
	if !ok {
		ss.reply(501, "syntax: MAIL FROM:<address>")
		return
	}
	ss.from, ss.inMail = from, true
	ss.reply(250, "OK")
}

func (ss *session) rcpt(arg string) {
	if !ss.inMail {
		ss.reply(503, "need MAIL first")
		return
	}
	to, ok := path(arg, "TO:")
	if !ok || to == "" {
		ss.reply(501, "syntax: RCPT TO:<address>")
		return
	}
	ss.to = append(ss.to, to)
	ss.reply(250, "OK")
}

// data reads the message up to the lone "." line (RFC 5321 §4.1.1.4),
// undoing dot-stuffing (§4.5.2).
func (ss *session) data() bool {
	if !ss.inMail || len(ss.to) == 0 {
		ss.reply(503, "need RCPT first")
		return true
	}
	ss.reply(354, "end data with <CR><LF>.<CR><LF>")
	var buf bytes.Buffer
	for {
		line, err := ss.r.ReadString('\n')
		if err != nil {
			return false
		}
		if line == ".\r\n" || line == ".\n" {
			break
		}
		line = strings.TrimPrefix(line, ".") // dot-stuffing (RFC 5321 §4.5.2)
		buf.WriteString(line)
	}
	m := Message{From: ss.from, To: ss.to, Data: buf.Bytes(), TLS: ss.tls, AuthUser: ss.user}
	ss.s.mu.Lock()
	ss.s.messages = append(ss.s.messages, m)
	close(ss.s.arrived)
	ss.s.arrived = make(chan struct{})
	ss.s.mu.Unlock()
	ss.reset()
	ss.reply(250, "OK: queued")
	return true
}
