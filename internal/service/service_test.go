package service

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestFuncStopsAndWaits(t *testing.T) {
	var ended atomic.Bool
	f := &Func{Run: func(ctx context.Context) {
		<-ctx.Done()
		time.Sleep(20 * time.Millisecond) // work still held when asked to stop
		ended.Store(true)
	}}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !ended.Load() {
		t.Fatal("Stop returned before the function did")
	}
}

func TestStopGivesUpWithItsContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	f := &Func{Run: func(context.Context) { <-release }} // ignores cancellation
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := f.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop = %v, want the context's deadline", err)
	}
}

func TestStopBeforeStart(t *testing.T) {
	var l Loop
	if err := l.Stop(context.Background()); err != nil {
		t.Fatalf("stopping a loop that never ran: %v", err)
	}
}
