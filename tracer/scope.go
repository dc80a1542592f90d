package tracer

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
)

// Scope receives every statement run with a context that carries it (see
// WithScope). It is how n1detect sees a unit of work: an HTTP request, a
// test, a job. Statements run with a context derived from the scope's,
// including in goroutines, reach the same Scope, so its methods must be safe
// for concurrent use and fast.
type Scope interface {
	// WantCallers reports whether ObserveStatement needs the program counters
	// of the statement's callers; capturing them costs a stack walk.
	WantCallers() bool
	// ObserveStatement is called when a statement ends, on its goroutine.
	// pcs are the callers' program counters captured when it started (nil
	// unless WantCallers). It must not retain ev.Args or ev.Conn.
	ObserveStatement(ctx context.Context, t *Tracer, ev Event, pcs []uintptr)
}

type scopeKey struct{}

// WithScope returns a context that carries s. Statements traced by any
// Tracer with that context (or one derived from it) are reported to s; a nil
// s hides an enclosing scope.
func WithScope(ctx context.Context, s Scope) context.Context {
	scopesUsed.Store(true)
	return context.WithValue(ctx, scopeKey{}, scopeBox{s})
}

// scopesUsed is false until the first WithScope: until then no statement
// pays for the context lookup.
var scopesUsed atomic.Bool

// ScopeFromContext returns the scope ctx carries, or nil.
func ScopeFromContext(ctx context.Context) Scope {
	if !scopesUsed.Load() {
		return nil
	}
	if b, ok := ctx.Value(scopeKey{}).(scopeBox); ok {
		return b.s
	}
	return nil
}

// scopeBox lets WithScope store a nil Scope that still hides outer ones.
type scopeBox struct{ s Scope }

// maxCallers bounds the stack captured for a scope: enough to get past pgx,
// pgxpool, pgxperf and sqlc-generated code to several application frames.
// The cost of runtime.Callers grows with it.
const maxCallers = 12

type pcBuf [maxCallers]uintptr

var pcBufs = sync.Pool{New: func() any { return new(pcBuf) }}

// startScope looks the scope up once per statement and captures the
// callers when the scope wants them, into a pooled buffer that endScope
// returns.
func startScope(ctx context.Context) (Scope, *pcBuf, int) {
	sc := ScopeFromContext(ctx)
	if sc == nil || !sc.WantCallers() {
		return sc, nil, 0
	}
	buf := pcBufs.Get().(*pcBuf)
	// Skip runtime.Callers, startScope and the Trace…Start method.
	n := runtime.Callers(3, buf[:])
	return sc, buf, n
}

// observe hands a finished statement to its scope and recycles the buffer.
func observe(ctx context.Context, t *Tracer, sc Scope, buf *pcBuf, n int, ev Event) {
	if buf == nil {
		sc.ObserveStatement(ctx, t, ev, nil)
		return
	}
	sc.ObserveStatement(ctx, t, ev, buf[:n])
	pcBufs.Put(buf)
}
