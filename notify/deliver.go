package notify

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/jobmediator/jobmediator/internal/backoff"
)

// Retry is how a sink retries a failed delivery: Attempts tries in all,
// waiting Backoff, then twice as long each time up to MaxBackoff.
type Retry struct {
	Attempts   int
	Backoff    time.Duration
	MaxBackoff time.Duration
}

// DefaultRetry gives a sink about two minutes to come back.
var DefaultRetry = Retry{Attempts: 6, Backoff: 2 * time.Second, MaxBackoff: time.Minute}

// permanent marks an error a retry cannot fix (a 4xx from a webhook, a
// 5xx reply from a mail server).
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// Permanent wraps err so that deliver stops retrying.
func Permanent(err error) error { return permanent{err} }

// deliver calls try until it succeeds, fails permanently, runs out of
// attempts or ctx ends.
func (r Retry) deliver(ctx context.Context, try func(context.Context) error) error {
	if r.Attempts <= 0 {
		r = DefaultRetry
	}
	maxWait := r.MaxBackoff
	if maxWait <= 0 {
		maxWait = math.MaxInt64 // no cap
	}
	var err error
	for i := 0; i < r.Attempts; i++ {
		if err = try(ctx); err == nil {
			return nil
		}
		var p permanent
		if errors.As(err, &p) || i == r.Attempts-1 {
			break
		}
		t := time.NewTimer(backoff.Delay(i+1, r.Backoff, maxWait, backoff.NoJitter))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
	return err
}
