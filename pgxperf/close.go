package pgxperf

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultCloseTimeout is how long Close waits for calls in flight when
// Options.CloseTimeout is zero.
const DefaultCloseTimeout = 30 * time.Second

// Close closes the pool gracefully and completely. New calls fail at once
// with pgxpool's closed-pool error; calls in flight finish, bounded by
// Options.CloseTimeout, after which their queries are cancelled and their
// connections closed. When Close returns, every server session the Pool opened
// is closed (an application may DROP DATABASE right after). Calling Close
// again is a no-op.
func (p *Pool) Close() {
	p.closeOnce.Do(func() {
		// The cache last: writes still in flight invalidate through it.
		defer p.closeCache()
		if p.router != nil {
			p.router.Close() // the monitor's own connections first
		}
		done := make(chan struct{})
		go func() {
			var wg sync.WaitGroup
			for _, pool := range append([]*pgxpool.Pool{p.primary}, p.replicas...) {
				wg.Go(pool.Close)
			}
			wg.Wait()
			close(done)
		}()
		timeout := p.opts.CloseTimeout
		if timeout <= 0 {
			timeout = DefaultCloseTimeout
		}
		if waitFor(done, timeout) {
			return
		}
		busy := p.busyConns()
		p.logger.Warn("pgxperf: Close timed out waiting for calls in flight; cancelling them",
			"timeout", timeout, "connections", len(busy))
		for _, c := range busy {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = c.PgConn().CancelRequest(ctx)
			cancel()
		}
		if waitFor(done, 2*time.Second) {
			return
		}
		// Close the sockets: the server ends those sessions. The application
		// still owns the *pgxpool.Conn values and sees errors when it uses them.
		for _, c := range p.busyConns() {
			if nc := c.PgConn().Conn(); nc != nil {
				_ = nc.Close()
			}
		}
		waitFor(done, 2*time.Second)
	})
}

// closeCache stops the query cache (retrying pending invalidations once)
// and closes the Redis client the Pool made.
func (p *Pool) closeCache() {
	if p.cache != nil {
		_ = p.cache.Close()
	}
	if p.redis != nil {
		_ = p.redis.Close()
	}
}

func waitFor(done <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

func (p *Pool) busyConns() []*pgx.Conn {
	if p.tracer != nil {
		return p.tracer.InUse()
	}
	p.busyMu.Lock()
	defer p.busyMu.Unlock()
	out := make([]*pgx.Conn, 0, len(p.busy))
	for c := range p.busy {
		out = append(out, c)
	}
	return out
}
