package auth

import (
	"math"
	"sync"
	"time"
)

// Limiter is a token bucket per client (an API key's credential, or an
// address on an open endpoint): Requests per Per on average, bursts of up
// to Burst.
type Limiter struct {
	rate  float64 // tokens per second
	burst float64

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxClients bounds the memory a flood of addresses can take: past it,
// buckets that have refilled (idle clients) are forgotten first.
const maxClients = 10000

// NewLimiter allows requests per per, with bursts of burst (≤0: requests).
func NewLimiter(requests int, per time.Duration, burst int) *Limiter {
	if burst <= 0 {
		burst = requests
	}
	return &Limiter{rate: float64(requests) / per.Seconds(), burst: float64(burst), buckets: map[string]*bucket{}}
}

// Allow takes a token for client; when none is left it says how long
// until one is.
func (l *Limiter) Allow(client string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[client]
	if b == nil {
		if len(l.buckets) >= maxClients || now.Sub(l.swept) > time.Minute {
			l.sweep(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[client] = b
	}
	if el := now.Sub(b.at).Seconds(); el > 0 {
		b.tokens = math.Min(l.burst, b.tokens+el*l.rate)
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) / l.rate * float64(time.Second)), false
}

// sweep forgets clients whose buckets are full again (they would start
// full anyway); if that frees nothing, it forgets them all rather than
// grow without bound.
func (l *Limiter) sweep(now time.Time) {
	l.swept = now
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxClients {
		l.buckets = map[string]*bucket{}
	}
}
