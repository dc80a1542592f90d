package rediscache

import (
	"context"
	"errors"
	"sync"
)

// flight is one in-progress get-or-load of one key. The leader fills the
// result fields before closing done; followers read them after done closes.
type flight struct {
	done chan struct{}
	val  any
	hit  bool
	err  error
	ok   bool // the result is usable: false if the leader panicked
}

// flightGroup runs at most one get-or-load per key at a time in this process.
// It differs from golang.org/x/sync/singleflight in two ways that matter here:
// followers stop waiting when their own context ends, and a panicking loader
// panics only in the leader's goroutine (singleflight.DoChan crashes the
// process), leaving the followers to load for themselves.
type flightGroup struct {
	mu sync.Mutex
	m  map[string]*flight
}

// join returns the flight for key, and whether the caller leads it. A leader
// must call finish exactly once.
func (g *flightGroup) join(key string) (*flight, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f, ok := g.m[key]; ok {
		return f, false
	}
	if g.m == nil {
		g.m = make(map[string]*flight)
	}
	f := &flight{done: make(chan struct{})}
	g.m[key] = f
	return f, true
}

func (g *flightGroup) finish(key string, f *flight) {
	g.mu.Lock()
	if g.m[key] == f {
		delete(g.m, key)
	}
	g.mu.Unlock()
	close(f.done)
}

// wait waits for f, or for ctx to end.
func (f *flight) wait(ctx context.Context) error {
	select {
	case <-f.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errAbsent is a GetMany leader's result for a key its loader did not return.
var errAbsent = errors.New("rediscache: key absent from loader result")

// flightValue returns a follower's value from a finished flight. usable is false
// when the follower must load for itself: the leader panicked, returned
// another type, left the key out of a batch, or failed only because the
// leader's own context ended.
func flightValue[T any](ctx context.Context, f *flight) (v T, usable bool, err error) {
	if !f.ok || errors.Is(f.err, errAbsent) {
		return v, false, nil
	}
	if f.err != nil {
		if isContextErr(f.err) && ctx.Err() == nil {
			return v, false, nil
		}
		return v, true, f.err
	}
	v, ok := f.val.(T)
	return v, ok, nil
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
