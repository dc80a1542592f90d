package querycache

import (
	"context"
	"errors"
	"sync"
)

// errBypass is a call's result when the breaker kept it from calling Redis.
var errBypass = errors.New("querycache: breaker open")

// flight is one in-progress fill of one key. The leader fills the result
// fields before closing done; followers read them after done closes.
// (Package rediscache has its twin, with what its batch loads need.)
type flight struct {
	done chan struct{}
	val  any
	err  error
	ok   bool // the result is usable: false if the leader panicked
}

// flightGroup runs at most one fill per key at a time in this process.
// Followers stop waiting when their own context ends, and a panicking
// loader panics only in the leader's goroutine, leaving the followers to
// load for themselves.
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
