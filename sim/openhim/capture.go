package openhim

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// Capture is one HTTP request as a mediator receives it from core, read
// from the shared test data: either a raw capture from a running core
// (captured-requests-*.md) or an annotated example
// (request-to-mediator-*.txt). Tests replay captures against the mediator
// and compare the simulator's own requests with them.
type Capture struct {
	Title string // the heading above a raw capture, or the file name
	// Lines are the request line and header lines as sent, then the body.
	Head []string
	Body string
}

// Request parses the capture into a server-side request. Content-Length is
// recomputed, since annotating a capture may have changed its body.
func (c Capture) Request() (*http.Request, error) {
	head := append([]string(nil), c.Head...)
	for i, l := range head {
		if strings.HasPrefix(strings.ToLower(l), "content-length:") {
			head[i] = "content-length: " + strconv.Itoa(len(c.Body))
		}
	}
	msg := strings.Join(head, "\r\n") + "\r\n\r\n" + c.Body
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(msg)))
	if err != nil {
		return nil, fmt.Errorf("capture %q: %w", c.Title, err)
	}
	return req, nil
}

// Header returns the value of the named header as captured, matching the
// name case-insensitively, and whether it was there.
func (c Capture) Header(name string) (string, bool) {
	for _, l := range c.Head[1:] {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// HeaderNames lists the captured header names, lower-cased, in order.
func (c Capture) HeaderNames() []string {
	var out []string
	for _, l := range c.Head[1:] {
		if k, _, ok := strings.Cut(l, ":"); ok {
			out = append(out, strings.ToLower(strings.TrimSpace(k)))
		}
	}
	return out
}

// ReadCaptures reads every fenced request of a captured-requests markdown
// file, each titled by the "### " heading above it.
func ReadCaptures(path string) ([]Capture, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Capture
	title, in := "", false
	var block []string
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "### "):
			title = strings.TrimPrefix(l, "### ")
		case strings.HasPrefix(l, "```") && !in:
			in, block = true, nil
		case strings.HasPrefix(l, "```") && in:
			in = false
			out = append(out, split(title, block))
		case in:
			block = append(block, strings.TrimRight(l, "\r"))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no fenced requests", path)
	}
	return out, nil
}

var marginNote = regexp.MustCompile(`\s+<-.*$`)

// ReadAnnotated reads an annotated request example: "#" comment lines and
// "(…)" notes are dropped, and "<- …" margin notes cut off.
func ReadAnnotated(path string) (Capture, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Capture{}, err
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "#") || strings.HasPrefix(l, "(") {
			continue
		}
		lines = append(lines, strings.TrimRight(marginNote.ReplaceAllString(l, ""), " \t\r"))
	}
	for len(lines) > 0 && lines[0] == "" {
		lines = lines[1:]
	}
	return split(path, lines), nil
}

// split cuts a message at its first blank line into head and body.
func split(title string, lines []string) Capture {
	c := Capture{Title: title}
	for i, l := range lines {
		if l == "" {
			c.Head = lines[:i]
			c.Body = strings.TrimSpace(strings.Join(lines[i+1:], "\n"))
			return c
		}
	}
	c.Head = lines
	return c
}
