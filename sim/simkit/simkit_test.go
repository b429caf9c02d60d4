package simkit

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/internal/redact"
)

func TestListenServesAndCloses(t *testing.T) {
	l, err := Listen("test", "", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(l.URL(), "http://127.0.0.1:") {
		t.Fatalf("URL %q", l.URL())
	}
	resp, err := http.Get(l.URL())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "ok" {
		t.Fatalf("body %q", b)
	}
	// A second listener on the same address names the simulator.
	if _, err := Listen("dhis2", strings.TrimPrefix(l.URL(), "http://"), http.NotFoundHandler()); err == nil || !strings.HasPrefix(err.Error(), "dhis2 sim: listen:") {
		t.Fatalf("clash: %v", err)
	}
	l.Close()
	if _, err := http.Get(l.URL()); err == nil {
		t.Fatal("still serving after Close")
	}
	var never *Listener
	never.Close()
	if never.URL() != "" {
		t.Fatal("nil listener has a URL")
	}
}

func TestFaultsOrderAndCount(t *testing.T) {
	var f Faults
	ctx := context.Background()
	f.FailNextWithBody(2, 503, "{bad")
	f.DropNext(1)
	want := []Fault{{Status: 503, Body: "{bad"}, {Status: 503, Body: "{bad"}, {Drop: true}, {}, {}}
	for i, w := range want {
		got, alive := f.Next(ctx)
		if !alive || got != w {
			t.Fatalf("request %d: %+v alive=%v, want %+v", i, got, alive, w)
		}
	}
	f.FailNext(1, 429)
	if got, _ := f.Next(ctx); got != (Fault{Status: 429}) {
		t.Fatalf("FailNext: %+v", got)
	}
}

func TestFaultsLatencyEndsWithTheClient(t *testing.T) {
	var f Faults
	f.SetLatency(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan bool)
	go func() {
		_, alive := f.Next(ctx)
		done <- alive
	}()
	cancel()
	if alive := <-done; alive {
		t.Fatal("a client that left is still served")
	}
	f.SetLatency(time.Millisecond)
	if _, alive := f.Next(context.Background()); !alive {
		t.Fatal("short latency not served")
	}
}

func TestWriteProxyPage(t *testing.T) {
	for _, tt := range []struct {
		code       int
		retryAfter string
	}{{502, ""}, {503, "1"}, {504, ""}} {
		rec := httptest.NewRecorder()
		WriteProxyPage(rec, tt.code, "nginx/1.10.2")
		if rec.Code != tt.code || rec.Header().Get("Content-Type") != "text/html" ||
			rec.Header().Get("Retry-After") != tt.retryAfter ||
			!strings.Contains(rec.Body.String(), "<center>nginx/1.10.2</center>") ||
			!strings.Contains(rec.Body.String(), http.StatusText(tt.code)) {
			t.Fatalf("%d: %d %v %q", tt.code, rec.Code, rec.Header(), rec.Body)
		}
	}
	if !IsProxyStatus(503) || IsProxyStatus(500) || IsProxyStatus(429) {
		t.Fatal("IsProxyStatus")
	}
}

func TestClockAdvances(t *testing.T) {
	base := time.Date(2024, 3, 1, 10, 0, 0, 0, time.FixedZone("ICT", 7*3600))
	c := NewClock(func() time.Time { return base })
	c.Advance(90 * time.Minute)
	if got := c.Now(); !got.Equal(base.Add(90*time.Minute)) || got.Location() != time.UTC {
		t.Fatalf("Now %v", got)
	}
}

func TestBasicAuthAndPasswords(t *testing.T) {
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		header, user, pass string
		ok                 bool
	}{
		{"Basic " + enc("admin:dis:trict"), "admin", "dis:trict", true},
		{"basic  " + enc("admin:district"), "admin", "district", true},
		{"Bearer " + enc("admin:district"), "", "", false},
		{"Basic " + enc("nocolon"), "", "", false},
		{"Basic !!!", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		u, p, err := BasicAuth(tt.header)
		if (err == nil) != tt.ok || u != tt.user || p != tt.pass {
			t.Errorf("%q: %q %q %v", tt.header, u, p, err)
		}
	}
	if !PasswordOK("s3cret", "s3cret") || PasswordOK("s3cret", "s3cre") || PasswordOK("", "") {
		t.Fatal("PasswordOK")
	}
}

func TestMaskHeader(t *testing.T) {
	red := redact.New()
	red.AddValues("tok-123456")
	h := http.Header{"Authorization": {"Bearer tok-123456"}, "X-Echo": {"tok-123456"}, "Accept": {"application/json"}}
	got := MaskHeader(red, h)
	if got.Get("Authorization") != "Bearer "+redact.Mask || strings.Contains(got.Get("X-Echo"), "tok-123456") || got.Get("Accept") != "application/json" {
		t.Fatalf("masked %v", got)
	}
	if h.Get("Authorization") != "Bearer tok-123456" {
		t.Fatal("input header modified")
	}
}
