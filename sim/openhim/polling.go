package openhim

import (
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// poller is the Agenda job polling-job-<channelId>.
type poller struct {
	quit chan struct{}
	done chan struct{}
	// waiting is the timer the job sleeps on until its next run (0 while
	// it runs): what lets a test see a schedule instead of sleeping.
	waiting atomic.Int64
}

func (p *poller) stop() {
	select {
	case <-p.quit:
	default:
		close(p.quit)
	}
}

// schedule answers when the job runs next after t.
type schedule interface{ next(t time.Time) time.Time }

type every time.Duration

func (e every) next(t time.Time) time.Time { return t.Add(time.Duration(e)) }

// parseSchedule parses a pollingSchedule as Agenda's every() does, within
// what the simulator supports: human intervals ("5 minutes", "1 hour",
// "30 seconds", "2 days", "one minute", "a week") and 5-field cron
// expressions with numbers, "*", "*/n", ranges "a-b", "a-b/n" and lists,
// evaluated in loc.
func parseSchedule(s string, loc *time.Location) (schedule, error) {
	s = strings.TrimSpace(s)
	if f := strings.Fields(s); len(f) == 5 && strings.ContainsAny(f[0], "0123456789*") && !isUnit(f[1]) {
		return parseCron(f, loc)
	}
	d, err := parseHumanInterval(s)
	if err != nil {
		return nil, err
	}
	return every(d), nil
}

var units = map[string]time.Duration{
	"ms": time.Millisecond, "millisecond": time.Millisecond, "second": time.Second, "sec": time.Second,
	"minute": time.Minute, "min": time.Minute, "hour": time.Hour, "day": 24 * time.Hour,
	"week": 7 * 24 * time.Hour, "month": 30 * 24 * time.Hour, "year": 365 * 24 * time.Hour,
}

var numberWords = map[string]float64{"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
	"six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15,
	"twenty": 20, "thirty": 30}

func isUnit(w string) bool {
	_, ok := unitOf(w)
	return ok
}

// unitOf accepts singular, plural and short unit names.
func unitOf(w string) (time.Duration, bool) {
	w = strings.ToLower(w)
	if u, ok := units[w]; ok {
		return u, true
	}
	u, ok := units[strings.TrimSuffix(w, "s")]
	return u, ok
}

// parseHumanInterval handles "<number> <unit>" terms, possibly several
// ("1 hour and 30 minutes"). A bare number is milliseconds, as in
// human-interval.
func parseHumanInterval(s string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil && n > 0 {
		return time.Duration(n * float64(time.Millisecond)), nil
	}
	f := strings.Fields(strings.ToLower(strings.NewReplacer(",", " ", " and ", " ").Replace(s)))
	var total time.Duration
	for i := 0; i < len(f); i++ {
		n, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			w, ok := numberWords[f[i]]
			if !ok {
				return 0, fmt.Errorf("unsupported pollingSchedule %q", s)
			}
			n = w
		}
		if i+1 >= len(f) {
			return 0, fmt.Errorf("unsupported pollingSchedule %q: missing unit", s)
		}
		u, ok := unitOf(f[i+1])
		if !ok {
			return 0, fmt.Errorf("unsupported pollingSchedule %q: unknown unit %q", s, f[i+1])
		}
		total += time.Duration(n * float64(u))
		i++
	}
	if total <= 0 {
		return 0, fmt.Errorf("unsupported pollingSchedule %q", s)
	}
	return total, nil
}

type cron struct {
	min, hour, dom, mon, dow [64]bool
	domStar, dowStar         bool
	loc                      *time.Location
}

func parseCron(f []string, loc *time.Location) (schedule, error) {
	c := &cron{loc: loc}
	specs := []struct {
		set      *[64]bool
		lo, hi   int
		starFlag *bool
	}{{&c.min, 0, 59, nil}, {&c.hour, 0, 23, nil}, {&c.dom, 1, 31, &c.domStar}, {&c.mon, 1, 12, nil}, {&c.dow, 0, 7, &c.dowStar}}
	for i, sp := range specs {
		if sp.starFlag != nil {
			*sp.starFlag = f[i] == "*" || f[i] == "?"
		}
		for _, part := range strings.Split(f[i], ",") {
			rng, step := part, 1
			if a, b, ok := strings.Cut(part, "/"); ok {
				n, err := strconv.Atoi(b)
				if err != nil || n < 1 {
					return nil, fmt.Errorf("bad cron step %q", part)
				}
				rng, step = a, n
			}
			lo, hi := sp.lo, sp.hi
			if rng != "*" && rng != "?" {
				a, b, isRange := strings.Cut(rng, "-")
				x, err := strconv.Atoi(a)
				if err != nil || x < sp.lo || x > sp.hi {
					return nil, fmt.Errorf("bad cron field %q", f[i])
				}
				lo, hi = x, x
				if isRange {
					y, err := strconv.Atoi(b)
					if err != nil || y < x || y > sp.hi {
						return nil, fmt.Errorf("bad cron field %q", f[i])
					}
					hi = y
				} else if step > 1 {
					hi = sp.hi
				}
			}
			for v := lo; v <= hi; v += step {
				sp.set[v] = true
			}
		}
	}
	if c.dow[7] {
		c.dow[0] = true
	}
	return c, nil
}

func (c *cron) next(t time.Time) time.Time {
	t = t.In(c.loc).Truncate(time.Minute).Add(time.Minute)
	for i := 0; i < 366*24*60; i++ {
		dayOK := c.dom[t.Day()] && c.dow[int(t.Weekday())]
		if !c.domStar && !c.dowStar {
			dayOK = c.dom[t.Day()] || c.dow[int(t.Weekday())]
		}
		if c.mon[int(t.Month())] && dayOK && c.hour[t.Hour()] && c.min[t.Minute()] {
			return t
		}
		t = t.Add(time.Minute)
	}
	return t
}

// schedulePolling (re)defines the job for a polling channel: cancel the old
// one, and for an enabled channel run now (Agenda's every() does) and then
// on schedule (§4.6).
func (c *Core) schedulePolling(ch map[string]any) {
	id := str(ch["_id"])
	c.mu.Lock()
	if old := c.pollers[id]; old != nil {
		old.stop()
		delete(c.pollers, id)
	}
	if c.opts.DisablePolling || str(ch["type"]) != "polling" || !channelEnabled(ch) || c.apiSrv == nil {
		c.mu.Unlock()
		return
	}
	sched, err := parseSchedule(str(ch["pollingSchedule"]), c.loc)
	if err != nil {
		c.mu.Unlock()
		return // Agenda logs the error; nothing is scheduled
	}
	p := &poller{quit: make(chan struct{}), done: make(chan struct{})}
	c.pollers[id] = p
	c.mu.Unlock()
	go func() {
		defer close(p.done)
		for {
			select {
			case <-p.quit:
				return
			case <-c.closing:
				return
			default:
			}
			ran := c.now()
			_, _ = c.TriggerPolling(id)
			// Measured on the core clock, so an injected fixed clock cannot
			// make the job spin.
			wait := sched.next(ran).Sub(ran)
			if wait <= 0 {
				wait = time.Millisecond
			}
			p.waiting.Store(int64(wait))
			tm := time.NewTimer(wait)
			select {
			case <-p.quit:
				tm.Stop()
				return
			case <-c.closing:
				tm.Stop()
				return
			case <-tm.C:
			}
			p.waiting.Store(0)
		}
	}()
}

// TriggerPolling fires a channel's polling request now and waits for it:
// the same as POST /channels/:id/trigger. It returns 200, 500 when the
// route's final status was not 2xx or it was unreachable, or 404 (with
// ErrNotFound) for an unknown channel.
func (c *Core) TriggerPolling(channelID string) (int, error) {
	ch, ok := c.channel(channelID)
	if !ok {
		return 404, ErrNotFound
	}
	runAt := c.now()
	in := &inbound{kind: "polling", method: "GET", path: "/trigger", host: "localhost:7788",
		clientDocID: c.newID(), // the unsaved DUMMY-POLLING-USER client
		headers: []hdr{
			{"accept", "application/json, text/plain, */*"},
			{"channel-id", channelID},
			{"x-openhim-lastrunat", c.jsDateString(runAt)},
			{"user-agent", "axios/0.21.4"},
			{"host", "localhost:7788"},
		}}
	ctx, cancel := c.internalContext(ch)
	defer cancel()
	status := 0
	c.process(ctx, in, ch, func(r clientResponse) { status = r.status })
	if status < 200 || status >= 300 {
		return 500, fmt.Errorf("openhim sim: polling route answered %d", status)
	}
	return 200, nil
}

// ReschedulePolling re-registers every enabled polling channel, as core does
// when it starts; each fires at once. Default channels installed through
// POST /mediators/:urn/channels are only scheduled this way, because core
// schedules them only at its next start.
func (c *Core) ReschedulePolling() {
	for _, ch := range c.Channels() {
		c.schedulePolling(ch)
	}
}
