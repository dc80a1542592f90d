package tracer

import (
	"context"
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
	// unless WantCallers), as runtime.Callers gives them. It must not retain
	// ev.Args, ev.Conn or pcs.
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
// The cost of the capture grows with it.
const maxCallers = 12

// scopeState is what a scoped statement carries from start to end: its scope
// and its callers. It comes from a pool, so a scoped statement allocates no
// more than an unscoped one.
type scopeState struct {
	scope Scope
	owner *Tracer // the Tracer that started the statement
	n     int     // callers captured, 0 unless the scope wants them
	pcs   [maxCallers]uintptr
}

var scopeStates = sync.Pool{New: func() any { return new(scopeState) }}

// startScope looks the scope up once per statement of t and, when there is
// one, returns its state, with the callers captured when the scope wants
// them; done returns it to the pool.
func startScope(ctx context.Context, t *Tracer) *scopeState {
	sc := ScopeFromContext(ctx)
	if sc == nil {
		return nil
	}
	ss := scopeStates.Get().(*scopeState)
	ss.scope, ss.owner, ss.n = sc, t, 0
	if sc.WantCallers() {
		// Skip callers, startScope and the Trace…Start method.
		ss.n = callers(3, ss.pcs[:])
	}
	return ss
}

// observe hands a finished statement to its scope.
func (ss *scopeState) observe(ctx context.Context, t *Tracer, ev Event) {
	var pcs []uintptr
	if ss.n > 0 {
		pcs = ss.pcs[:ss.n]
	}
	ss.scope.ObserveStatement(ctx, t, ev, pcs)
}

// done reports whether t started the statement, and then returns the state
// to the pool: ss must not be used afterwards. Two Tracers chained on one
// connection (multitracer) both see the state of the outer one; each
// observes the statement, and the last to end, the one that started it,
// returns the state.
func (ss *scopeState) done(t *Tracer) bool {
	if ss.owner != t {
		return false
	}
	ss.scope, ss.owner = nil, nil
	scopeStates.Put(ss)
	return true
}
