package webhook

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jobmediator/jobmediator/mediator"
	"github.com/jobmediator/jobmediator/sim/openhim"
)

// The requests core sends a mediator, from the shared test data: annotated
// examples (request-to-mediator-*.txt) and raw captures from a running core
// 8.5 (captured-requests-core-8.5.md).
const wireDir = "../../testdata/shared/openhim/"

// wireRequest is a capture as our router gets it, sent to path instead of
// the capture's own route path (the query string is kept). extra are header
// lines added after the capture's own.
func wireRequest(t *testing.T, c openhim.Capture, path string, extra ...string) *http.Request {
	t.Helper()
	c.Head = append(append([]string(nil), c.Head...), extra...)
	req, err := c.Request()
	if err != nil {
		t.Fatal(err)
	}
	u := *req.URL
	u.Path = path
	req.URL = &u
	req.RequestURI = ""
	return req
}

func annotated(t *testing.T, name string) openhim.Capture {
	t.Helper()
	c, err := openhim.ReadAnnotated(wireDir + name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// seen is what the context workflow saw: state.openhim, state.request and
// state.data.
type seen struct {
	OpenHIM mediator.TxContext `json:"openhim"`
	Request struct {
		Method  string            `json:"method"`
		Path    string            `json:"path"`
		Query   map[string]any    `json:"query"`
		Headers map[string]string `json:"headers"`
	} `json:"request"`
	Data map[string]any `json:"data"`
}

func serveWire(t *testing.T, f *fixture, req *http.Request) (mediator.Response, seen) {
	t.Helper()
	w := httptest.NewRecorder()
	f.router.ServeHTTP(w, req)
	env := envelopeOf(t, w)
	if env.Status != mediator.StatusSuccessful || w.Code != http.StatusOK {
		t.Fatalf("status %d %s: %s", w.Code, env.Status, env.Response.Body)
	}
	var s seen
	if err := json.Unmarshal([]byte(env.Response.Body), &s); err != nil {
		t.Fatal(err, env.Response.Body)
	}
	return env, s
}

// TestWireRequestsFromCore replays what core puts on the wire for a routed
// request, a polling trigger and a rerun, and checks what a job sees.
func TestWireRequestsFromCore(t *testing.T) {
	f := newFixture(t, nil)

	t.Run("routed", func(t *testing.T) {
		_, s := serveWire(t, f, wireRequest(t, annotated(t, "request-to-mediator-http.txt"), "/context"))
		if s.OpenHIM.TransactionID != "6592a6c1f0e1b2a3c4d5e6f7" || s.OpenHIM.ParentID != "" || s.OpenHIM.ChannelID != "" {
			t.Fatalf("openhim: %+v", s.OpenHIM)
		}
		if s.Request.Method != "POST" || s.Request.Query["x"] != "1" || s.Data["resourceType"] != "Patient" {
			t.Fatalf("request %+v data %v", s.Request, s.Data)
		}
		if s.Request.Headers["x-forwarded-host"] != "core:5000" || !strings.Contains(s.Request.Headers["x-forwarded-for"], "10.0.0.9") {
			t.Fatalf("forwarding headers: %v", s.Request.Headers)
		}
	})

	t.Run("polling trigger", func(t *testing.T) {
		_, s := serveWire(t, f, wireRequest(t, annotated(t, "request-to-mediator-polling.txt"), "/context"))
		if s.OpenHIM.ChannelID != "6592a6c1f0e1b2a3c4d5e6aa" || s.OpenHIM.TransactionID != "6592a6c1f0e1b2a3c4d5e6f8" {
			t.Fatalf("openhim: %+v", s.OpenHIM)
		}
		// Core's JS Date.toString() of the current run's start.
		if s.OpenHIM.LastRunAtTime == nil || s.OpenHIM.LastRunAtTime.UTC().Format("2006-01-02T15:04:05Z") != "2024-01-01T02:00:00Z" {
			t.Fatalf("lastRunAt %q parsed as %v", s.OpenHIM.LastRunAt, s.OpenHIM.LastRunAtTime)
		}
		if s.Request.Method != "GET" || len(s.Data) != 0 {
			t.Fatalf("a poll has no body: %+v %v", s.Request, s.Data)
		}
	})

	t.Run("rerun", func(t *testing.T) {
		// A rerun is the original stored request plus core's rerun
		// headers, with a new transaction id.
		var rerun []string
		for _, l := range annotated(t, "request-to-mediator-rerun.txt").Head {
			if !strings.HasPrefix(l, "X-OpenHIM-TransactionID") {
				rerun = append(rerun, l)
			}
		}
		req := wireRequest(t, annotated(t, "request-to-mediator-http.txt"), "/context", rerun...)
		req.Header.Set("X-OpenHIM-TransactionID", "6592a6c1f0e1b2a3c4d5e6ff")
		env, s := serveWire(t, f, req)
		want := mediator.TxContext{TransactionID: "6592a6c1f0e1b2a3c4d5e6ff", ParentID: "6592a6c1f0e1b2a3c4d5e6f7",
			TaskID: "6592a6c1f0e1b2a3c4d5e611", ClientID: "6592a6c1f0e1b2a3c4d5e600"}
		if s.OpenHIM.TransactionID != want.TransactionID || s.OpenHIM.ParentID != want.ParentID ||
			s.OpenHIM.TaskID != want.TaskID || s.OpenHIM.ClientID != want.ClientID || !s.OpenHIM.Rerun() {
			t.Fatalf("openhim: %+v, want %+v and rerun", s.OpenHIM, want)
		}
		if s.Data["resourceType"] != "Patient" {
			t.Fatalf("the original body must be replayed: %v", s.Data)
		}
		if env.Properties["rerun_of"] != want.ParentID {
			t.Fatalf("rerun not linked in properties: %v", env.Properties)
		}
	})
}

// TestCapturedRequestsFromCore85 replays what a running core 8.5 sent a
// mediator (routed, rerun, polling) and checks what the job sees.
func TestCapturedRequestsFromCore85(t *testing.T) {
	caps, err := openhim.ReadCaptures(wireDir + "captured-requests-core-8.5.md")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, nil)
	kinds := map[string]int{}
	for _, c := range caps {
		tx, _ := c.Header("X-OpenHIM-TransactionID")
		_, s := serveWire(t, f, wireRequest(t, c, "/context"))
		if s.OpenHIM.TransactionID != tx {
			t.Errorf("%s: transaction %q, want %q", c.Title, s.OpenHIM.TransactionID, tx)
		}
		switch {
		case strings.HasPrefix(c.Title, "rerun"):
			kinds["rerun"]++
			parent, _ := c.Header("parentid")
			task, _ := c.Header("taskid")
			if s.OpenHIM.ParentID != parent || s.OpenHIM.TaskID != task || s.OpenHIM.ClientID != "test-client" || s.Data["hello"] != "world" {
				t.Errorf("%s: %+v data %v", c.Title, s.OpenHIM, s.Data)
			}
		case strings.HasPrefix(c.Title, "polling"):
			kinds["polling"]++
			ch, _ := c.Header("channel-id")
			last, _ := c.Header("x-openhim-lastrunat")
			want, _ := mediator.ParseJSDate(last)
			if s.OpenHIM.ChannelID != ch || s.OpenHIM.LastRunAtTime == nil || !s.OpenHIM.LastRunAtTime.Equal(want) || s.OpenHIM.Rerun() {
				t.Errorf("%s: %+v", c.Title, s.OpenHIM)
			}
		default:
			kinds["routed"]++
			if s.OpenHIM.ClientID != "test-client" || s.OpenHIM.Rerun() || s.Request.Query["foo"] != "bar" ||
				s.Request.Headers["x-test-header"] != "hello" || s.Data["hello"] != "world" {
				t.Errorf("%s: %+v request %+v data %v", c.Title, s.OpenHIM, s.Request, s.Data)
			}
		}
	}
	if kinds["routed"] == 0 || kinds["rerun"] == 0 || kinds["polling"] == 0 {
		t.Fatalf("captures by kind: %v", kinds)
	}
}
