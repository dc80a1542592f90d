package pgxperf

import (
	"context"
	"errors"
	"sync"
	"unsafe"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// lease is a pool connection that pgxperf acquired for one call: the Rows,
// Row, BatchResults or Tx it returns holds it, and releases it when the
// application is done. Unlike a *pgxpool.Conn, a lease may be ended from
// another goroutine (Close does, for calls still in flight at its timeout):
// the application never touches the *pgxpool.Conn, only the lease, under
// its mutex.
type lease struct {
	p    *Pool
	c    *pgx.Conn // the connection, for the call's statements (never nil)
	mu   sync.Mutex
	conn *pgxpool.Conn // nil once released or taken back
}

// leaseShards spreads the registry of leases held over several locks: every
// call takes and drops one.
const leaseShards = 16

type leaseShard struct {
	mu sync.Mutex
	m  map[*lease]struct{}
	_  [40]byte // keep shards on separate cache lines
}

func (p *Pool) leaseShard(l *lease) *leaseShard {
	h := uintptr(unsafe.Pointer(l)) >> 4
	return &p.leases[(h*0x9E3779B97F4A7C15)>>(64-4)%leaseShards]
}

// take acquires a connection of pool (the primary's or a replica's), bounded
// by the caller's deadline and Config.AcquireTimeout, and leases it.
func (p *Pool) take(ctx context.Context, pool *pgxpool.Pool) (*lease, error) {
	c, err := p.acquireFrom(ctx, pool)
	if err != nil {
		return nil, err
	}
	l := &lease{p: p, c: c.Conn(), conn: c}
	sh := p.leaseShard(l)
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = make(map[*lease]struct{})
	}
	sh.m[l] = struct{}{}
	sh.mu.Unlock()
	return l, nil
}

// acquireFrom acquires a connection of pool, bounded by Config.AcquireTimeout:
// beyond it, ErrAcquireTimeout (the caller's own deadline or cancellation
// gives the context's error, as pgxpool does).
func (p *Pool) acquireFrom(ctx context.Context, pool *pgxpool.Pool) (*pgxpool.Conn, error) {
	if p.opts.AcquireTimeout <= 0 {
		return pool.Acquire(ctx)
	}
	actx, cancel := context.WithTimeout(ctx, p.opts.AcquireTimeout)
	defer cancel()
	c, err := pool.Acquire(actx)
	if err != nil && ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
		return nil, ErrAcquireTimeout
	}
	return c, err
}

// release returns the connection to its pool. It may be called many times,
// from any goroutine.
func (l *lease) release() {
	l.mu.Lock()
	c := l.conn
	l.conn = nil
	l.mu.Unlock()
	if c == nil {
		return
	}
	l.drop()
	c.Release()
}

func (l *lease) drop() {
	sh := l.p.leaseShard(l)
	sh.mu.Lock()
	delete(sh.m, l)
	sh.mu.Unlock()
}

// takeBack ends a lease the application still holds (Close, at its
// timeout): the connection leaves its pool (so that the pool's Close
// returns) and its socket is closed, which ends the server session. The
// application's later calls on the Rows, Tx or batch fail with a connection
// error; their Close and Release are no-ops. It reports whether the lease was
// still held.
func (l *lease) takeBack() bool {
	l.mu.Lock()
	c := l.conn
	l.conn = nil
	l.mu.Unlock()
	if c == nil {
		return false
	}
	l.drop()
	// Hijack takes it out of pgxpool's accounting without running its
	// destructor, which would use the connection concurrently with the
	// application's goroutine; closing the socket is safe from any goroutine.
	pc := c.Hijack().PgConn()
	if nc := pc.Conn(); nc != nil {
		_ = nc.Close()
	}
	return true
}

// held returns the leases still held, for Close.
func (p *Pool) held() []*lease {
	var out []*lease
	for i := range p.leases {
		sh := &p.leases[i]
		sh.mu.Lock()
		for l := range sh.m {
			out = append(out, l)
		}
		sh.mu.Unlock()
	}
	return out
}
