package schedule

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/channels/internal/chantest"
	"github.com/jobmediator/jobmediator/mediator"
	"github.com/jobmediator/jobmediator/store"
)

// pollGET sends a polling trigger over a real connection, with the header
// names lower-cased as core's polling app sends them.
func pollGET(t *testing.T, url string, headers map[string]string) (int, mediator.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range headers {
		req.Header[k] = []string{v} // raw, not canonicalised: sent as written
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var env mediator.Response
	if resp.Header.Get("Content-Type") == mediator.ContentType {
		if err := json.Unmarshal(b, &env); err != nil {
			t.Fatalf("envelope: %v: %s", err, b)
		}
	}
	return resp.StatusCode, env, string(b)
}

type recCompleter struct{ fakeRecorder }

func TestPollingTrigger(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	up := chantest.NewUpstream(t)
	f := newSched(t, st, up, NewFakeClock(t0), nil)
	srv := httptest.NewServer(f.router)
	defer srv.Close()

	first := "Thu Dec 05 2024 09:58:24 GMT+0000 (Coordinated Universal Time)"
	tx1 := mediator.NewObjectID()
	code, env, body := pollGET(t, srv.URL+"/poll", map[string]string{
		"channel-id": "5f0000000000000000000009", "x-openhim-lastrunat": first, "X-OpenHIM-TransactionID": tx1,
		"accept": "application/json, text/plain, */*", "user-agent": "axios/0.21.4",
	})
	if code != 200 || env.Status != mediator.StatusSuccessful {
		t.Fatalf("poll 1: %d %s", code, body)
	}
	cv, v1 := cursorOf(t, st, PollingCursorKey("polled"))
	want1 := time.Date(2024, 12, 5, 9, 58, 24, 0, time.UTC)
	if cv.Watermark == nil || !cv.Watermark.Equal(want1) {
		t.Fatalf("watermark after poll 1 = %+v", cv)
	}

	// Core's time zone shows in the header; the window is still exact.
	second := "Thu Dec 05 2024 17:03:24 GMT+0700 (Indochina Time)"
	code, env, body = pollGET(t, srv.URL+"/poll", map[string]string{
		"channel-id": "5f0000000000000000000009", "x-openhim-lastrunat": second, "X-OpenHIM-TransactionID": mediator.NewObjectID(),
	})
	if code != 200 || env.Status != mediator.StatusSuccessful {
		t.Fatalf("poll 2: %d %s", code, body)
	}
	posts := up.Posts(t, "polled")
	if len(posts) != 2 || posts[0]["since"] != nil || posts[0]["until"] != "2024-12-05T09:58:24Z" ||
		posts[1]["since"] != "2024-12-05T09:58:24Z" || posts[1]["until"] != "2024-12-05T10:03:24Z" {
		t.Fatalf("windows = %v", posts)
	}
	if posts[0]["key"] != tx1 {
		t.Errorf("idempotency key = %v, want the transaction id %s", posts[0]["key"], tx1)
	}

	// A failed poll leaves the watermark where it was.
	up.Set(500, 0)
	_, v2 := cursorOf(t, st, PollingCursorKey("polled"))
	code, env, _ = pollGET(t, srv.URL+"/poll", map[string]string{
		"channel-id": "5f0000000000000000000009", "x-openhim-lastrunat": "Thu Dec 05 2024 10:08:24 GMT+0000", "X-OpenHIM-TransactionID": mediator.NewObjectID(),
	})
	if code != 502 || env.Status != mediator.StatusFailed {
		t.Errorf("failed poll answered %d %s", code, env.Status)
	}
	cv3, v3 := cursorOf(t, st, PollingCursorKey("polled"))
	if v3 != v2 || !cv3.Watermark.Equal(want1.Add(5*time.Minute)) || v2 <= v1 {
		t.Errorf("watermark moved on failure: v%d → v%d %v", v2, v3, cv3.Watermark)
	}
	up.Set(201, 0)

	// A rerun of poll 1 (core replays the GET with its stored headers)
	// re-runs poll 1's window, not a new one.
	code, env, body = pollGET(t, srv.URL+"/poll", map[string]string{
		"channel-id": "5f0000000000000000000009", "x-openhim-lastrunat": first,
		"X-OpenHIM-TransactionID": mediator.NewObjectID(), "parentid": tx1, "taskid": "6a0000000000000000000002",
	})
	if code != 200 || env.Properties["rerun_of"] != tx1 {
		t.Fatalf("poll rerun: %d %s", code, body)
	}
	posts = up.Posts(t, "polled")
	last := posts[len(posts)-1]
	if last["since"] != nil || last["until"] != "2024-12-05T09:58:24Z" || last["key"] != tx1 {
		t.Errorf("rerun window = %v, want poll 1's with key %s", last, tx1)
	}
	if _, v4 := cursorOf(t, st, PollingCursorKey("polled")); v4 != v3 {
		t.Error("a rerun moved the watermark")
	}

	// Bad input is refused with a clear message.
	code, _, body = pollGET(t, srv.URL+"/poll", map[string]string{"x-openhim-lastrunat": "yesterday-ish"})
	if code != 400 {
		t.Errorf("bad lastrunat: %d %s", code, body)
	}
	code, _, body = pollGET(t, srv.URL+"/poll", map[string]string{"X-OpenHIM-TransactionID": mediator.NewObjectID(), "parentid": mediator.NewObjectID()})
	if code != 422 {
		t.Errorf("rerun of an unknown transaction: %d %s", code, body)
	}
}

// A poll that outlasts the reply budget answers 202 Processing at once and
// completes its transaction (and watermark) when it ends.
func TestPollingLongRunGoesAsync(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	up := chantest.NewUpstream(t)
	f := newSched(t, st, up, NewFakeClock(t0), nil)
	comp := &recCompleter{}
	f.h.o.Completer = comp
	f.start(t, "a", func(o *Options) { o.PollReplyWithin = 20 * time.Millisecond })
	srv := httptest.NewServer(f.router)
	defer srv.Close()

	up.Set(201, 400*time.Millisecond)
	tx := mediator.NewObjectID()
	code, env, body := pollGET(t, srv.URL+"/poll", map[string]string{
		"channel-id": "5f0000000000000000000009", "x-openhim-lastrunat": "Thu Dec 05 2024 09:58:24 GMT+0000", "X-OpenHIM-TransactionID": tx,
	})
	if code != 202 || env.Status != mediator.StatusProcessing {
		t.Fatalf("long poll answered %d %s", code, body)
	}
	// Another poll while it runs is skipped (409), not run twice.
	code, _, _ = pollGET(t, srv.URL+"/poll", map[string]string{"x-openhim-lastrunat": "Thu Dec 05 2024 10:03:24 GMT+0000", "X-OpenHIM-TransactionID": mediator.NewObjectID()})
	if code != 409 {
		t.Errorf("overlapping poll answered %d, want 409", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.h.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	_, updates := comp.snapshot()
	if u := updates[tx]; len(u) != 1 || u[0]["status"] != mediator.StatusSuccessful {
		t.Fatalf("completion = %v", updates)
	}
	if cv, _ := cursorOf(t, st, PollingCursorKey("polled")); cv.Watermark == nil {
		t.Error("the async poll did not advance the watermark")
	}
	runs, _ := st.ListRuns(context.Background(), store.RunFilter{TransactionID: tx})
	if len(runs) != 1 || runs[0].Trigger != "polling" {
		t.Errorf("history = %+v", runs)
	}
}

// The scheduler leaves polling workflows to core.
func TestSchedulerSkipsPollingWorkflows(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	f := newSched(t, st, chantest.NewUpstream(t), NewFakeClock(t0), nil)
	f.start(t, "a", nil)
	if !f.clock.BlockUntil(2, 5*time.Second) {
		t.Fatal("loops not waiting")
	}
	time.Sleep(20 * time.Millisecond) // a third loop, if any, would register now
	if n := f.clock.Waiters(); n != 2 {
		t.Errorf("%d loops run, want 2 (pull, legacy-pull; polled belongs to core)", n)
	}
	if got := f.h.PollingWorkflows(); len(got) != 1 || got[0].Key != "polled" {
		t.Errorf("PollingWorkflows = %v", got)
	}
}
