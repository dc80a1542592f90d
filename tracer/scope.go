package tracer

import (
	"context"
	"sync"

	"github.com/pgxperf/pgxperf/internal/scope"
)

// A scope (package n1detect's, through internal/scope) receives every
// statement run with a context that carries it, with the program counters
// of its callers when it wants them.

// maxCallers bounds the stack captured for a scope: enough to get past pgx,
// pgxpool, pgxperf and sqlc-generated code to several application frames.
// The cost of the capture grows with it.
const maxCallers = 12

// scopeState is what a scoped statement carries from start to end: its scope
// and its callers. It comes from a pool, so a scoped statement allocates no
// more than an unscoped one.
type scopeState struct {
	scope scope.Scope
	owner *Tracer // the Tracer that started the statement
	n     int     // callers captured, 0 unless the scope wants them
	pcs   [maxCallers]uintptr
}

var scopeStates = sync.Pool{New: func() any { return new(scopeState) }}

// startScope looks the scope up once per statement of t and, when there is
// one, returns its state, with the callers captured when the scope wants
// them; done returns it to the pool.
func startScope(ctx context.Context, t *Tracer) *scopeState {
	sc := scope.From(ctx)
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
func (ss *scopeState) observe(ctx context.Context, t *Tracer, ev *Event) {
	var pcs []uintptr
	if ss.n > 0 {
		pcs = ss.pcs[:ss.n]
	}
	ss.scope.ObserveStatement(ctx, t.reg.sink, ev.stmt(), pcs)
}

// stmt is the statement as a scope sees it.
func (ev *Event) stmt() scope.Stmt {
	return scope.Stmt{Info: ev.info, SQL: ev.SQL, Args: ev.Args, Start: ev.Start, Duration: ev.Duration,
		PrepareTime: ev.PrepareTime, Rows: ev.Rows, Cached: ev.Cached, Batch: ev.Batch, BatchID: ev.BatchID}
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
