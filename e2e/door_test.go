package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite the bad-input table in docs/limits.md from TestBadInputCorpus")

// doorCase is one input of the bad-input corpus and the answer it must get.
type doorCase struct {
	group, name string
	// an HTTP request…
	method, path, ctype string
	body                []byte
	header              map[string]string
	chunked             bool
	// …or raw bytes on a TCP connection (slow and broken clients)
	raw func(conn net.Conn) error

	status int    // 0: the connection is closed without an answer
	msg    string // in the answer's error message (or body for 2xx)
}

const (
	doorToken = "door-token"
	mib       = 1 << 20
)

func jsonOf(n int) []byte { // a JSON object of exactly n bytes
	return []byte(`{"pad":"` + strings.Repeat("x", n-10) + `"}`)
}

func nest(open, close string, n int) []byte {
	return []byte(strings.Repeat(open, n) + "1" + strings.Repeat(close, n))
}

// bigObject is a JSON object of n keys, about 16 bytes each.
func bigObject(n int) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%07d":%d`, i, i)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func bigArray(n int) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d", i%1000)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// trickle writes a request's headers and then its body a byte at a time,
// slower than the read timeout allows.
func trickle(head string, body []byte, every time.Duration, closeWrite bool) func(net.Conn) error {
	return func(c net.Conn) error {
		if _, err := io.WriteString(c, head); err != nil {
			return err
		}
		for _, b := range body {
			if _, err := c.Write([]byte{b}); err != nil {
				return nil // the server hung up: fine, read its answer
			}
			time.Sleep(every)
		}
		if closeWrite {
			return c.(*net.TCPConn).CloseWrite()
		}
		return nil
	}
}

func rawRequest(method, path string, headers ...string) string {
	return method + " " + path + " HTTP/1.1\r\nHost: x\r\n" + strings.Join(headers, "\r\n") + "\r\n\r\n"
}

func doorCorpus() []doorCase {
	json := func(group, name string, body []byte, status int, msg string) doorCase {
		return doorCase{group: group, name: name, method: "POST", path: "/echo", ctype: "application/json", body: body, status: status, msg: msg}
	}
	typed := func(name, ctype string, body []byte, status int, msg string) doorCase {
		return doorCase{group: "content type", name: name, method: "POST", path: "/echo", ctype: ctype, body: body, status: status, msg: msg}
	}
	method := func(m string, status int, msg string) doorCase {
		return doorCase{group: "method", name: m + " /echo", method: m, path: "/echo", status: status, msg: msg}
	}
	path := func(p string, status int, msg string) doorCase {
		return doorCase{group: "path", name: "POST " + p, method: "POST", path: p, ctype: "application/json", body: []byte(`{}`), status: status, msg: msg}
	}
	api := func(name, m, p, auth string, status int, msg string) doorCase {
		h := map[string]string{}
		if auth != "" {
			h["Authorization"] = auth
		}
		return doorCase{group: "operator API", name: name, method: m, path: p, header: h, status: status, msg: msg}
	}
	bad := func(b string) []byte { return []byte(`{"name":"Zo` + b + `"}`) }
	tooBig := "request body is larger than the limit of 10485760 bytes (BODY_SIZE_LIMIT=10mb)"
	tooDeep := "nests arrays/objects more than 1000 levels deep"
	notJSON := "request body is not valid JSON"
	cs := []doorCase{
		// size
		json("size", "JSON body of 10 MiB − 100 B", jsonOf(10*mib-100), 200, `{"pad":"xxx`),
		json("size", "JSON body of exactly 10 MiB", jsonOf(10*mib), 200, `{"pad":"xxx`),
		json("size", "JSON body of 10 MiB + 1 B", jsonOf(10*mib+1), 413, tooBig),
		json("size", "JSON body of 50 MiB", jsonOf(50*mib), 413, tooBig),
		{group: "size", name: "chunked JSON body of 10 MiB − 100 B", method: "POST", path: "/echo", ctype: "application/json", body: jsonOf(10*mib - 100), chunked: true, status: 200, msg: `{"pad":"xxx`},
		{group: "size", name: "chunked JSON body of 10 MiB + 1 B", method: "POST", path: "/echo", ctype: "application/json", body: jsonOf(10*mib + 1), chunked: true, status: 413, msg: tooBig},
		typed("text body of 10 MiB − 100 B of quotes (doubles as a JSON string)", "text/plain", bytes.Repeat([]byte(`"`), 10*mib-100), 200, `""""`),
		{group: "size", name: "Content-Length: 1 TB declared, no body sent", raw: func(c net.Conn) error {
			_, err := io.WriteString(c, rawRequest("POST", "/echo", "Content-Type: application/json", "Content-Length: 1099511627776"))
			return err
		}, status: 413, msg: tooBig},
		{group: "size", name: "Content-Length: 10 MiB + 1 declared, 10 bytes sent", raw: func(c net.Conn) error {
			_, err := io.WriteString(c, rawRequest("POST", "/echo", "Content-Type: application/json", "Content-Length: 10485761")+`{"a":"b"}`)
			return err
		}, status: 413, msg: tooBig},
		json("size", "empty body", nil, 200, `{}`),
		json("size", "whitespace-only body", []byte(" \n\t "), 200, `{}`),

		// depth
		json("depth", "10 nested arrays", nest("[", "]", 10), 200, `[[[[[[[[[[1]]]]]]]]]]`),
		json("depth", "999 nested arrays", nest("[", "]", 999), 200, `[[[`),
		json("depth", "1,000 nested arrays", nest("[", "]", 1000), 200, `[[[`),
		json("depth", "1,001 nested arrays", nest("[", "]", 1001), 400, tooDeep+" (at byte offset 1000)"),
		json("depth", "4,100 nested arrays", nest("[", "]", 4100), 400, tooDeep),
		json("depth", "10,000 nested arrays", nest("[", "]", 10000), 400, tooDeep),
		json("depth", "100,000 nested arrays", nest("[", "]", 100000), 400, tooDeep),
		json("depth", "1,001 nested objects", nest(`{"a":`, "}", 1001), 400, tooDeep+" (at byte offset 5000)"),
		json("depth", "500 nested [{ pairs (1,000 levels)", nest(`[{"a":`, "}]", 500), 200, `[{"a":[{"a":`),
		json("depth", "5,000 brackets inside a string", []byte(`{"s":"`+strings.Repeat("[", 5000)+`"}`), 200, `{"s":"[[[`),
		json("depth", "10,001 unbalanced closing brackets", []byte(strings.Repeat("]", 10001)), 400, notJSON),

		// UTF-8
		json("UTF-8", "valid multi-byte text (ë, 日本, 🙂)", []byte(`{"name":"Zoë 日本 🙂"}`), 200, `"Zoë 日本 🙂"`),
		json("UTF-8", "0xFF inside a string", bad("\xff"), 400, "not valid UTF-8: byte 0xff at offset 11"),
		json("UTF-8", "truncated sequence 0xC3 before the closing quote", bad("\xc3"), 400, "byte 0xc3 at offset 11"),
		json("UTF-8", "overlong encoding 0xC0 0xAF", bad("\xc0\xaf"), 400, "byte 0xc0 at offset 11"),
		json("UTF-8", "UTF-16 surrogate written as UTF-8 (0xED 0xA0 0x80)", bad("\xed\xa0\x80"), 400, "byte 0xed at offset 11"),
		json("UTF-8", "lone continuation byte 0x80", bad("\x80"), 400, "byte 0x80 at offset 11"),
		json("UTF-8", "0xFE", bad("\xfe"), 400, "byte 0xfe at offset 11"),
		json("UTF-8", "invalid byte between tokens", []byte("{\"a\":1,\xff\"b\":2}"), 400, "byte 0xff at offset 7"),
		json("UTF-8", "Latin-1 ë (0xEB) at offset 3,000", append(append(append([]byte(`{"pad":"`), bytes.Repeat([]byte("x"), 2992)...), 0xeb), []byte(`"}`)...), 400, "byte 0xeb at offset 3000"),
		typed("invalid UTF-8 in text/plain", "text/plain", []byte("caf\xe9"), 400, "byte 0xe9 at offset 3"),
		typed("invalid UTF-8 in application/xml", "application/xml", []byte("<a>\xff</a>"), 400, "byte 0xff at offset 3"),
		typed("invalid UTF-8 in application/fhir+json", "application/fhir+json", bad("\xff"), 400, "byte 0xff at offset 11"),
		json("UTF-8", "UTF-8 byte-order mark before the JSON", append([]byte("\xef\xbb\xbf"), `{"a":1}`...), 400, notJSON),
		json("UTF-8", `escaped lone surrogate "\ud800" (valid JSON text)`, []byte(`{"s":"\ud800"}`), 200, `{"s":`),

		// content types
		typed("application/json", "application/json", []byte(`{"a":1}`), 200, `{"a":1}`),
		typed("application/json; charset=utf-8", "application/json; charset=utf-8", []byte(`{"a":1}`), 200, `{"a":1}`),
		typed("Application/JSON (case)", "Application/JSON", []byte(`{"a":1}`), 200, `{"a":1}`),
		typed("application/fhir+json", "application/fhir+json", []byte(`{"resourceType":"Patient"}`), 200, `"Patient"`),
		typed("application/vnd.api+json", "application/vnd.api+json", []byte(`{"a":1}`), 200, `{"a":1}`),
		typed("text/plain", "text/plain", []byte("hello"), 200, "hello"),
		typed("text/csv", "text/csv", []byte("a,b\n1,2\n"), 200, "a,b"),
		typed("application/xml", "application/xml", []byte("<a>1</a>"), 200, "<a>1</a>"),
		typed("application/x-www-form-urlencoded", "application/x-www-form-urlencoded", []byte("a=1&b=2"), 200, "a=1&b=2"),
		typed("application/hl7-v2", "application/hl7-v2", []byte("MSH|^~\\&|"), 200, "MSH|"),
		typed("no Content-Type", "", []byte(`{"a":1}`), 415, `Content-Type "application/octet-stream" is not supported`),
		typed("image/png", "image/png", []byte("\x89PNG\r\n"), 415, `Content-Type "image/png" is not supported`),
		typed("application/octet-stream", "application/octet-stream", []byte{0, 1, 2}, 415, "is not supported"),
		typed("multipart/form-data", "multipart/form-data; boundary=x", []byte("--x--"), 415, `"multipart/form-data" is not supported`),
		typed("charset=iso-8859-1", "application/json; charset=iso-8859-1", []byte(`{}`), 415, `charset "iso-8859-1" is not supported`),
		typed("charset=utf-16", "application/json; charset=utf-16", []byte(`{}`), 415, `charset "utf-16" is not supported`),
		typed("malformed parameter", "application/json; charset", []byte(`{}`), 415, "invalid Content-Type"),
		typed(`"/"`, "/", []byte(`{}`), 415, "invalid Content-Type"),

		// malformed JSON
		json("JSON", "truncated object", []byte(`{"a":`), 400, notJSON),
		json("JSON", "trailing comma", []byte(`{"a":1,}`), 400, notJSON),
		json("JSON", "single quotes", []byte(`{'a':1}`), 400, notJSON),
		json("JSON", "NaN", []byte(`{"a":NaN}`), 400, notJSON),
		json("JSON", "comment", []byte(`{"a":1 /* c */}`), 400, notJSON),
		json("JSON", "two values", []byte(`{} {}`), 400, "more than one value"),
		json("JSON", "leading zero", []byte(`{"a":01}`), 400, notJSON),
		json("JSON", "raw tab inside a string", []byte("{\"a\":\"x\ty\"}"), 400, notJSON),
		json("JSON", "unterminated string", []byte(`{"a":"xyz`), 400, notJSON),
		json("JSON", "bare word", []byte(`hello`), 400, notJSON),
		json("JSON", "number too big for a double (1e400)", []byte(`{"n":1e400}`), 200, `{"n":`),
		json("JSON", "a number alone", []byte(`42`), 200, "42"),
		json("JSON", "a string alone (answered as text)", []byte(`"hi"`), 200, `hi`),
		json("JSON", "null", []byte(`null`), 200, "{}"),
		json("JSON", "top-level array", []byte(`[1,2,3]`), 200, "[1,2,3]"),

		// large valid JSON: linear time (BenchmarkLargeJSON)
		json("large", "8 MB object with 500,000 keys", bigObject(500000), 200, `"k0499999":499999`),
		json("large", "2,000,000-element array", bigArray(2000000), 200, `,999]`),

		// slow and broken clients (READ_TIMEOUT=2s here)
		{group: "slow client", name: "body trickled a byte every 300 ms (past READ_TIMEOUT)",
			raw:    trickle(rawRequest("POST", "/echo", "Content-Type: application/json", "Content-Length: 20"), []byte(`{"a":"0123456789ab"}`), 300*time.Millisecond, false),
			status: 408, msg: "did not arrive within the read timeout (READ_TIMEOUT)"},
		{group: "slow client", name: "Content-Length 100, 10 bytes sent, then silence",
			raw:    trickle(rawRequest("POST", "/echo", "Content-Type: application/json", "Content-Length: 100"), []byte(`{"a":"b"} `), 0, false),
			status: 408, msg: "READ_TIMEOUT"},
		{group: "slow client", name: "Content-Length 100, 10 bytes sent, then the client stops sending",
			raw:    trickle(rawRequest("POST", "/echo", "Content-Type: application/json", "Content-Length: 100"), []byte(`{"a":"b"} `), 0, true),
			status: 400, msg: "ended after 10 bytes, before its declared Content-Length of 100"},
		{group: "slow client", name: "chunked body never finished",
			raw:    trickle(rawRequest("POST", "/echo", "Content-Type: application/json", "Transfer-Encoding: chunked"), []byte("5\r\n{\"a\":\r\n"), 0, false),
			status: 408, msg: "READ_TIMEOUT"},
		{group: "slow client", name: "headers trickled (slowloris): cut off at the header timeout",
			raw:    trickle("", []byte("POST /echo HTTP/1.1\r\nHost: x\r\nX-Slow: "+strings.Repeat("a", 20)), 200*time.Millisecond, false),
			status: 400},
		{group: "slow client", name: "connection opened, nothing sent", raw: func(net.Conn) error { return nil }, status: 0},
		{group: "slow client", name: "not HTTP at all", raw: func(c net.Conn) error { _, err := io.WriteString(c, "HELLO\r\n\r\n"); return err }, status: 400},

		// headers
		{group: "headers", name: "one 2 MB header", method: "POST", path: "/echo", ctype: "application/json", body: []byte(`{}`),
			header: map[string]string{"X-Big": strings.Repeat("a", 2*mib)}, status: 431},
		{group: "headers", name: "500 headers (100 KB)", method: "POST", path: "/echo", ctype: "application/json", body: []byte(`{"ok":1}`),
			header: manyHeaders(500, 200), status: 200, msg: `{"ok":1}`},
		{group: "headers", name: "control character in a header value", raw: func(c net.Conn) error {
			_, err := io.WriteString(c, rawRequest("POST", "/echo", "Content-Type: application/json", "X-Bad: a\x01b", "Content-Length: 2")+"{}")
			return err
		}, status: 400},
		{group: "headers", name: "HTTP/1.1 request without Host", raw: func(c net.Conn) error {
			_, err := io.WriteString(c, "POST /echo HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
			return err
		}, status: 400},
		{group: "headers", name: "8 KB X-OpenHIM-TransactionID", method: "POST", path: "/echo", ctype: "application/json", body: []byte(`{"ok":1}`),
			header: map[string]string{"X-OpenHIM-TransactionID": strings.Repeat("t", 8192)}, status: 200, msg: `"status":"Successful"`},
		{group: "headers", name: "Basic credentials on an open workflow", method: "POST", path: "/echo", ctype: "application/json", body: []byte(`{"ok":1}`),
			header: map[string]string{"Authorization": "Basic Z2FyYmFnZQ=="}, status: 200, msg: `{"ok":1}`},
		{group: "headers", name: "both Content-Length and Transfer-Encoding (chunked wins, RFC 9112 §6.3)", raw: func(c net.Conn) error {
			_, err := io.WriteString(c, rawRequest("POST", "/echo", "Content-Type: application/json", "Content-Length: 2", "Transfer-Encoding: chunked")+"2\r\n{}\r\n0\r\n\r\n")
			return err
		}, status: 200, msg: "{}"},

		// paths
		path("/nope", 404, "no workflow is served at /nope"),
		path("/echo/extra", 404, "no workflow is served at /echo/extra"),
		path("/ECHO", 404, "no workflow is served at /ECHO"),
		{group: "path", name: "POST /%2e%2e/%2e%2e/etc/passwd (redirected to the clean path)", method: "POST", path: "/%2e%2e/%2e%2e/etc/passwd", ctype: "application/json", body: []byte(`{}`), status: 301},
		path("/echo?x=1&x=2", 200, "{}"),
		path("/"+strings.Repeat("a", 8000), 404, "no workflow is served at /aaaa"),
		path("/echo%00", 404, "no workflow is served at /echo"),
		path("/healthz", 405, "not allowed"),

		// methods
		method("GET", 405, "method GET is not allowed on /echo"),
		method("PUT", 405, "method PUT is not allowed on /echo"),
		method("DELETE", 405, "method DELETE is not allowed on /echo"),
		method("PATCH", 405, "method PATCH is not allowed on /echo"),
		method("OPTIONS", 405, "method OPTIONS is not allowed on /echo"),
		method("HEAD", 405, ""),
		method("TRACE", 405, "method TRACE is not allowed on /echo"),
		method("FOO", 405, "method FOO is not allowed on /echo"),

		// operator API
		api("no token", "GET", "/api/runs", "", 401, "bearer token"),
		api("wrong token", "GET", "/api/runs", "Bearer nope", 401, "bearer token"),
		api("Basic instead of Bearer", "GET", "/api/runs", "Basic "+doorToken, 401, "bearer token"),
		api("scheme only", "GET", "/api/runs", "Bearer", 401, "bearer token"),
		api(`"bearer" in lower case`, "GET", "/api/runs", "bearer "+doorToken, 200, `"runs"`),
		api(`"BEARER" in upper case`, "GET", "/api/runs", "BEARER "+doorToken, 200, `"runs"`),
		api("unknown run id", "GET", "/api/runs/6b15c0000000000000000000", "Bearer "+doorToken, 404, "no run 6b15c0000000000000000000"),
		api("run id of 300 characters", "GET", "/api/runs/"+strings.Repeat("f", 300), "Bearer "+doorToken, 404, "no run ffff"),
		api("run id with an encoded slash (redirected to the clean path)", "GET", "/api/runs/..%2f..%2fetc", "Bearer "+doorToken, 301, ""),
		api("limit=-1", "GET", "/api/runs?limit=-1", "Bearer "+doorToken, 400, "limit"),
		api("limit=abc", "GET", "/api/runs?limit=abc", "Bearer "+doorToken, 400, "limit"),
		api("before=yesterday", "GET", "/api/runs?before=yesterday", "Bearer "+doorToken, 400, "before"),
		api("run an unknown workflow", "POST", "/api/workflows/nope/run", "Bearer "+doorToken, 404, "nope"),
		api("unknown API path", "GET", "/api/nope", "Bearer "+doorToken, 404, ""),
		api("POST to the run list", "POST", "/api/runs", "Bearer "+doorToken, 404, "no API route POST /api/runs"),
	}
	return cs
}

func manyHeaders(n, size int) map[string]string {
	h := map[string]string{}
	for i := 0; i < n; i++ {
		h[fmt.Sprintf("X-H%d", i)] = strings.Repeat("v", size)
	}
	return h
}

func doorProject(t testing.TB) string {
	dir := t.TempDir()
	project := `name: door
workflows:
  echo:
    name: echo
    jobs:
      echo:
        name: echo
        adaptor: '@openfn/language-common@3'
        body: |
          fn(s => s);
    triggers:
      webhook: {type: webhook, enabled: true}
    edges:
      webhook->echo: {source_trigger: webhook, target_job: echo, condition_type: always, enabled: true}
`
	if err := os.WriteFile(filepath.Join(dir, "project.yaml"), []byte(project), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// send makes one corpus request; status 0 means the server closed the
// connection without an answer.
func (c doorCase) send(t *testing.T, addr string) (int, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	defer conn.Close()
	// No answer may take longer than this: a hang fails the case.
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	if c.raw != nil {
		if err := c.raw(conn); err != nil {
			t.Fatalf("%s: writing: %v", c.name, err)
		}
	} else {
		req, _ := http.NewRequest(c.method, "http://"+addr+c.path, nil)
		if c.body != nil {
			req.Body = io.NopCloser(bytes.NewReader(c.body))
			req.ContentLength = int64(len(c.body))
			if c.chunked {
				req.ContentLength = -1
				req.TransferEncoding = []string{"chunked"}
			}
		}
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		for k, v := range c.header {
			req.Header.Set(k, v)
		}
		go func() { _ = req.Write(conn) }() // the server may answer (413) before the body is sent
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: c.method})
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("%s: no answer within 60s (a hang)", c.name)
		}
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestBadInputCorpus sends every input of the corpus to the real binary:
// each gets the documented status and a clear message, nothing crashes the
// daemon or hangs, and docs/limits.md shows the same table.
func TestBadInputCorpus(t *testing.T) {
	p := start(t, map[string]string{"JM_PROJECT": doorProject(t), "JM_API_TOKEN": doorToken, "READ_TIMEOUT": "2s", "LOG_LEVEL": "warn"})
	addr := strings.TrimPrefix(p.URL(), "http://")
	corpus := doorCorpus()
	if len(corpus) < 100 {
		t.Fatalf("the corpus has %d inputs, want at least 100", len(corpus))
	}
	for i, c := range corpus {
		start := time.Now()
		status, body := c.send(t, addr)
		took := time.Since(start)
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		isJSONError := json.Unmarshal([]byte(body), &e) == nil && e.Error.Message != ""
		msg := body
		if isJSONError {
			msg = e.Error.Message
		}
		switch {
		case status != c.status:
			t.Errorf("#%d %s: %d %.300s, want %d", i+1, c.name, status, body, c.status)
		case status >= 400 && c.msg != "" && !strings.Contains(msg, c.msg):
			t.Errorf("#%d %s: %d %.300s, want the message to say %q", i+1, c.name, status, body, c.msg)
		case status > 0 && status < 300 && !strings.Contains(body, c.msg):
			t.Errorf("#%d %s: %d %.300s, want the answer to hold %q", i+1, c.name, status, body, c.msg)
		}
		if status >= 400 && status != 431 && c.method != "HEAD" && c.raw == nil && !isJSONError {
			t.Errorf("#%d %s: %d answer is not a JSON error: %.200s", i+1, c.name, status, body)
		}
		if c.group == "large" {
			t.Logf("%s: %d in %v", c.name, status, took.Round(time.Millisecond))
		}
		select {
		case err := <-p.done:
			t.Fatalf("#%d %s: the mediator exited: %v", i+1, c.name, err)
		default:
		}
	}
	if code := readyStatus(p); code != http.StatusOK {
		t.Fatalf("not ready after the corpus: %d", code)
	}
	if strings.Contains(p.Logs(), "panic") {
		t.Errorf("a panic in the logs:\n%s", p.Logs())
	}
	checkDocTable(t, corpus)
}

const docStart, docEnd = "<!-- corpus:start -->", "<!-- corpus:end -->"

// checkDocTable compares the corpus table in docs/limits.md with the
// corpus (go test ./e2e -run TestBadInputCorpus -update-docs rewrites it).
func checkDocTable(t *testing.T, corpus []doorCase) {
	var b strings.Builder
	b.WriteString("| # | group | input | answer | message says |\n|---|---|---|---|---|\n")
	for i, c := range corpus {
		answer := fmt.Sprint(c.status)
		if c.status == 0 {
			answer = "connection closed, no answer"
		}
		msg := strings.ReplaceAll(c.msg, "|", `\|`)
		if len(msg) > 70 {
			msg = msg[:70] + "…"
		}
		if msg != "" {
			msg = "`" + msg + "`"
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s |\n", i+1, c.group, strings.ReplaceAll(c.name, "|", `\|`), answer, msg)
	}
	path := "../docs/limits.md"
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	i, j := strings.Index(s, docStart), strings.Index(s, docEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no %s … %s section", path, docStart, docEnd)
	}
	want := s[:i+len(docStart)] + "\n" + b.String() + s[j:]
	if want == s {
		return
	}
	if *updateDocs {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("the corpus table in %s is out of date: run go test ./e2e -run TestBadInputCorpus -update-docs", path)
}

// BenchmarkLargeJSON posts the large valid bodies of issue 11 through the
// real binary (HTTP, worker process, run history, answer): an 8 MB object
// with 500,000 keys and a 2,000,000-element array. Run with
// go test ./e2e -run XXX -bench LargeJSON -benchtime 3x.
func BenchmarkLargeJSON(b *testing.B) {
	p := start(b, map[string]string{"JM_PROJECT": doorProject(b), "LOG_LEVEL": "warn"})
	for _, tc := range []struct {
		name string
		body []byte
	}{{"object-500k-keys", bigObject(500000)}, {"array-2M", bigArray(2000000)}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.body)))
			for b.Loop() {
				resp, err := http.Post(p.URL()+"/echo", "application/json", bytes.NewReader(tc.body))
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || n < int64(len(tc.body))/2 {
					b.Fatalf("%d, %d bytes", resp.StatusCode, n)
				}
			}
		})
	}
}
