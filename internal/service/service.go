// Package service gives the daemon's background parts (queue workers,
// scheduler, retention, registrar) one shape: Start returns once the part
// runs, Stop ends it and waits for the work it holds. The daemon starts
// them in order and stops them in reverse.
package service

import (
	"context"
	"sync"
)

// Service is a background part of the daemon.
type Service interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// Loop runs a function in the background until Stop is called or the
// context given to Start ends. Its zero value is ready to use.
type Loop struct {
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// Go starts run in its own goroutine; Stop cancels its context and waits
// for it to return.
func (l *Loop) Go(ctx context.Context, run func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	l.mu.Lock()
	l.cancel, l.done = cancel, done
	l.mu.Unlock()
	go func() {
		defer close(done)
		run(ctx)
	}()
}

// Stop cancels the loop and waits until it has returned, or ctx ends.
// Stopping a loop that never started does nothing.
func (l *Loop) Stop(ctx context.Context) error {
	l.mu.Lock()
	cancel, done := l.cancel, l.done
	l.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	return Wait(ctx, done)
}

// Wait blocks until done is closed or ctx ends.
func Wait(ctx context.Context, done <-chan struct{}) error {
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WaitGroup blocks until wg is done or ctx ends.
func WaitGroup(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	return Wait(ctx, done)
}

// Func is a Service made of a function that runs until its context ends.
type Func struct {
	Run  func(ctx context.Context)
	loop Loop
}

// Start implements Service.
func (f *Func) Start(ctx context.Context) error {
	f.loop.Go(ctx, f.Run)
	return nil
}

// Stop implements Service.
func (f *Func) Stop(ctx context.Context) error { return f.loop.Stop(ctx) }
