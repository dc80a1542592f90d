package querycache

import (
	"context"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pgxperf/pgxperf/internal/breaker"
)

// Retrying pending invalidations after Redis failed to take them.

// retryEvery is how often pending invalidations are retried: on a short
// fixed interval, not the breaker's backed-off cooldown, so that they land
// as soon as Redis answers again.
func (c *QueryCache) retryEvery() time.Duration { return c.invalRetry }

// retryTimeout bounds one retry of the pending invalidations: the lookup
// timeout (a Redis that cannot increment a few counters within it cannot
// serve lookups either), at least 100 ms and at most InvalidateTimeout.
func (c *QueryCache) retryTimeout() time.Duration {
	return min(max(c.timeout, 100*time.Millisecond), c.invalTimeout)
}

func (i *invalidator) retry() {
	defer i.c.bg.Done()
	t := time.NewTimer(0) // the first attempt at once
	defer t.Stop()
	for {
		select {
		case <-i.c.stop:
			i.pendingMu.Lock()
			i.retrying = false
			i.pendingMu.Unlock()
			return
		case <-t.C:
		case <-i.wake:
			t.Stop()
		}
		start := time.Now()
		ok := i.flushPending(context.Background())
		i.pendingMu.Lock()
		if ok && len(i.pending) == 0 && !i.pendingDDL {
			i.retrying = false
			i.pendingMu.Unlock()
			return
		}
		i.pendingMu.Unlock()
		// The next attempt one interval after this one started: a cut that
		// makes attempts time out does not stretch the interval further.
		t.Reset(max(i.c.retryEvery()-time.Since(start), time.Millisecond))
	}
}

// flushPending pushes the pending tags; it reports whether they all went
// through. It does not ask the breaker (the retry is the breaker's probe:
// success closes it), and for a standalone Redis it dials a connection of its
// own, so that neither the breaker's cooldown nor the client's pool, which
// may have stopped dialing for a second after repeated failures, delays the
// delivery once Redis answers.
func (i *invalidator) flushPending(ctx context.Context) bool {
	if !i.dirty.Load() {
		return true
	}
	c := i.c
	i.pendingMu.Lock()
	tags := make([]string, 0, len(i.pending))
	seen := make(map[string]uint64, len(i.pending))
	for t, n := range i.pending {
		tags = append(tags, t)
		seen[t] = n
	}
	ddl, keeps := i.pendingDDL, i.keeps
	i.pendingMu.Unlock()
	slices.Sort(tags)
	cctx, cancel := context.WithTimeout(ctx, c.retryTimeout())
	client, done := c.probeClient()
	_, err := bounded(c, cctx, func(ctx context.Context) (struct{}, error) {
		defer done()
		return struct{}{}, i.pipeline(ctx, client, tags, ddl)
	})
	cancel()
	if err != nil {
		c.stats.redisErrors.Add(1)
		now := breaker.Now()
		if i.lastReport == 0 || now-i.lastReport >= int64(time.Second) {
			// Reported once a second at most: the retry runs every few
			// milliseconds for as long as Redis is away.
			i.lastReport = now
			c.reportErr(ctx, "invalidate", err)
		}
		if breaker.RedisOutcome(err) == breaker.Fail {
			c.noteOutcome(breaker.Fail)
		}
		return false
	}
	c.breaker.Recovered()
	c.noteOutcome(breaker.OK)
	i.pendingMu.Lock()
	for _, t := range tags {
		// A write kept again while this push was out may have committed
		// after Redis took the push: it stays pending.
		if i.pending[t] == seen[t] {
			delete(i.pending, t)
		}
	}
	if i.keeps == keeps {
		i.pendingDDL = false
	}
	if len(i.pending) == 0 && !i.pendingDDL {
		i.dirty.Store(false)
		c.logger.Info("pgxperf querycache: pending invalidations delivered; the cache is back on")
	}
	i.pendingMu.Unlock()
	return true
}

// probeClient returns the client a retry uses and a function to call after
// it: for a standalone Redis a new client with the same options and one
// connection, which dials at once; otherwise the cache's own client.
func (c *QueryCache) probeClient() (redis.UniversalClient, func()) {
	rc, ok := c.client.(*redis.Client)
	if !ok {
		return c.client, func() {}
	}
	opt := *rc.Options()
	opt.PoolSize, opt.MinIdleConns, opt.MaxIdleConns, opt.MaxActiveConns = 1, 0, 0, 0
	opt.MaxRetries, opt.DialerRetries = -1, 1
	opt.ContextTimeoutEnabled = true
	p := redis.NewClient(&opt)
	return p, func() { _ = p.Close() }
}
