package recorder

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/internal/redact"
)

func TestDoRecordsRedactedExchange(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		w.Write([]byte(`{"id":"1","token":"server-issued-token"}`))
	}))
	defer up.Close()
	red := redact.New()
	red.AddValues("topsecret")
	rec := NewRecorder(red)
	c := NewClient(up.Client(), rec).ForStep("send")
	req, _ := http.NewRequest("POST", up.URL+"/records?apikey=topsecret", nil)
	req.SetBasicAuth("demo", "topsecret")
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(context.Background(), "POST /records", req, []byte(`{"password":"topsecret","name":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 201 || !strings.Contains(string(resp.Body), "server-issued-token") {
		t.Fatalf("caller must get the unredacted response: %d %s", resp.Status, resp.Body)
	}
	ex := rec.Exchanges()
	if len(ex) != 1 {
		t.Fatalf("want 1 exchange, got %d", len(ex))
	}
	e := ex[0]
	if e.Name != "send: POST /records" || e.Response == nil || e.Response.Status != 201 {
		t.Fatalf("exchange: %+v", e)
	}
	all := e.Request.URL + e.Request.Header.Get("Authorization") + e.Request.Body + e.Response.Body
	for _, leak := range []string{"topsecret", "server-issued-token"} {
		if strings.Contains(all, leak) {
			t.Errorf("leak %q in %s", leak, all)
		}
	}
}

func TestTransportErrorsAreCoded(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := ln.Addr().String()
	ln.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", 2048)))
	}))
	defer big.Close()

	for _, tc := range []struct {
		name, url string
		timeout   time.Duration
		maxBody   int64
		code      string
		transient bool
	}{
		{"refused", "http://" + closedAddr + "/", time.Second, 0, "ECONNREFUSED", true},
		{"timeout", slow.URL, 50 * time.Millisecond, 0, "ETIMEDOUT", true},
		{"too large", big.URL, time.Second, 1024, "EBODYTOOLARGE", false},
		{"bad scheme", "ftp://example/x", time.Second, 0, "EINVALIDURL", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := NewRecorder(nil)
			c := NewClient(&http.Client{}, rec)
			c.Timeout = tc.timeout
			if tc.maxBody > 0 {
				c.MaxBody = tc.maxBody
			}
			req, _ := http.NewRequest("GET", tc.url, nil)
			_, err := c.Do(context.Background(), "GET x", req, nil)
			var ne *NetError
			if !errors.As(err, &ne) {
				t.Fatalf("want NetError, got %v", err)
			}
			if ne.Code != tc.code || ne.Transient() != tc.transient {
				t.Fatalf("code=%s transient=%v, want %s %v (%v)", ne.Code, ne.Transient(), tc.code, tc.transient, ne)
			}
			if ex := rec.Exchanges(); len(ex) != 1 || ex[0].Error == "" {
				t.Fatalf("failed exchange must be recorded with its error: %+v", ex)
			}
		})
	}
}

func TestRecordedBodyIsCapped(t *testing.T) {
	rec := NewRecorder(nil)
	rec.maxBody = 10
	rec.Add(Exchange{Name: "x", Request: ExchangeRequest{Body: strings.Repeat("a", 25), Header: http.Header{}}})
	got := rec.Exchanges()[0].Request.Body
	if !strings.HasPrefix(got, strings.Repeat("a", 10)+"\n[truncated 15 bytes") {
		t.Fatalf("got %q", got)
	}
}
