package tracer

import (
	"context"
	"runtime"
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
	return context.WithValue(ctx, scopeKey{}, scopeBox{s})
}

// ScopeFromContext returns the scope ctx carries, or nil.
func ScopeFromContext(ctx context.Context) Scope {
	if b, ok := ctx.Value(scopeKey{}).(scopeBox); ok {
		return b.s
	}
	return nil
}

// scopeBox lets WithScope store a nil Scope that still hides outer ones.
type scopeBox struct{ s Scope }

// maxCallers bounds the stack captured for a scope: enough to get past pgx,
// pgxpool, pgxperf and sqlc-generated code to a few application frames.
const maxCallers = 24

// startScope looks the scope up once per statement and captures the
// callers when the scope wants them.
func startScope(ctx context.Context) (Scope, []uintptr) {
	sc := ScopeFromContext(ctx)
	if sc == nil || !sc.WantCallers() {
		return sc, nil
	}
	pcs := make([]uintptr, maxCallers)
	// Skip runtime.Callers, startScope and the Trace…Start method.
	n := runtime.Callers(3, pcs)
	return sc, pcs[:n]
}
