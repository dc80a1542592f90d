package pgxperf

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgxperf/pgxperf/internal/bridge"
	"github.com/pgxperf/pgxperf/internal/pgend"
)

// defaultCloseTimeout is how long Close waits for calls in flight when
// Config.CloseTimeout is zero.
const defaultCloseTimeout = 30 * time.Second

// closeState is what Close shares with the connections it closes.
type closeState struct {
	ctx context.Context // done at Close's deadline
}

// Close closes the pool gracefully and completely, within Config.CloseTimeout
// (30 s when zero). New calls fail at once with pgxpool's
// closed-pool error. Calls in flight get three quarters of the timeout to
// finish; then their queries are cancelled, and at seven eighths their
// connections are taken back and their sockets closed: the Rows, Tx or batch
// the application still holds then fail with a connection error, and their
// Close is a no-op. Close returns by the timeout and leaves no goroutine
// behind, with one exception it cannot take back without breaking the
// application's own code: a connection from Acquire or AcquireFunc that is
// never released keeps pgxpool's Close (in a goroutine of its own) waiting
// until it is; its socket is closed all the same.
//
// Every server session that closes while Close runs is ended the way the
// protocol asks (a Terminate message), and Close waits, within the timeout
// and at most pgend's half second a session (a server that does not answer
// does not hold Close longer), for the server to end it: when Close returns, those sessions are gone from
// pg_stat_activity (an application may DROP DATABASE right after). The
// sessions of calls taken back at the timeout end when the server sees their
// closed socket, a moment later. Calling Close again is a no-op.
func (p *Pool) Close() {
	p.closeOnce.Do(func() {
		timeout := p.opts.CloseTimeout
		if timeout <= 0 {
			timeout = defaultCloseTimeout
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		p.closing.Store(&closeState{ctx: ctx})
		// The cache last: writes still in flight invalidate through it.
		defer p.closeCache()
		done := make(chan struct{})
		go func() {
			var wg sync.WaitGroup
			if p.router != nil {
				wg.Go(p.router.Close) // the monitor's own connections
			}
			for _, pool := range append([]*pgxpool.Pool{p.primary}, p.replicas...) {
				wg.Go(pool.Close)
			}
			wg.Wait()
			close(done)
		}()
		if waitUntil(done, start.Add(timeout*3/4)) {
			return
		}
		busy := p.busyConns()
		if len(busy) > 0 {
			p.logger.Warn("pgxperf: Close timed out waiting for calls in flight; cancelling them",
				"timeout", timeout, "connections", len(busy))
		}
		cctx, ccancel := context.WithDeadline(ctx, start.Add(timeout*7/8))
		var wg sync.WaitGroup
		for _, c := range busy {
			pc := c.PgConn()
			wg.Go(func() { _ = pc.CancelRequest(cctx) })
		}
		wg.Wait()
		ccancel()
		if waitUntil(done, start.Add(timeout*7/8)) {
			return
		}
		taken := 0
		for _, l := range p.held() {
			if l.takeBack() {
				taken++
			}
		}
		// Connections from Acquire: the application owns the *pgxpool.Conn;
		// closing the socket ends the session, and its calls fail.
		for _, c := range p.busyConns() {
			if nc := c.PgConn().Conn(); nc != nil {
				_ = nc.Close()
			}
		}
		if !waitUntil(done, start.Add(timeout)) && len(p.busyConns()) > taken {
			p.logger.Warn("pgxperf: Close returns with connections from Acquire still held by the application; "+
				"pgxpool finishes closing when they are released", "timeout", timeout, "taken back", taken)
		}
	})
}

// closeHook runs before pgxpool closes a connection: while the Pool is
// closing, it ends the server session and waits for the server to end it,
// within Close's deadline and pgend.MaxWait (a server that does not answer,
// a network partition, must not hold Close for its whole timeout).
func (p *Pool) closeHook(c *pgx.Conn) {
	if st := p.closing.Load(); st != nil {
		ctx, cancel := context.WithTimeout(st.ctx, pgend.MaxWait)
		pgend.Terminate(ctx, c.PgConn())
		cancel()
	}
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

// waitUntil waits for done until t; it reports whether done was closed.
func waitUntil(done <-chan struct{}, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		return false
	}
}

func (p *Pool) busyConns() []*pgx.Conn {
	if p.tracer != nil {
		return bridge.TracerInUse(p.tracer)
	}
	p.busyMu.Lock()
	defer p.busyMu.Unlock()
	out := make([]*pgx.Conn, 0, len(p.busy))
	for k := range p.busy {
		c := k.Value()
		if c == nil {
			continue // collected; its cleanup is on its way
		}
		out = append(out, c)
	}
	return out
}
