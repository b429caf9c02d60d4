package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// LoadResult is one load run against one server.
type LoadResult struct {
	Requests  int
	Errors    int
	FirstErr  string
	Elapsed   time.Duration
	Latencies []time.Duration // sorted
}

func (r LoadResult) RPS() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

// target is what the load generator sends: one POST with a JSON body.
type target struct {
	URL  string
	Body []byte
}

func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			DisableCompression:  true,
		},
	}
}

func send(c *http.Client, t target) error {
	resp, err := c.Post(t.URL, "application/json", bytes.NewReader(t.Body))
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

type collector struct {
	mu    sync.Mutex
	lat   []time.Duration
	errs  int
	first string
}

func (c *collector) add(d time.Duration, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if c.errs == 0 {
			c.first = err.Error()
		}
		c.errs++
		return
	}
	c.lat = append(c.lat, d)
}

func (c *collector) result(elapsed time.Duration) LoadResult {
	slices.Sort(c.lat)
	return LoadResult{Requests: len(c.lat), Errors: c.errs, FirstErr: c.first, Elapsed: elapsed, Latencies: c.lat}
}

// ClosedLoop keeps conns requests in flight for d: each connection sends
// its next request as soon as the previous answer is read.
func closedLoop(t target, conns int, d time.Duration) LoadResult {
	c := newClient(conns)
	defer c.CloseIdleConnections()
	var col collector
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				t0 := time.Now()
				err := send(c, t)
				col.add(time.Since(t0), err)
			}
		}()
	}
	wg.Wait()
	return col.result(time.Since(start))
}

// openLoop sends rate requests per second for d on a fixed schedule,
// whatever the server does, and measures each latency from the request's
// scheduled send time: a request that had to wait for a free connection
// (because the server fell behind) counts its wait, so queueing shows in
// the percentiles (no coordinated omission).
func openLoop(t target, rate int, d time.Duration, maxConns int) LoadResult {
	c := newClient(maxConns)
	defer c.CloseIdleConnections()
	var col collector
	total := int(d.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	start := time.Now().Add(20 * time.Millisecond)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < maxConns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(total) {
					return
				}
				due := start.Add(time.Duration(i) * interval)
				if wait := time.Until(due); wait > 0 {
					time.Sleep(wait)
				}
				err := send(c, t)
				col.add(time.Since(due), err)
			}
		}()
	}
	wg.Wait()
	return col.result(time.Since(start))
}
